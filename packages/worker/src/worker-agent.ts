import type * as grpc from "@grpc/grpc-js";
import type { RunJob, ServerMessage, WorkerMessage } from "@hodei/api";
import type { WorkerConfig } from "./config.js";
import { createControlClient, type WorkerStream } from "./control-link.js";
import { ControlSession } from "./control-session.js";
import { JobExecution, headerHoldMs } from "./job-execution.js";
import { jobSpawner, type JobSpawner } from "./job-process.js";
import * as msg from "./job-messages.js";
import type { Logger } from "./logger.js";
import { Outbox } from "./outbox.js";
import { KILL_GRACE_MS } from "./process-group.js";
import { describeWorker } from "./worker-info.js";

export interface WorkerAgentOptions {
  /** The environment jobs inherit (HODEI_OTP_TOKEN is always removed); default process.env. */
  jobEnv?: NodeJS.ProcessEnv;
  /** Grace between SIGTERM and SIGKILL when a job is cancelled or times out; default 2 s. */
  killGraceMs?: number;
}

const STOP_FLUSH_MS = 2_000;

/**
 * The worker agent: registers with its one-time token, holds the WorkerStream open (reconnecting
 * with backoff and its session when it breaks), runs one job at a time and streams its logs and
 * result. A clean end of the stream by the server while no job runs means "stop".
 */
export class WorkerAgent {
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private rejectDone!: (err: Error) => void;
  private readonly connected: Promise<void>;
  private resolveConnected!: () => void;
  private rejectConnected!: (err: Error) => void;
  private started = false;
  private stopping = false;
  private stopPromise: Promise<void> | undefined;
  private readonly abort = new AbortController();
  private client: grpc.Client | undefined;
  private stream: WorkerStream | undefined;
  private readonly session: ControlSession;
  private execution: JobExecution | undefined;
  private jobFinished: Promise<void> = Promise.resolve();
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly outbox = new Outbox(() => this.execution?.resumeOutput());
  /** A job's acceptance, held back to go in one write with the job's first lines or its result. */
  private pendingAck: { message: WorkerMessage; timer: NodeJS.Timeout } | undefined;
  private readonly jobEnv: NodeJS.ProcessEnv;
  private readonly spawner: JobSpawner;

