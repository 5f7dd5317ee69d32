// Starting worker agents without forking the control plane. Node's spawn forks the calling process,
// copying its page tables: from a control plane of 300-600 MB (the embedded database is in it) that
// blocks its event loop for 20-35 ms per worker started, measured here. `hodei-spawn` (the worker's
// job starter, packages/worker/native) starts processes with posix_spawn instead (a vfork: nothing
// copied), and its 'W' frames start a process that is not a job: it stays in the starter's process
// group, writes to the starter's stderr or to /dev/null, and outlives the starter.
import { spawn, type ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { SPAWN_FRAME_HEADER, spawnFrame, waitStatus } from "@hodei/core";
import type { Socket } from "node:net";

/** What the local provider uses of a started process (a ChildProcess is one). */
export interface LaunchedProcess {
  readonly pid?: number | undefined;
  readonly exitCode: number | null;
  kill(signal?: NodeJS.Signals): boolean;
  once(event: "exit", listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  once(event: "error", listener: (err: Error) => void): this;
  once(event: "spawn", listener: () => void): this;
  off(event: "error", listener: (err: Error) => void): this;
  off(event: "spawn", listener: () => void): this;
}

/** Resolves once the process runs; rejects with the error if it could not be started. */
export function whenStarted(p: LaunchedProcess): Promise<void> {
  if (p.pid !== undefined) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const started = (): void => {
      p.off("error", failed);
      resolve();
    };
    const failed = (err: Error): void => {
      p.off("spawn", started);
      reject(err);
    };
    p.once("spawn", started);
    p.once("error", failed);
  });
}

export interface LaunchSpec {
  file: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  /** Its stdout and stderr: ours, or nowhere. */
  output: "inherit" | "ignore";
}

export interface ProcessLauncher {
  start(spec: LaunchSpec): LaunchedProcess;
  /** Gets ready to start processes, if there is anything to get ready (a helper to start). */
  prepare?(): void;
  close(): void;
}

/** Node's own spawn. */
export class NodeLauncher implements ProcessLauncher {
  start(spec: LaunchSpec): LaunchedProcess {
    return spawn(spec.file, spec.args, { env: spec.env, stdio: ["ignore", spec.output, spec.output] });
  }

  close(): void {}
}

/** A process started through the helper: events as a ChildProcess gives them. */
class HelperProcess extends EventEmitter implements LaunchedProcess {
  pid: number | undefined;
  exitCode: number | null = null;
  ended = false;
  /** Set when the process went through Node's spawn after all (the helper could not run). */
  standIn: ChildProcess | undefined;

  constructor(
    readonly id: number,
    readonly spec: LaunchSpec,
  ) {
    super();
  }

