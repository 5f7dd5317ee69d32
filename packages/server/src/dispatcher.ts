// Scheduling and dispatch: event-driven claims, on-demand provisioning, worker loss, idle termination.
import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import {
  ServerMessageSchema,
  jobStatusFromWire,
  type JobResult,
  type LogChunk,
  type WireLogBatch,
  type WorkerAck,
} from "@hodei/api";
import { isTerminal, parseLane, retryDelayMs, type JobState } from "@hodei/core";
import {
  expireOverdueJobs,
  failJobsOfGoneHolders,
  markControlPlaneAlive,
  maxLogSequence,
  updateWorker,
  type Database,
  type FinishedJob,
  type GroupCommitWriter,
  type JobRecord,
} from "@hodei/store";
import type { ServerConfig } from "./config.js";
import type { EventBus } from "./events.js";
import type { Logger } from "./logger.js";
import type { ProviderSet } from "./provider-set.js";
import { Provisioner, startFailureMessage } from "./provisioner.js";
import type { Attempt, WorkerEntry, WorkerRegistry } from "./worker-registry.js";

const PAUSE_LOG_BYTES = 8 * 1024 * 1024;
const RESUME_LOG_BYTES = 2 * 1024 * 1024;

export interface Assignment {
  workerId: string;
  executionId: string;
}

export interface DispatcherDeps {
  db: Database;
  writer: GroupCommitWriter;
  bus: EventBus;
  registry: WorkerRegistry;
  providers: ProviderSet;
  config: ServerConfig;
  logger: Logger;
  serverAddress: string;
  /** This control plane process, unique per start: it holds the secrets of the jobs queued through it. */
  controlPlaneId: string;
}

export class Dispatcher {
  /** Secrets live only in memory, from queueing until the job ends. */
  readonly secrets = new Map<string, Record<string, string>>();

  /** This control plane process (see DispatcherDeps). */
  get controlPlaneId(): string {
    return this.d.controlPlaneId;
  }
  private scheduled = false;
  private stopping = false;
  /** Per lane: writes up to this epoch were seen by a claim that left nothing waiting. */
  private readonly emptyAsOf = new Map<string, number>();
  private readonly provisioner: Provisioner;
  private readonly inflightLogBytes = new Map<string, number>();

  constructor(private readonly d: DispatcherDeps) {
    this.provisioner = new Provisioner(d, {
      gone: (w, reason) => this.workerGone(w, reason),
      destroy: (w, reason) => this.destroy(w, reason, { deliberate: true }),
      wakeAfter: (ms) => this.wakeAfter(ms),
    });
    d.providers.onExit(({ handle, code, signal, reason }) => {
      const w = d.registry.get(handle.workerId);
      if (w) this.workerGone(w, reason ?? `worker process exited (${signal ?? `code ${code}`})`);
    });
  }

