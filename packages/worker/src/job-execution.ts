import { stat } from "node:fs/promises";
import { JobStatus } from "@hodei/api";
import {
  planCommand,
  prepareCommand,
  type CommandPlan,
  type CommandSpec,
  type PreparedCommand,
} from "./command-plan.js";
import type { EncodedMessage } from "./encoded-message.js";
import type { JobProcess, JobProcessEnd, JobSpawner } from "./job-process.js";
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
  /** ...and blocks of lines among them (LogEntry.text). */
  logTextBlocks?: boolean;
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
  /** Starts the job's process; the worker's one, shared by its jobs. */
  spawner: JobSpawner;
}

const MAX_TIMER_MS = 2_147_483_647;

const HEADER_HOLD_MS = 20;

/**
 * How long the `$ …` header lines wait at most for the job's first lines or its end, to go in one
 * message with them: 20 ms, or the flush interval when longer. A short job's header, output and
 * result then reach the control plane together and are stored in one transaction.
 */
export function headerHoldMs(flushIntervalMs: number): number {
  return Math.max(HEADER_HOLD_MS, flushIntervalMs);
}

/**
 * Runs one job under `/bin/bash -c` (or a script with its interpreter) in its own process group,
 * streaming its output line by line, and settles `finished` with the outcome once the process has
 * exited and its output has been read to the end.
 */
export class JobExecution {
  private child: JobProcess | undefined;
  private readonly batcher: LogBatcher;
  private readonly redact: (text: string) => string;
  private readonly redacting: boolean;
  private readonly guardCut: CutGuard | undefined;
  private startedAtMs = 0;
  private cancelReason: string | undefined;
  private timedOut = false;
  private exited = false;
  private paused = false;
  private forceFlow = false;
  private killOnStart = false;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    readonly request: JobRequest,
    private readonly opts: JobExecutionOptions,
  ) {
    const redact = secretRedactor(request.secrets);
    this.redacting = redact !== undefined;
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
    this.child.pauseOutput();
  }

  resumeOutput(): void {
    if (!this.paused || !this.child) return;
    this.paused = false;
    this.child.resumeOutput();
  }

  private logLine(text: string, isStderr: boolean, holdMs?: number): void {
    this.batcher.addText(text, isStderr, Date.now(), holdMs);
  }

  /** Ends the job's group; one not started yet is ended as soon as its pid is known. */
  private kill(): void {
    const pid = this.child?.pid;
    if (pid !== undefined) killGroup(pid, this.grace);
    else this.killOnStart = true;
  }

  private async run(): Promise<JobOutcome> {
    this.startedAtMs = Date.now();
    const req = this.request;
    const plan = planCommand(req, this.opts.shell);
    const hold = headerHoldMs(this.opts.flushIntervalMs);
    for (const h of plan.header) this.logLine(h, false, hold);
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
      // Secrets on stdin leave the file system as soon as the job's stdin is open.
      return await this.spawnAndWait(prepared, secrets.stdin !== undefined, secrets.env);
    } finally {
      for (const t of this.timers) clearTimeout(t);
      await prepared
        .cleanup()
        .catch((err: unknown) => this.opts.logger.warn({ err }, "could not remove job script"));
    }
  }

  private spawnAndWait(
    prepared: PreparedCommand,
    secretStdin: boolean,
    secretEnv: Record<string, string | undefined>,
  ): Promise<JobOutcome> {
    const req = this.request;
    const merged: NodeJS.ProcessEnv = { ...this.opts.baseEnv, ...req.environment, ...secretEnv };
    const env: Record<string, string> = {};
    for (const [name, value] of Object.entries(merged)) if (value !== undefined) env[name] = value;
    env.HODEI_JOB_ID = req.jobId;
    env.HODEI_EXECUTION_ID = req.executionId;
    return new Promise((resolve) => {
      const splitters = [false, true].map((isStderr) => this.splitter(isStderr));
      this.child = this.opts.spawner.start(
        {
          file: prepared.file,
          args: prepared.args,
          cwd: req.workingDir || undefined,
          env,
          stdinPath: prepared.stdinPath,
          removeStdin: secretStdin && prepared.stdinPath !== undefined,
        },
        {
          started: (pid) => {
            if (this.killOnStart) killGroup(pid, this.grace);
          },
          output: (chunk, isStderr) => splitters[Number(isStderr)]!.push(chunk),
          outputEnd: (isStderr) => splitters[Number(isStderr)]!.end(),
          exit: () => this.onExit(),
          close: (end) => resolve(this.closed(prepared, end)),
        },
      );
      if (req.timeoutMs > 0 && req.timeoutMs <= MAX_TIMER_MS) {
        this.timers.push(setTimeout(() => this.expire(), req.timeoutMs));
      }
    });
  }

  private closed(prepared: PreparedCommand, end: JobProcessEnd): JobOutcome {
    if ("error" in end) {
      const msg = `cannot start ${prepared.file}: ${end.error.message}`;
      return this.failToStart(end.error.code === "ENOENT" ? 127 : 126, msg);
    }
    return this.finish(end.code, end.signal);
  }

  private splitter(isStderr: boolean): LineSplitter {
    const batcher = this.batcher;
    // Lines go on as blocks of text when the control plane takes them and nothing is redacted.
    const blocks =
      this.request.logTextBlocks === true && this.request.logSequenceBase !== undefined && !this.redacting;
    return new LineSplitter(
      (buf, start, end, ts) => batcher.addBytes(buf, start, end, isStderr, ts),
      MAX_LINE_BYTES,
      Date.now,
      this.guardCut,
      blocks
        ? (buf, start, end, count, ts) => batcher.addBlock(buf, start, end, count, isStderr, ts)
        : undefined,
    );
  }

  private expire(): void {
    if (this.exited || this.cancelReason !== undefined) return;
    this.timedOut = true;
    this.logLine(`Job timed out after ${this.request.timeoutMs}ms`, true);
    this.kill();
  }

  /** The main process is gone: end leftovers of its group, and never wait forever for their pipes. */
  private onExit(): void {
    this.exited = true;
    const child = this.child;
    const pid = child?.pid;
    if (!child || pid === undefined) return;
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
      if (!this.paused) child.closeOutput();
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