  constructor(
    private readonly config: WorkerConfig,
    private readonly logger: Logger,
    private readonly options: WorkerAgentOptions = {},
  ) {
    this.session = new ControlSession(
      config,
      describeWorker(config),
      {
        runningJobIds: () => (this.execution ? [this.execution.jobId] : []),
        onStream: (stream) => this.onStream(stream),
        onMessage: (m) => this.onServerMessage(m),
        reconnectAfterCleanEnd: () => this.execution !== undefined,
      },
      logger,
    );
    const { HODEI_OTP_TOKEN: _otp, ...jobEnv } = options.jobEnv ?? process.env;
    this.jobEnv = jobEnv;
    this.spawner = jobSpawner(config.spawnHelper, options.killGraceMs ?? KILL_GRACE_MS, logger, config.shell);
    this.done = new Promise((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    this.done.catch(() => {}); // callers may only await start(); the rejection is still theirs to see
    this.connected = new Promise((resolve, reject) => {
      this.resolveConnected = resolve;
      this.rejectConnected = reject;
    });
    this.connected.catch(() => {});
  }

  /** Resolves once registered with the stream open (or stopped first); rejects if the token is refused. */
  start(): Promise<void> {
    if (!this.started && !this.stopping) {
      this.started = true;
      this.armIdleTimer();
      this.run().then(
        () => this.finish(),
        (err: Error) => this.finish(err),
      );
    }
    return this.connected;
  }

  /** Cancels a running job (its whole process group), says goodbye, closes the stream; resolves `done`. */
  stop(reason = "stopped"): Promise<void> {
    this.stopPromise ??= this.shutdown(reason);
    return this.stopPromise;
  }

  private async shutdown(reason: string): Promise<void> {
    this.stopping = true;
    this.clearIdleTimer();
    this.abort.abort();
    this.resolveConnected();
    this.execution?.abort(`worker stopping: ${reason}`);
    await this.jobFinished;
    if (!this.started) return this.finish();
    const stream = this.stream;
    if (stream) {
      this.outbox.send(msg.selfTerminateMessage(reason));
      await this.waitFor(() => this.outbox.size === 0, STOP_FLUSH_MS);
      stream.end();
      await this.waitFor(() => this.stream !== stream, STOP_FLUSH_MS);
      if (this.stream === stream) stream.cancel();
    }
    await this.done.catch(() => {});
  }

  private finish(err?: Error): void {
    this.stopping = true;
    this.clearIdleTimer();
    this.execution?.abort(err ? `worker failed: ${err.message}` : "worker stopped");
    this.client?.close();
    void this.jobFinished.then(() => this.spawner.close());
    if (err) {
      this.rejectConnected(err);
      this.rejectDone(err);
    } else {
      this.resolveConnected();
      this.resolveDone();
    }
  }

  private async run(): Promise<void> {
    this.client = await createControlClient(this.config);
    await this.session.run(this.client, this.abort.signal);
  }

  private onStream(stream: WorkerStream | undefined): void {
    this.stream = stream;
    if (stream) {
      this.outbox.attach(stream);
      this.resolveConnected();
    } else {
      this.outbox.detach();
    }
  }

  private onServerMessage(m: ServerMessage): void {
    const p = m.payload;
    switch (p.case) {
      case "runJob":
        return this.runJob(p.value);
      case "cancel":
        if (this.execution?.jobId === p.value.jobId) {
          const exec = this.execution;
          if (!p.value.executionId || p.value.executionId === exec.request.executionId) {
            exec.cancel(p.value.reason || "cancelled");
          }
        } else this.logger.debug({ jobId: p.value.jobId }, "cancel for a job not running here");
        return;
      case "keepAlive":
        // The control plane's answer to the hello, which comes before it looks for a job for this
        // worker: the job spawner starts now, in that gap, not with the first job. Any earlier, it
        // would hold up the connection and the hello (measured: about 20 ms of this thread).
        if (!this.stopping) this.spawner.prepare();
        return;
      case "ack":
      case undefined:
        return;
    }
  }

  private runJob(run: RunJob): void {
    if (this.execution?.request.executionId === run.executionId && run.executionId !== "") {
      // Sent again after a reconnect: it is this very execution, already under way.
      this.outbox.send(msg.ackMessage(run.jobId, run.executionId, true, "already running"));
      return;
    }
    if (this.execution || this.stopping) {
      const why = this.execution ? `busy with job ${this.execution.jobId}` : "worker stopping";
      this.outbox.send(msg.ackMessage(run.jobId, run.executionId, false, why));
      return;
    }
    this.holdAck(msg.ackMessage(run.jobId, run.executionId, true));
    this.clearIdleTimer();
    const { jobId, executionId } = run;
    this.logger.info({ jobId, executionId }, "running job");
    const exec = new JobExecution(msg.jobRequestFrom(run), {
      batchSize: this.config.logBatchSize,
      flushIntervalMs: this.config.logFlushIntervalMs,
      emitLogs: (message) => {
        this.sendHeldAck();
        return this.outbox.send(message);
      },
      baseEnv: this.jobEnv,
      logger: this.logger,
      shell: this.config.shell,
      spawner: this.spawner,
      ...(this.options.killGraceMs !== undefined ? { killGraceMs: this.options.killGraceMs } : {}),
    });
    this.execution = exec;
    this.jobFinished = exec.start().then((outcome) => {
      this.sendHeldAck();
      this.outbox.send(msg.resultMessage(outcome));
      this.logger.info(
        { jobId, executionId, exitCode: outcome.exitCode, status: outcome.status },
        "job finished",
      );
      this.execution = undefined;
      this.armIdleTimer();
    });
  }

  /**
   * The control plane only needs a job's acceptance to record it RUNNING, which it does not rush
   * either: sent with the first lines (the `$ …` header, at the first flush) or the result, whichever
   * comes first, it saves a write here and a read there for every job.
   */
  private holdAck(message: WorkerMessage): void {
    this.sendHeldAck();
    // As long as the job's `$ …` header waits at most, so that they go together.
    const timer = setTimeout(() => this.sendHeldAck(), headerHoldMs(this.config.logFlushIntervalMs));
    this.pendingAck = { message, timer };
  }

  private sendHeldAck(): void {
    const held = this.pendingAck;
    if (!held) return;
    this.pendingAck = undefined;
    clearTimeout(held.timer);
    this.outbox.send(held.message);
  }

  private armIdleTimer(): void {
    this.clearIdleTimer();
    if (this.config.idleTimeoutMs <= 0 || this.stopping) return;
    this.idleTimer = setTimeout(() => {
      if (this.execution) return;
      this.logger.info({ idleTimeoutMs: this.config.idleTimeoutMs }, "idle: terminating");
      void this.stop("idle");
    }, this.config.idleTimeoutMs);
  }

  private clearIdleTimer(): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  private async waitFor(condition: () => boolean, deadlineMs: number): Promise<void> {
    const end = Date.now() + deadlineMs;
    while (!condition() && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  }
}