  /** Asks for a scheduling pass; many wakes in one tick make one pass. */
  wake(): void {
    if (this.scheduled || this.stopping) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.pass();
    });
  }

  /**
   * The control plane is stopping: no job is claimed or handed to a worker any more (its workers are
   * about to be stopped; a job given to one now would only be lost with it). Waiting jobs stay queued.
   */
  stop(): void {
    this.stopping = true;
  }

  /**
   * The queue may hold work this instance has not seen it take (queued on another instance, a retry
   * come due, a worker or provider freed up): forget that it looked empty and look again.
   */
  rescan(): void {
    this.emptyAsOf.clear();
    this.provisioner.forgetQuiet();
    this.wake();
  }

  private mayHavePending(lane: string): boolean {
    return this.d.writer.epoch > (this.emptyAsOf.get(lane) ?? -1);
  }

  private pass(): void {
    if (this.stopping) return;
    const lanes = new Map<string, WorkerEntry[]>();
    for (const w of this.d.registry.idle()) {
      // A disabled provider's workers take no new work (workers not started by a provider may).
      if (this.d.providers.get(w.provider)?.record.enabled === false) continue;
      if (this.mayHavePending(w.lane)) lanes.set(w.lane, [...(lanes.get(w.lane) ?? []), w]);
    }
    for (const [lane, idle] of lanes) this.claimFor(lane, idle);
    // Lanes with no idle worker may need new ones; cheap when nothing changed or no provider has room.
    void this.provisioner.provisionForWaitingJobs();
  }

  private claimFor(lane: string, idle: WorkerEntry[]): void {
    for (const w of idle) w.reserved = true;
    const executionIds = idle.map(() => randomUUID());
    this.d.writer
      .claim({ workerIds: idle.map((w) => w.id), executionIds, lane, holder: this.d.controlPlaneId })
      .then(
        ({ jobs, epoch, more }) => {
          for (const w of idle) w.reserved = false;
          if (!more) this.emptyAsOf.set(lane, Math.max(this.emptyAsOf.get(lane) ?? -1, epoch));
          for (const job of jobs) this.dispatch(job).catch(this.failed(`could not dispatch job ${job.id}`));
          this.wake();
        },
        (err: unknown) => {
          for (const w of idle) w.reserved = false;
          this.d.logger.error({ err }, "claim failed; the sweep will retry");
        },
      );
  }

  /** Why a PENDING job of `lane` is still waiting, as far as this instance can tell. */
  pendingReason(lane: string): string {
    const { provider, image } = parseLane(lane);
    const e = this.d.providers.get(provider);
    if (!e) return `waiting: provider ${provider} is not configured on this control plane`;
    if (!e.record.enabled) return `waiting: provider ${provider} is disabled`;
    if (!e.health.healthy) return `waiting: provider ${provider} is unhealthy: ${e.health.message}`;
    const c = this.d.registry.counts(provider);
    const max = e.provider.limits.maxWorkers;
    const failed = this.provisioner.lastStartFailure(lane);
    if (failed) return startFailureMessage(failed.reason);
    const starting = this.d.registry.provisioning(lane);
    const on = image ? ` (image ${image})` : "";
    if (starting > 0) return `waiting for a worker: ${starting} starting${on}`;
    if (c.CREATING + c.CONNECTING + c.READY + c.BUSY >= max)
      return `waiting for a worker: all ${max} ${provider} workers are busy`;
    return `waiting for a worker${on}`;
  }

  /**
   * An idle worker for a new job to start on at once, reserved; null when an older job waits
   * (queue order comes first) or no worker is idle.
   */
  takeIdleWorker(lane: string): Assignment | null {
    if (this.stopping || this.mayHavePending(lane)) return null;
    const w = this.d.registry.idle().find((x) => x.lane === lane);
    if (!w) return null;
    w.reserved = true;
    return { workerId: w.id, executionId: randomUUID() };
  }

  /** Sends a job stored already assigned (committed) to its worker. */
  dispatchNew(job: JobRecord): void {
    this.dispatch(job, false).catch(this.failed(`could not dispatch job ${job.id}`));
  }

  /** A worker taken for a job whose creation did not commit is free again. */
  release(assign: Assignment): void {
    const w = this.d.registry.get(assign.workerId);
    if (w) w.reserved = false;
    this.wake();
  }

  private async dispatch(job: JobRecord, announce = true): Promise<void> {
    const w = job.workerId ? this.d.registry.get(job.workerId) : undefined;
    const executionId = job.executionId ?? "";
    if (!w || !w.stream || w.state !== "READY" || w.job) {
      await this.d.writer.requeue({
        jobId: job.id,
        executionId,
        reason: "worker went away before the job started",
      });
      this.wake();
      return;
    }
    w.job = {
      jobId: job.id,
      executionId,
      attempt: job.attempt,
      maxRetries: job.spec.maxRetries,
      logBase: 0,
      started: false,
      givenAtMs: Date.now(),
      heartbeatTimeoutMs: job.spec.heartbeatTimeoutMs,
    };
    w.state = "BUSY";
    w.reserved = false;
    if (announce) this.emit(job, "ASSIGNED", "PENDING");
    if (job.attempt > 1) w.job.logBase = await maxLogSequence(this.d.db, job.id);
    const s = job.spec;
    w.stream.write(
      create(ServerMessageSchema, {
        payload: {
          case: "runJob",
          value: {
            jobId: job.id,
            executionId,
            attempt: job.attempt,
            command: s.command,
            arguments: s.arguments,
            environment: s.environment,
            workingDir: s.workingDir,
            script: s.script ?? undefined,
            secrets: this.secrets.get(job.id) ?? {},
            stdin: s.stdin,
            timeoutMs: BigInt(Math.round(s.executionTimeoutMs)),
            cleanupTimeoutMs: BigInt(Math.round(s.cleanupTimeoutMs ?? 0)),
            // The worker numbers this attempt's lines from here and sends them as LogEntry fields.
            logSequenceBase: BigInt(w.job.logBase),
            // ...and may send lines as blocks of text, which are stored and sent on as they are.
            logTextBlocks: true,
          },
        },
      }),
    );
  }

  onAck(w: WorkerEntry, ack: WorkerAck): void {
    const job = w.job;
    if (!job || job.jobId !== ack.jobId || job.executionId !== ack.executionId) return;
    if (!ack.accepted) {
      w.job = null;
      w.state = "READY";
      void this.d.writer
        .requeue({ jobId: job.jobId, executionId: job.executionId, reason: `worker refused: ${ack.message}` })
        .then(() => this.wake(), this.failed(`could not requeue job ${job.jobId}`));
      return;
    }
    job.started = true;
    void this.d.writer.markRunning({ jobId: job.jobId, executionId: job.executionId, atMs: Date.now() }).then(
      (ok) => {
        if (!ok) return;
        this.d.bus.emitJob({
          jobId: job.jobId,
          status: "RUNNING",
          previous: "ASSIGNED",
          atMs: Date.now(),
          workerId: w.id,
          executionId: job.executionId,
          exitCode: null,
          message: "",
        });
      },
      this.failed(`could not record that job ${job.jobId} started`),
    );
  }

  /** Stores a batch's lines (their sequences moved up to the job's) and fans them out. */
  onLogBatch(w: WorkerEntry, batch: WireLogBatch, pause: () => void, resume: () => void): void {
    const job = w.job;
    if (!job || job.jobId !== batch.jobId || job.executionId !== batch.executionId) return;
    let chunk: LogChunk | null;
    try {
      chunk = batch.chunk(job.logBase);
    } catch (err) {
      this.d.logger.error({ err, jobId: job.jobId, workerId: w.id }, "worker sent a malformed log batch");
      return;
    }
    if (!chunk) return;
    const bytes = chunk.textBytes;
    const inflight = (this.inflightLogBytes.get(w.id) ?? 0) + bytes;
    this.inflightLogBytes.set(w.id, inflight);
    if (inflight > PAUSE_LOG_BYTES) pause();
    void this.d.writer.appendLogs({ jobId: job.jobId, chunk }).then(
      () => {
        const left = (this.inflightLogBytes.get(w.id) ?? bytes) - bytes;
        this.inflightLogBytes.set(w.id, left);
        if (left < RESUME_LOG_BYTES) resume();
        this.d.bus.emitLogs(job.jobId, chunk);
      },
      (err: unknown) => this.d.logger.error({ err, jobId: job.jobId }, "could not store log lines"),
    );
  }

  onResult(w: WorkerEntry, r: JobResult): void {
    const job = w.job;
    if (!job || job.jobId !== r.jobId || job.executionId !== r.executionId) return;
    w.job = null;
    if (w.state === "BUSY") w.state = "READY";
    w.idleSinceMs = Date.now();
    const status: JobState = jobStatusFromWire(r.status) ?? (r.exitCode === 0 ? "SUCCEEDED" : "FAILED");
    const actor = status === "CANCELLED" && job.cancelledBy ? job.cancelledBy : `worker:${w.id}`;
    const now = Date.now();
    // How long the process ran, by the worker's own clock (a difference: no skew between hosts), at
    // most since the job was given to it. A short job's start and end reach us together, so without
    // it the job's start would be recorded as the moment of its end.
    const ran = Number(r.finishedAtMs - r.startedAtMs);
    const ranMs = r.startedAtMs > 0n && ran >= 0 ? Math.min(ran, now - job.givenAtMs) : undefined;
    this.finish(job, isTerminal(status) ? status : "FAILED", r.exitCode, r.errorMessage, actor, ranMs);
    this.wake();
  }

  /** An attempt ended: the job ends with it, or goes back to the queue for another attempt. */
  private finish(
    run: Attempt & { started?: boolean },
    status: JobState,
    exitCode: number | null,
    message: string,
    actor: string,
    ranMs?: number,
  ): void {
    const retryAfterMs =
      retryDelayMs(status, run.attempt, run.maxRetries, this.d.config.retryPolicy) ?? undefined;
    const { jobId, executionId } = run;
    void this.d.writer
      .finish({ jobId, executionId, status, exitCode, message, atMs: Date.now(), actor, retryAfterMs, ranMs })
      .then(
        (job) => {
          if (!job) return;
          if (retryAfterMs === undefined) this.secrets.delete(jobId);
          // A retry goes back to PENDING from how the attempt ended; an end comes from the attempt's state.
          const from: JobState = retryAfterMs !== undefined ? status : run.started ? "RUNNING" : "ASSIGNED";
          this.emit(job, job.status, from);
          if (retryAfterMs !== undefined) this.wakeAfter(retryAfterMs);
        },
        this.failed(`could not record the result of job ${jobId}`),
      );
  }

  /** A retry becomes claimable later: wake then (the sweep would too, later). */
  private wakeAfter(ms: number): void {
    const t = setTimeout(() => this.rescan(), ms + 1);
    t.unref();
  }

  private emit(job: FinishedJob | JobRecord, status: JobState, previous: JobState | null): void {
    this.d.bus.emitJob({
      jobId: job.id,
      status,
      previous,
      atMs: Date.now(),
      workerId: job.workerId,
      executionId: job.executionId,
      exitCode: job.exitCode,
      message: job.message,
    });
  }

  /** Sends `actor`'s cancel to the worker running `jobId`; false when no worker here runs it. */
  cancelRunning(jobId: string, reason: string, actor: string): boolean {
    for (const w of this.d.registry.all()) {
      if (w.job?.jobId === jobId && w.stream) {
        w.job.cancelledBy = actor;
        w.stream.write(
          create(ServerMessageSchema, {
            payload: { case: "cancel", value: { jobId, executionId: w.job.executionId, reason } },
          }),
        );
        return true;
      }
    }
    return false;
  }

  /**
   * A worker that is gone for good: its job fails, it is never offered work again. One that ends
   * before registering, unless torn down on purpose, failed to start: its lane backs off.
   */
  workerGone(w: WorkerEntry, reason: string, opts: { deliberate?: boolean } = {}): void {
    if (w.state === "TERMINATED") return;
    if ((w.state === "CREATING" || w.state === "CONNECTING") && !opts.deliberate)
      this.provisioner.startFailed(w, reason);
    const job = w.job;
    w.job = null;
    w.state = "TERMINATED";
    this.d.registry.remove(w.id);
    this.inflightLogBytes.delete(w.id);
    if (job) this.finish(job, "FAILED", null, `worker lost: ${reason}`, "system");
    void updateWorker(this.d.db, w.id, { state: "TERMINATED", reason }).catch(() => undefined);
    void this.d.writer
      .audit([{ eventType: "WorkerTerminated", actor: "system", correlationId: w.id, payload: { reason } }])
      .catch(this.failed("could not record a terminated worker"));
    this.d.logger.debug({ workerId: w.id, reason }, "worker terminated");
    this.rescan();
  }

  private failed(what: string): (err: unknown) => void {
    return (err) => this.d.logger.error({ err }, what);
  }

  /** Workers still starting that no waiting job needs any more (after a cancel, an expiry) are torn down. */
  trimProvisioning(): Promise<void> {
    return this.provisioner.trimStarting();
  }

  /** Jobs still waiting past their deadline end TIMEOUT. */
  expireOverdue(): void {
    void expireOverdueJobs(this.d.db).then(
      (expired) => this.endedWaiting(expired, "TIMEOUT"),
      (err: unknown) => this.d.logger.error({ err }, "could not expire overdue jobs"),
    );
  }

  /**
   * Says this control plane is alive, and ends FAILED the waiting jobs whose secrets were held by one
   * that is gone (stopped, or silent for `staleMs`): nothing can give them their secrets any more.
   */
  async checkSecretHolders(staleMs: number): Promise<void> {
    const { db, controlPlaneId } = this.d;
    await markControlPlaneAlive(db, controlPlaneId);
    const failed = await failJobsOfGoneHolders(db, controlPlaneId, staleMs);
    if (failed.length > 0)
      this.d.logger.warn({ jobs: failed.length }, "failed waiting jobs whose secrets were lost");
    this.endedWaiting(failed, "FAILED");
  }

  /** Waiting jobs the database ended without a worker: their events, and workers no longer needed. */
  private endedWaiting(jobs: { id: string; message: string }[], status: JobState): void {
    if (jobs.length > 0) void this.trimProvisioning();
    for (const { id, message } of jobs) {
      this.secrets.delete(id);
      this.d.bus.emitJob({
        jobId: id,
        status,
        previous: "PENDING",
        atMs: Date.now(),
        workerId: null,
        executionId: null,
        exitCode: null,
        message,
      });
    }
  }

  /** Checks the job's deadline when it comes (the sweep checks too, every few seconds). */
  watchDeadline(deadlineMs: number): void {
    const t = setTimeout(() => this.expireOverdue(), Math.max(0, deadlineMs - Date.now()) + 1);
    t.unref();
  }

  /** The safety net: lost heartbeats, idle and never-registered workers, and a scheduling pass. */
  sweep(now = Date.now()): void {
    this.expireOverdue();
    const { registry, config, providers } = this.d;
    void providers.refreshHealth(now);
    for (const w of registry.all()) {
      const idleTimeoutMs = providers.get(w.provider)?.provider.limits.idleTimeoutMs ?? 0;
      const silentMs = now - w.lastSeenMs;
      if (
        (w.state === "CREATING" || w.state === "CONNECTING") &&
        now - w.createdAtMs > config.provisioningTimeoutMs
      ) {
        this.destroy(w, `did not register within ${config.provisioningTimeoutMs} ms`);
      } else if (
        (w.state === "READY" || w.state === "BUSY" || w.state === "UNHEALTHY") &&
        silentMs > this.heartbeatTimeoutFor(w)
      ) {
        this.destroy(w, `no heartbeat for ${silentMs} ms`);
      } else if (
        w.state === "READY" &&
        !w.job &&
        !w.reserved &&
        idleTimeoutMs > 0 &&
        now - w.idleSinceMs > idleTimeoutMs
      ) {
        w.state = "DRAINING";
        this.destroy(w, "idle");
      }
    }
    this.rescan();
  }

  /**
   * How long a worker may stay silent: the server's heartbeat timeout, or its job's when shorter (but
   * never under two heartbeat intervals: one late heartbeat is not a lost worker).
   */
  private heartbeatTimeoutFor(w: WorkerEntry): number {
    const { heartbeatTimeoutMs, heartbeatIntervalMs } = this.d.config;
    const job = w.job?.heartbeatTimeoutMs ?? 0;
    return job > 0
      ? Math.min(heartbeatTimeoutMs, Math.max(job, 2 * heartbeatIntervalMs))
      : heartbeatTimeoutMs;
  }

  /**
   * Jobs left ASSIGNED or RUNNING by a previous run of the control plane (`leftover`, read at start,
   * before anything was dispatched): their workers had a heartbeat timeout to come back; the
   * executions that no worker took up again are lost.
   */
  failOrphanedJobs(leftover: JobRecord[]): number {
    let failed = 0;
    for (const job of leftover) {
      const w = job.workerId ? this.d.registry.get(job.workerId) : undefined;
      if (w?.job?.executionId === job.executionId) continue;
      failed++;
      this.finish(
        {
          jobId: job.id,
          executionId: job.executionId ?? "",
          attempt: job.attempt,
          maxRetries: job.spec.maxRetries,
        },
        "FAILED",
        null,
        "worker lost: the control plane restarted and the worker did not come back",
        "system",
      );
    }
    return failed;
  }

  /** A worker registered and connected: a lane that backed off starts afresh. */
  workerStarted(w: WorkerEntry): void {
    this.provisioner.started(w);
  }

  destroy(w: WorkerEntry, reason: string, opts: { deliberate?: boolean } = {}): void {
    const handle = w.handle;
    this.workerGone(w, reason, opts);
    const provider = this.d.providers.get(w.provider)?.provider;
    if (handle && provider)
      void provider
        .destroy(handle)
        .catch((err: unknown) => this.d.logger.warn({ err, workerId: w.id }, "destroy failed"));
  }
}