  kill(signal: NodeJS.Signals = "SIGTERM"): boolean {
    if (this.standIn) return this.standIn.kill(signal);
    if (this.pid === undefined || this.ended) return false;
    try {
      process.kill(this.pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * The process ended (with neither code nor signal: lost from sight). Told in a later turn of the
   * event loop, as a child's exit is: its start and end may come in one read, and whoever awaited
   * the start must have had the time to listen for the end.
   */
  end(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.ended) return;
    this.ended = true;
    setImmediate(() => {
      this.exitCode = code;
      this.emit("exit", code, signal);
    });
  }
}

/**
 * Starts processes through one `hodei-spawn` (`path`), started on first use (or `prepare()`) in our
 * process group.
 * If it cannot be run, that process and every later one go through Node's spawn instead. If it
 * dies, the processes it started live on (they are not its jobs): each is watched until it is gone.
 */
export class HelperLauncher implements ProcessLauncher {
  private proc: ChildProcess | null = null;
  private readonly live = new Map<number, HelperProcess>();
  private nextId = 1;
  private pending: Buffer = Buffer.alloc(0);
  private fallback: NodeLauncher | undefined;
  private readonly watchers = new Set<NodeJS.Timeout>();

  constructor(
    readonly path: string,
    private readonly onFallback: (err: Error) => void = () => {},
  ) {}

  /**
   * Starts the helper now rather than with the first process: that first start (Node forking this
   * process, about 35 ms of its CPU here) then does not hold up the first worker's cold start.
   */
  prepare(): void {
    if (!this.fallback) this.running();
  }

  start(spec: LaunchSpec): LaunchedProcess {
    if (this.fallback) return this.fallback.start(spec);
    const p = new HelperProcess(this.nextId++, spec);
    const env = Object.entries(spec.env)
      .filter((e): e is [string, string] => e[1] !== undefined)
      .map(([name, value]) => `${name}=${value}`);
    const strings = [
      spec.file,
      "",
      spec.output === "inherit" ? "inherit" : "",
      String(spec.args.length + 1),
      spec.file,
      ...spec.args,
      ...env,
    ];
    if (strings.some((s) => s.includes("\0"))) {
      queueMicrotask(() =>
        p.emit("error", new TypeError("arguments and environment must not hold null bytes")),
      );
      return p;
    }
    this.live.set(p.id, p);
    this.send("W", p.id, strings.join("\0") + "\0");
    this.holdLoop();
    return p;
  }

  close(): void {
    // Our processes outlive the helper; closing its stdin ends it.
    this.proc?.stdin?.end();
    this.proc = null;
    for (const t of this.watchers) clearInterval(t);
    this.watchers.clear();
  }

  private send(kind: string, id: number, body: string): void {
    this.running().stdin!.write(spawnFrame(kind, id, body));
  }

  private running(): ChildProcess {
    if (this.proc) return this.proc;
    const proc = spawn(this.path, [], { stdio: ["pipe", "pipe", "inherit"], env: {} });
    this.proc = proc;
    proc.stdin!.on("error", () => {});
    proc.stdout!.on("data", (chunk: Buffer) => this.read(chunk));
    proc.on("error", (err) => {
      if (proc.pid !== undefined) return;
      this.fallback = new NodeLauncher();
      this.onFallback(err);
    });
    proc.on("close", () => this.helperGone(proc));
    // The helper never keeps us alive on its own; a process of ours does (holdLoop).
    proc.unref();
    (proc.stdin as Socket).unref();
    return proc;
  }

  /** While a process of ours runs, the helper's pipe keeps the event loop alive (as a child does). */
  private holdLoop(): void {
    const out = this.proc?.stdout as Socket | undefined;
    if (this.live.size > 0) out?.ref();
    else out?.unref();
  }

  private read(chunk: Buffer): void {
    let buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    let off = 0;
    while (buf.length - off >= 4 && buf.length - off >= 4 + buf.readUInt32LE(off)) {
      const len = buf.readUInt32LE(off);
      const kind = buf[off + 4];
      const p = this.live.get(buf.readUInt32LE(off + 5));
      const value = len >= 9 ? buf.readInt32LE(off + SPAWN_FRAME_HEADER) : 0;
      off += 4 + len;
      if (!p) continue;
      if (kind === 0x54 /* T */) {
        p.pid = value;
        p.emit("spawn");
      } else if (kind === 0x46 /* F */) {
        this.live.delete(p.id);
        const err: NodeJS.ErrnoException = new Error(`cannot start ${p.spec.file}: errno ${value}`);
        err.errno = value;
        p.emit("error", err);
      } else if (kind === 0x58 /* X */) {
        this.live.delete(p.id);
        const { code, signal } = waitStatus(value);
        p.end(code, signal);
      }
    }
    buf = buf.subarray(off);
    this.pending = buf.length ? Buffer.from(buf) : Buffer.alloc(0);
    this.holdLoop();
  }

  /** Not started yet: through Node's spawn; running: watched until gone (they are not our children). */
  private helperGone(proc: ChildProcess): void {
    if (this.proc === proc) this.proc = null;
    this.pending = Buffer.alloc(0);
    const left = [...this.live.values()];
    this.live.clear();
    for (const p of left) {
      if (p.pid !== undefined) {
        this.watch(p);
        continue;
      }
      const child = (this.fallback ?? new NodeLauncher()).start(p.spec) as ChildProcess;
      p.standIn = child;
      child.once("spawn", () => {
        p.pid = child.pid;
      });
      child.once("exit", (code, signal) => p.end(code, signal));
      child.once("error", (err) => p.emit("error", err));
    }
  }

  private watch(p: HelperProcess): void {
    const timer = setInterval(() => {
      try {
        process.kill(p.pid!, 0);
      } catch {
        clearInterval(timer);
        this.watchers.delete(timer);
        p.end(null, null);
      }
    }, 500);
    timer.unref();
    this.watchers.add(timer);
  }
}
