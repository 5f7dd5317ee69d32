import { spawn, type ChildProcess } from "node:child_process";
import { open, stat, unlink } from "node:fs/promises";
import { JobStatus } from "@hodei/api";
import {
  planCommand,
  prepareCommand,
  type CommandPlan,
  type CommandSpec,
  type PreparedCommand,
} from "./command-plan.js";
import type { EncodedMessage } from "./encoded-message.js";
import { LineSplitter, MAX_LINE_BYTES } from "./line-splitter.js";
import { LogBatcher } from "./log-batcher.js";
import type { Logger } from "./logger.js";
import { orphanGuard } from "./orphan-guard.js";
import { KILL_GRACE_MS, groupExists, killGroup, liveGroupMembers, signalExitCode } from "./process-group.js";
import { deliverSecrets, planSecretDelivery, type DeliveredSecrets } from "./secret-delivery.js";
import { keepSecretsTogether, secretRedactor, type CutGuard } from "./secret-redaction.js";

/** One attempt at running a job, as the worker needs it. */
export interface JobRequest extends CommandSpec {
  jobId: string;
  executionId: string;
  environment: Record<string, string>;
  secrets: Record<string, string>;
  workingDir: string;
  stdin: string;
  /** 0 = no limit. */
  timeoutMs: number;
  /** SIGTERM → SIGKILL grace after a cancel or timeout; 0 or absent: the worker's default. */
  cleanupTimeoutMs?: number;
  /** The control plane takes lines as LogEntry fields numbered from here + 1 (see LogBatcher). */
  logSequenceBase?: number;
}

export interface JobOutcome {
  jobId: string;
  executionId: string;
  exitCode: number;
  status: JobStatus;
  errorMessage: string;
  startedAtMs: number;
  finishedAtMs: number;
  lastSequence: number;
}

export interface JobExecutionOptions {
  batchSize: number;
  flushIntervalMs: number;
  /**
   * Takes a batch of log lines, encoded as a `WorkerMessage{log_batch}`; returns false to ask for
   * output to be paused until `resumeOutput()`.
   */
  emitLogs: (message: EncodedMessage, lineCount: number) => boolean;
  /** The environment the job's own `environment` is laid over (worker secrets removed). */
  baseEnv: NodeJS.ProcessEnv;
  logger: Logger;
  killGraceMs?: number;
  /** Replaces /bin/bash (HODEI_SHELL). */
  shell?: string;
}

const MAX_TIMER_MS = 2_147_483_647;

/**
 * Runs one job under `/bin/bash -c` (or a script with its interpreter) in its own process group,
 * streaming its output line by line, and settles `finished` with the outcome once the process has
 * exited and its output has been read to the end.
 */
