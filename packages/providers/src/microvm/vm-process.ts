// One running QEMU: its console goes to a log file and is watched for the guest's markers.
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { MARK_WORKER_EXITED, MARK_WORKER_STARTING } from "./guest-init.js";

export interface VmExit {
  /** QEMU's own exit code and signal. */
  code: number | null;
  signal: string | null;
  /** The worker agent's exit code as the guest reported it before powering off. */
  workerCode?: number;
  /** Last console and QEMU error lines, for a reason when the worker did not report. */
  tail: string[];
}

const TAIL_LINES = 20;

export class VmProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<VmExit>;
  private agentStarted = false;
  private workerCode: number | undefined;
  private readonly tail: string[] = [];
  private readonly lineWatchers: ((line: string) => void)[] = [];

  constructor(qemuPath: string, args: string[], consoleLogPath?: string) {
    const log: WriteStream | undefined = consoleLogPath
      ? createWriteStream(consoleLogPath, { flags: "a" })
      : undefined;
    log?.on("error", () => {}); // a full disk loses the console copy, never the VM
    // QEMU gets no part of the control plane's environment (database URL, secrets): it needs none.
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", LANG: "C.UTF-8" };
    this.child = spawn(qemuPath, args, { stdio: ["ignore", "pipe", "pipe"], env });
    const onText = (stream: NodeJS.ReadableStream) => {
      let partial = "";
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => {
        log?.write(chunk);
        const lines = (partial + chunk).split("\n");
        partial = lines.pop() ?? "";
        for (const raw of lines) this.onLine(raw.replace(/\r$/, ""));
      });
    };
    onText(this.child.stdout!);
    onText(this.child.stderr!);
    this.exited = new Promise((resolve) => {
      const done = (code: number | null, signal: string | null) => {
        log?.end();
        resolve({ code, signal, workerCode: this.workerCode, tail: [...this.tail] });
      };
      this.child.once("error", (err) => {
        this.tail.push(`cannot start ${qemuPath}: ${err.message}`);
        done(null, null);
      });
      this.child.once("close", (code, signal) => done(code, signal));
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** True once the guest has started the worker agent. */
  get started(): boolean {
    return this.agentStarted;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null && this.child.pid !== undefined;
  }

  /** Resolves with the first console line `match` accepts; rejects if QEMU exits first. */
  waitForLine(match: (line: string) => boolean): Promise<string> {
    return new Promise((resolve, reject) => {
      const watcher = (line: string) => {
        if (match(line)) resolve(line);
      };
      this.lineWatchers.push(watcher);
      void this.exited.then((exit) =>
        reject(new Error(`QEMU exited (${exit.code ?? exit.signal}): ${exit.tail.slice(-3).join(" | ")}`)),
      );
    });
  }

  kill(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }

  private onLine(line: string): void {
    if (line.trim() === "") return;
    this.tail.push(line);
    if (this.tail.length > TAIL_LINES) this.tail.shift();
    if (line.includes(MARK_WORKER_STARTING)) this.agentStarted = true;
    const m = MARK_WORKER_EXITED.exec(line);
    if (m?.[1]) this.workerCode = Number(m[1]);
    for (const w of this.lineWatchers) w(line);
  }
}
