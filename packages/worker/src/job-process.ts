import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, closeSync, constants as fsConstants, openSync, unlinkSync } from "node:fs";
import { unlink } from "node:fs/promises";
import { constants } from "node:os";
import { dirname, join } from "node:path";
import type { Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { SPAWN_FRAME_HEADER, spawnFrame, waitStatus } from "@hodei/core";
import type { Logger } from "./logger.js";
import { orphanGuard } from "./orphan-guard.js";
import { killGroup } from "./process-group.js";

/** What to start, as `spawn(file, args, {cwd, env, detached: true})` with stdin from a file. */
export interface JobProcessSpec {
  file: string;
  args: string[];
  cwd: string | undefined;
  env: Record<string, string>;
  /** The job's stdin; none: /dev/null. */
  stdinPath: string | undefined;
  /** Remove `stdinPath` once the job has it open (secrets delivered on stdin). */
  removeStdin: boolean;
}

export type JobProcessEnd =
  { code: number | null; signal: NodeJS.Signals | null } | { error: NodeJS.ErrnoException };

export interface JobProcessEvents {
  /** The main process runs as `pid` (for the helper, a moment after `start` returns). */
  started(pid: number): void;
  output(chunk: Buffer, isStderr: boolean): void;
  outputEnd(isStderr: boolean): void;
  /** The main process has ended (its group or its output may live on). */
  exit(): void;
  /** The main process has ended and its output is read to the end; or it never started. */
  close(end: JobProcessEnd): void;
}

/** A started job's processes, whichever way they were started. */
export interface JobProcess {
  /** The main process, also its process group's id; undefined until known (or when it never started). */
  readonly pid: number | undefined;
  pauseOutput(): void;
  resumeOutput(): void;
  /** Stops reading the output (a process that left the group holds it open); `outputEnd` follows. */
  closeOutput(): void;
}

/** Starts a job's process in its own process group (session), so the whole tree can be signalled. */
export interface JobSpawner {
  start(spec: JobProcessSpec, events: JobProcessEvents): JobProcess;
  /** Gets ready to start jobs, so that the first job does not wait for it; optional and idempotent. */
  prepare(): void;
  /** Dismisses the spawner without ending any job (the worker's own orderly stop). */
  close(): void;
}

const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/** An error like the one Node's own `spawn` gives (`code` "ENOENT", "EACCES"…). */
export function spawnError(file: string, errno: number): NodeJS.ErrnoException {
  const code = errnoNames.get(errno) ?? `E${errno}`;
  const err: NodeJS.ErrnoException = new Error(`spawn ${file} ${code}`);
  err.code = code;
  err.errno = -errno;
  err.syscall = `spawn ${file}`;
  err.path = file;
  return err;
}

/** Node's `child_process.spawn`: a fork of the whole worker per job. */
export class NodeSpawner implements JobSpawner {
  constructor(
    private readonly graceMs: number,
    private readonly logger: Logger,
    private readonly shell?: string,
  ) {}

  prepare(): void {}

  start(spec: JobProcessSpec, events: JobProcessEvents): JobProcess {
    let stdin: number | "ignore" = "ignore";
    let child: ChildProcess;
    try {
      if (spec.stdinPath !== undefined) {
        stdin = openSync(spec.stdinPath, "r");
        if (spec.removeStdin) unlinkSync(spec.stdinPath);
      }
      child = spawn(spec.file, spec.args, {
        cwd: spec.cwd,
        env: spec.env,
        detached: true,
        stdio: [stdin, "pipe", "pipe"],
      });
    } catch (err) {
      queueMicrotask(() => events.close({ error: err as NodeJS.ErrnoException }));
      return { pid: undefined, pauseOutput() {}, resumeOutput() {}, closeOutput() {} };
    } finally {
      if (typeof stdin === "number") closeSync(stdin);
    }
    const pid = child.pid;
    const guard =
      pid !== undefined ? orphanGuard(this.graceMs, this.logger, this.shell).watch(pid) : undefined;
    if (pid !== undefined) queueMicrotask(() => events.started(pid));
    let error: NodeJS.ErrnoException | undefined;
    child.on("error", (err: NodeJS.ErrnoException) => {
      if (child.pid === undefined) error ??= err;
      else this.logger.warn({ err }, "job process error");
    });
    for (const [stream, isStderr] of [
      [child.stdout!, false],
      [child.stderr!, true],
    ] as const) {
      stream.on("data", (chunk: Buffer) => events.output(chunk, isStderr));
      stream.on("end", () => events.outputEnd(isStderr));
      stream.on("error", (err) => this.logger.warn({ err }, "job output error"));
    }
    child.on("exit", () => events.exit());
    child.on("close", (code: number | null, signal: NodeJS.Signals | null) => {
      guard?.release();
      events.close(error ? { error } : { code, signal });
    });
    return {
      pid: child.pid,
      pauseOutput: () => {
        child.stdout?.pause();
        child.stderr?.pause();
      },
      resumeOutput: () => {
        child.stdout?.resume();
        child.stderr?.resume();
      },
      closeOutput: () => {
        child.stdout?.destroy();
        child.stderr?.destroy();
      },
    };
  }

  close(): void {
    orphanGuard(this.graceMs, this.logger, this.shell).close();
  }
}

const HEADER = SPAWN_FRAME_HEADER; // u32 length, u8 kind, u32 job id

/** Once the helper has opened a job's stdin, or given up: secrets on stdin leave the file system. */
function removeStdin(spec: JobProcessSpec): void {
  if (spec.removeStdin && spec.stdinPath) void unlink(spec.stdinPath).catch(() => {});
}

class HelperJob implements JobProcess {
  pid: number | undefined;
  exited = false;
  readonly open = [true, true];
  status: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  constructor(
    readonly id: number,
    private readonly helper: HelperSpawner,
    readonly spec: JobProcessSpec,
    readonly events: JobProcessEvents,
  ) {}

  pauseOutput(): void {
    this.helper.control("P", this);
  }

  resumeOutput(): void {
    this.helper.control("R", this);
  }

  closeOutput(): void {
    this.helper.control("C", this);
  }
}

/**
 * Starts jobs through `hodei-spawn` (packages/worker/native), one small process per worker that
 * starts each job with posix_spawn and relays its output over one pipe. Node's own spawn forks the
 * whole worker for every job: measured here, `bash -c true` cost 4.6 ms of the worker's CPU and
 * about 7 ms in the child that way, against 0.2 ms and 4 ms through posix_spawn.
 * The helper also ends the jobs' groups when the worker dies (its stdin closes), as the orphan guard
 * does for Node's spawn.
 */
export class HelperSpawner implements JobSpawner {
  private proc: ChildProcess | null = null;
  private readonly jobs = new Map<number, HelperJob>();
  private nextId = 1;
  private pending: Buffer | null = null;
  // An output frame split across reads: its job, stream and bytes still to come.
  private restJob: HelperJob | undefined;
  private restStderr = false;
  private rest = 0;
  /** Set once the helper could not be run: jobs then go through Node's spawn. */
  private fallback: NodeSpawner | undefined;

  constructor(
    readonly path: string,
    private readonly graceMs: number,
    private readonly logger: Logger,
    private readonly shell?: string,
  ) {}

  start(spec: JobProcessSpec, events: JobProcessEvents): JobProcess {
    if (this.fallback) return this.fallback.start(spec, events);
    const job = new HelperJob(this.nextId++, this, spec, events);
    const env = Object.entries(spec.env).map(([name, value]) => `${name}=${value}`);
    const fields = [spec.file, spec.cwd ?? "", spec.stdinPath ?? "", String(spec.args.length + 1)];
    const strings = [...fields, spec.file, ...spec.args, ...env];
    if (strings.some((s) => s.includes("\0"))) {
      const err: NodeJS.ErrnoException = new TypeError(
        "arguments and environment must be strings without null bytes",
      );
      err.code = "ERR_INVALID_ARG_VALUE";
      queueMicrotask(() => events.close({ error: err }));
      return job;
    }
    this.jobs.set(job.id, job);
    this.send("S", job.id, strings.join("\0") + "\0");
    this.holdLoop();
    return job;
  }

  /**
   * Starts the helper now, not with the first job: a fresh worker does it while the control plane
   * looks for its job (worker-agent.ts), which takes the helper's start off a cold start's path.
   */
  prepare(): void {
    if (!this.fallback) this.running();
  }

  /** Pause, resume or close the output of a job the helper has. */
  control(kind: "P" | "R" | "C", job: HelperJob): void {
    if (this.proc && this.jobs.get(job.id) === job) this.send(kind, job.id);
  }

  /** Writes one frame to the helper, starting it first if need be. */
  private send(kind: string, id: number, body = ""): void {
    this.running().stdin!.write(spawnFrame(kind, id, body));
  }

  close(): void {
    // Closing its stdin would end the jobs: a SIGKILL leaves them be (orderly stop: none are running).
    this.proc?.kill("SIGKILL");
    this.proc = null;
    this.fallback?.close();
  }

  private running(): ChildProcess {
    if (this.proc) return this.proc;
    const proc = spawn(this.path, [String(this.graceMs)], {
      stdio: ["pipe", "pipe", "inherit"],
      detached: true, // its own group: a signal to the worker's group must not take it along
      env: {},
    });
    this.proc = proc;
    proc.stdin!.on("error", () => {});
    proc.stdout!.on("data", (chunk: Buffer) => this.read(chunk));
    proc.on("error", (err) => {
      if (proc.pid !== undefined) return;
      this.logger.warn(
        { err, path: this.path },
        "cannot run the job spawner; jobs start through Node's spawn",
      );
      this.fallback = new NodeSpawner(this.graceMs, this.logger, this.shell);
    });
    proc.on("close", (code, signal) => this.helperGone(proc, code, signal));
    // Only a running job keeps the worker's event loop alive (as a child of Node's spawn would).
    proc.unref();
    (proc.stdin as Socket).unref();
    this.holdLoop();
    return proc;
  }

  private holdLoop(): void {
    const out = this.proc?.stdout as Socket | undefined;
    if (this.jobs.size > 0) out?.ref();
    else out?.unref();
  }

  private forget(job: HelperJob): void {
    this.jobs.delete(job.id);
    this.holdLoop();
  }

  /** Every job it had is over: those still running are killed, those not started failed. */
  private helperGone(proc: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.proc === proc) this.proc = null;
    if (this.jobs.size === 0) return;
    if (!this.fallback)
      this.logger.error({ code, signal, jobs: this.jobs.size }, "the job spawner ended with jobs on it");
    const jobs = [...this.jobs.values()];
    this.jobs.clear();
    for (const job of jobs) {
      if (job.pid === undefined) {
        // Never started: through Node's spawn when the helper could not run, else it failed.
        if (this.fallback) this.fallback.start(job.spec, job.events);
        else job.events.close({ error: new Error("the job spawner ended before starting it") });
        continue;
      }
      killGroup(job.pid, this.graceMs);
      if (!job.exited) job.events.exit();
      for (const isStderr of [false, true]) if (job.open[Number(isStderr)]) job.events.outputEnd(isStderr);
      job.events.close(job.status ?? { code: null, signal: "SIGKILL" });
    }
  }

  private read(chunk: Buffer): void {
    let buf = chunk;
    let off = 0;
    if (this.rest > 0) {
      const n = Math.min(this.rest, buf.length);
      this.rest -= n;
      this.restJob?.events.output(buf.subarray(0, n), this.restStderr);
      off = n;
    }
    if (this.pending) {
      buf = Buffer.concat([this.pending, buf.subarray(off)]);
      off = 0;
      this.pending = null;
    }
    while (buf.length - off >= HEADER) {
      const len = buf.readUInt32LE(off);
      const kind = buf[off + 4]!;
      const job = this.jobs.get(buf.readUInt32LE(off + 5));
      if (kind === 0x4f /* O */) {
        if (buf.length - off < HEADER + 1) break;
        const isStderr = buf[off + HEADER] === 2;
        const start = off + HEADER + 1;
        const end = off + 4 + len;
        if (end > buf.length) {
          // Hand over what has come; the rest of the frame follows in the next reads.
          if (buf.length > start) job?.events.output(buf.subarray(start), isStderr);
          this.restJob = job;
          this.restStderr = isStderr;
          this.rest = end - buf.length;
          return;
        }
        if (end > start) job?.events.output(buf.subarray(start, end), isStderr);
        off = end;
        continue;
      }
      if (buf.length - off < 4 + len) break;
      if (job) this.handle(job, kind, buf.subarray(off + HEADER, off + 4 + len));
      off += 4 + len;
    }
    if (off < buf.length) this.pending = Buffer.from(buf.subarray(off));
  }

  private handle(job: HelperJob, kind: number, body: Buffer): void {
    switch (String.fromCharCode(kind)) {
      case "T":
        job.pid = body.readUInt32LE(0);
        removeStdin(job.spec);
        job.events.started(job.pid);
        break;
      case "F":
        this.forget(job);
        removeStdin(job.spec);
        job.events.close({ error: spawnError(job.spec.file, body.readInt32LE(0)) });
        break;
      case "E": {
        const isStderr = body[0] === 2;
        job.open[Number(isStderr)] = false;
        job.events.outputEnd(isStderr);
        this.closeIfDone(job);
        break;
      }
      case "X": {
        job.status = waitStatus(body.readInt32LE(0));
        job.exited = true;
        job.events.exit();
        this.closeIfDone(job);
        break;
      }
    }
  }

  private closeIfDone(job: HelperJob): void {
    if (!job.exited || job.open[0] || job.open[1]) return;
    this.forget(job);
    job.events.close(job.status!);
  }
}

/** The helper next to the worker's bundle (dist/hodei-spawn), if it was built. */
export function defaultSpawnHelper(): string | undefined {
  const script = process.argv[1];
  const candidates = script ? [join(dirname(script), "hodei-spawn")] : [];
  // The module tree (dist/src/*.js) has it one level up; esbuild's CommonJS bundle has no import.meta.
  const url = import.meta.url as string | undefined;
  const here = typeof __dirname === "string" ? __dirname : url ? dirname(fileURLToPath(url)) : undefined;
  if (here) candidates.push(join(here, "hodei-spawn"), join(here, "..", "hodei-spawn"));
  return candidates.find((path) => {
    try {
      accessSync(path, fsConstants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** `helper`: its path, or undefined for Node's own spawn. */
export function jobSpawner(
  helper: string | undefined,
  graceMs: number,
  logger: Logger,
  shell?: string,
): JobSpawner {
  return helper ? new HelperSpawner(helper, graceMs, logger, shell) : new NodeSpawner(graceMs, logger, shell);
}