export class JobExecution {
  private child: ChildProcess | undefined;
  private readonly batcher: LogBatcher;
  private readonly redact: (text: string) => string;
  private readonly guardCut: CutGuard | undefined;
  private startedAtMs = 0;
  private cancelReason: string | undefined;
  private timedOut = false;
  private exited = false;
  private paused = false;
  private forceFlow = false;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    readonly request: JobRequest,
    private readonly opts: JobExecutionOptions,
  ) {
    const redact = secretRedactor(request.secrets);
    this.redact = redact ?? ((text) => text);
    this.guardCut = keepSecretsTogether(request.secrets);
    this.batcher = new LogBatcher({
      jobId: request.jobId,
      executionId: request.executionId,
      batchSize: opts.batchSize,
      flushIntervalMs: opts.flushIntervalMs,
      redact,
      ...(request.logSequenceBase !== undefined ? { sequenceBase: request.logSequenceBase } : {}),
      emit: (message, lineCount) => {
        if (!opts.emitLogs(message, lineCount) && !this.forceFlow) this.pauseOutput();
      },
    });
  }

  /** Starts the job; the promise settles (never rejects) once it has ended and its output is read. */
  start(): Promise<JobOutcome> {
    return this.run().catch((err: unknown) => {
      const message = this.redact(err instanceof Error ? err.message : String(err));
      this.opts.logger.error({ error: message, jobId: this.jobId }, "job execution failed");
      return this.failToStart(1, `internal error: ${message}`);
    });
  }

  private get grace(): number {
    return this.request.cleanupTimeoutMs || (this.opts.killGraceMs ?? KILL_GRACE_MS);
  }

  get jobId(): string {
    return this.request.jobId;
  }

  /** Kills the job's process group (SIGTERM, SIGKILL after the grace); it ends CANCELLED with `reason`. */
  cancel(reason: string): void {
    if (this.exited || this.cancelReason !== undefined || this.timedOut) return;
    this.cancelReason = reason;
    this.logLine(`Job cancelled: ${reason}`, true);
    this.kill();
  }

  /** Cancels and stops honouring backpressure, so the outcome comes as fast as the processes die. */
  abort(reason: string): void {
    this.forceFlow = true;
    this.resumeOutput();
    this.cancel(reason);
  }

  pauseOutput(): void {
    if (this.paused || !this.child) return;
    this.paused = true;
    this.child.stdout?.pause();
    this.child.stderr?.pause();
  }

  resumeOutput(): void {
    if (!this.paused || !this.child) return;
    this.paused = false;
    this.child.stdout?.resume();
    this.child.stderr?.resume();
  }

  private logLine(text: string, isStderr: boolean): void {
    this.batcher.addText(text, isStderr);
  }

  private kill(): void {
    const pid = this.child?.pid;
    if (pid !== undefined) killGroup(pid, this.grace);
  }

  private async run(): Promise<JobOutcome> {
    this.startedAtMs = Date.now();
    const req = this.request;
    const plan = planCommand(req, this.opts.shell);
    for (const h of plan.header) this.logLine(h, false);
    if (req.workingDir !== "") {
      const problem = await stat(req.workingDir).then(
        (s) => (s.isDirectory() ? undefined : "is not a directory"),
        (err: NodeJS.ErrnoException) => (err.code === "ENOENT" ? "does not exist" : err.message),
      );
      if (problem)
        return this.failToStart(
          problem === "does not exist" ? 127 : 126,
          `working directory ${req.workingDir} ${problem}`,
        );
    }
    const delivery = planSecretDelivery(req.secrets, req.environment, req.stdin !== "");
    if ("problem" in delivery) return this.failToStart(126, delivery.problem);
    let secrets: DeliveredSecrets;
    try {
      secrets = await deliverSecrets(delivery.mode, req.secrets);
    } catch (err) {
      return this.failToStart(126, `cannot write the secret files: ${(err as Error).message}`);
    }
    const dirGuard = secrets.dir
      ? orphanGuard(this.grace, this.opts.logger, this.opts.shell).watchDir(secrets.dir)
      : undefined;
    try {
      return await this.runPrepared(plan, secrets);
    } finally {
      await secrets
        .cleanup()
        .then(() => dirGuard?.release())
        .catch((err: unknown) => this.opts.logger.warn({ err }, "could not remove the job's secret files"));
    }
  }

  private async runPrepared(plan: CommandPlan, secrets: DeliveredSecrets): Promise<JobOutcome> {
    let prepared: PreparedCommand;
    try {
      prepared = await prepareCommand(plan, secrets.stdin ?? this.request.stdin);
    } catch (err) {
      return this.failToStart(126, `cannot write the script file: ${(err as Error).message}`);
    }
    try {
      if (this.cancelReason !== undefined) return this.outcome(JobStatus.CANCELLED, 143, this.cancelReason);
      const stdin = prepared.stdinPath ? await open(prepared.stdinPath, "r") : undefined;
      try {
        // Secrets on stdin leave the file system as soon as the job's stdin is open.
        if (stdin && secrets.stdin !== undefined) await unlink(prepared.stdinPath!);
        return await this.spawnAndWait(prepared, stdin?.fd ?? "ignore", secrets.env);
      } finally {
        await stdin?.close();
      }
    } finally {
      for (const t of this.timers) clearTimeout(t);
      await prepared
        .cleanup()
        .catch((err: unknown) => this.opts.logger.warn({ err }, "could not remove job script"));
    }
  }

  private spawnAndWait(
    prepared: PreparedCommand,
    stdin: number | "ignore",
    secretEnv: Record<string, string | undefined>,
  ): Promise<JobOutcome> {
    const req = this.request;
    const env: NodeJS.ProcessEnv = { ...this.opts.baseEnv, ...req.environment, ...secretEnv };
    for (const [name, value] of Object.entries(env)) if (value === undefined) delete env[name];
    env.HODEI_JOB_ID = req.jobId;
    env.HODEI_EXECUTION_ID = req.executionId;
    return new Promise((resolve) => {
      const child = spawn(prepared.file, prepared.args, {
        cwd: req.workingDir || undefined,
        env,
        detached: true, // its own process group, so the whole tree can be signalled
        stdio: [stdin, "pipe", "pipe"],
      });
      this.child = child;
      const guard =
        child.pid !== undefined
          ? orphanGuard(this.grace, this.opts.logger, this.opts.shell).watch(child.pid)
          : undefined;
      let spawnError: NodeJS.ErrnoException | undefined;
      child.on("error", (err: NodeJS.ErrnoException) => {
        if (child.pid === undefined) spawnError ??= err;
        else this.opts.logger.warn({ err, jobId: req.jobId }, "job process error");
      });
      this.pipe(child.stdout!, false);
      this.pipe(child.stderr!, true);
      if (req.timeoutMs > 0 && req.timeoutMs <= MAX_TIMER_MS) {
        this.timers.push(setTimeout(() => this.expire(), req.timeoutMs));
      }
      child.on("exit", () => this.onExit(child));
      child.on("close", (code: number | null, signal: NodeJS.Signals | null) => {
        guard?.release();
        if (spawnError) {
          const msg = `cannot start ${prepared.file}: ${spawnError.message}`;
          resolve(this.failToStart(spawnError.code === "ENOENT" ? 127 : 126, msg));
          return;
        }
        resolve(this.finish(code, signal));
      });
    });
  }

  private pipe(stream: NodeJS.ReadableStream, isStderr: boolean): void {
    const batcher = this.batcher;
    const splitter = new LineSplitter(
      (buf, start, end, ts) => batcher.addBytes(buf, start, end, isStderr, ts),
      MAX_LINE_BYTES,
      Date.now,
      this.guardCut,
    );
    stream.on("data", (chunk: Buffer) => splitter.push(chunk));
    stream.on("end", () => splitter.end());
    stream.on("error", (err) =>
      this.opts.logger.warn({ err, jobId: this.request.jobId }, "job output error"),
    );
  }

  private expire(): void {
    if (this.exited || this.cancelReason !== undefined) return;
    this.timedOut = true;
    this.logLine(`Job timed out after ${this.request.timeoutMs}ms`, true);
    this.kill();
  }

  /** The main process is gone: end leftovers of its group, and never wait forever for their pipes. */
  private onExit(child: ChildProcess): void {
    this.exited = true;
    const pid = child.pid;
    if (pid === undefined) return;
    const grace = this.grace;
    // Usually the group ended with its leader; only look through /proc when something is left.
    if (this.cancelReason === undefined && !this.timedOut && groupExists(pid)) {
      void liveGroupMembers(pid).then((live) => {
        if (live.length === 0) return;
        this.opts.logger.debug(
          { jobId: this.jobId, pids: live },
          "terminating processes left behind by the job",
        );
        killGroup(pid, grace);
      });
    }
    const guard = setTimeout(() => {
      // Only a process that left the group can still hold the pipes open now.
      if (child.exitCode !== null && !this.paused) {
        child.stdout?.destroy();
        child.stderr?.destroy();
      }
    }, grace + 1_000);
    guard.unref();
    this.timers.push(guard);
  }

  private finish(code: number | null, signal: NodeJS.Signals | null): JobOutcome {
    const exitCode = code ?? (signal ? signalExitCode(signal) : 1);
    if (this.cancelReason !== undefined)
      return this.outcome(JobStatus.CANCELLED, exitCode, this.cancelReason);
    if (this.timedOut) {
      return this.outcome(JobStatus.TIMEOUT, exitCode, `Job timed out after ${this.request.timeoutMs}ms`);
    }
    if (signal) return this.outcome(JobStatus.FAILED, exitCode, `killed by signal ${signal}`);
    if (exitCode !== 0) return this.outcome(JobStatus.FAILED, exitCode, `exited with code ${exitCode}`);
    return this.outcome(JobStatus.COMPLETED, 0, "");
  }

  private failToStart(exitCode: number, message: string): JobOutcome {
    this.logLine(`hodei: ${message}`, true);
    return this.outcome(JobStatus.FAILED, exitCode, message);
  }

  private outcome(status: JobStatus, exitCode: number, errorMessage: string): JobOutcome {
    this.batcher.flush();
    return {
      jobId: this.request.jobId,
      executionId: this.request.executionId,
      exitCode,
      status,
      errorMessage: this.redact(errorMessage),
      startedAtMs: this.startedAtMs,
      finishedAtMs: Date.now(),
      lastSequence: this.batcher.lastSequence,
    };
  }
}
