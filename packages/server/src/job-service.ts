// What every entry point (gRPC, REST, CLI) can do with jobs; protocol-neutral.
import { HodeiError, isTerminal, type JobState } from "@hodei/core";
import {
  countJobsByStatus,
  getExecutions,
  getJob,
  listJobs,
  rerunJob,
  type Database,
  type ExecutionRecord,
  type GroupCommitWriter,
  type JobRecord,
  type JobsStatistics,
} from "@hodei/store";
import type { Dispatcher } from "./dispatcher.js";
import type { EventBus } from "./events.js";
import type { ParsedDefinition } from "./job-mapper.js";
import type { ProviderSet } from "./provider-set.js";

export interface JobServiceDeps {
  db: Database;
  writer: GroupCommitWriter;
  bus: EventBus;
  dispatcher: Dispatcher;
  providers: ProviderSet;
  maxQueueSize: number;
  /** Told of every job stored as waiting, to keep the planner's view of the queue current. */
  statistics?: JobsStatistics;
  /** The other control planes on this database, when there may be some. */
  peers?: { readonly hasPeers: boolean; sendCancel(jobId: string, reason: string, actor: string): void };
}

export class JobService {
  private pendingEstimate = 0;

  constructor(private readonly d: JobServiceDeps) {
    d.bus.onJob((e) => {
      if (e.previous === "PENDING") this.pendingEstimate = Math.max(0, this.pendingEstimate - 1);
      // A retry here, or a job another control plane queued.
      else if (e.status === "PENDING" && (e.previous !== null || e.remote)) this.pendingEstimate++;
    });
  }

  async start(): Promise<void> {
    this.pendingEstimate = (await countJobsByStatus(this.d.db)).PENDING;
  }

  /** Refuses `count` more jobs when the queue would be over its limit (counted again to be sure). */
  private async checkRoom(count: number): Promise<void> {
    if (this.pendingEstimate + count <= this.d.maxQueueSize) return;
    this.pendingEstimate = (await countJobsByStatus(this.d.db)).PENDING;
    if (this.pendingEstimate + count <= this.d.maxQueueSize) return;
    const asked = count === 1 ? "" : `, ${count} more asked for`;
    throw new HodeiError(
      "QUEUE_FULL",
      `the queue is full: ${this.pendingEstimate} jobs are waiting${asked} (HODEI_MAX_QUEUE_SIZE=${this.d.maxQueueSize})`,
    );
  }

  /**
   * Queues each definition as `queue` does, all at once (the group commit stores them together);
   * the outcomes in order. The room for all of them is checked first: a full queue takes none.
   */
  async queueMany(
    defs: ParsedDefinition[],
    queuedBy: string,
    actor: string,
  ): Promise<PromiseSettledResult<JobRecord>[]> {
    await this.checkRoom(defs.length);
    return Promise.allSettled(defs.map((def) => this.queue(def, queuedBy, actor)));
  }

  async queue(def: ParsedDefinition, queuedBy: string, actor: string): Promise<JobRecord> {
    const { spec, secrets } = def;
    if (this.pendingEstimate >= this.d.maxQueueSize) await this.checkRoom(1);
    const dispatcher = this.d.dispatcher;
    const lane = await this.d.providers.place(spec);
    if (Object.keys(secrets).length > 0) dispatcher.secrets.set(spec.id, secrets);
    // A job whose id was made here cannot be a duplicate: when a worker is idle and nothing older
    // waits, it is stored already assigned to that worker (no claim needed) and sent once stored.
    const assign = def.idGenerated ? dispatcher.takeIdleWorker(lane) : null;
    const created = this.d.writer.createJob({
      spec,
      queuedBy,
      actor,
      lane,
      ...(assign ? { assign } : {}),
      // Only this process has the secrets: only it may claim the job.
      ...(dispatcher.secrets.has(spec.id) ? { secretsHolder: dispatcher.controlPlaneId } : {}),
    });
    dispatcher.wake();
    let ok: boolean;
    try {
      ok = await created;
    } catch (err) {
      if (assign) dispatcher.release(assign);
      dispatcher.secrets.delete(spec.id);
      throw err;
    }
    if (!ok) {
      if (assign) dispatcher.release(assign);
      dispatcher.secrets.delete(spec.id);
      throw new HodeiError(
        "JOB_ALREADY_EXISTS",
        `job_definition.job_id: a job with id ${JSON.stringify(spec.id)} already exists`,
      );
    }
    this.pendingEstimate++;
    if (!assign) this.d.statistics?.queued(1);
    if (spec.deadlineMs !== null && !assign) dispatcher.watchDeadline(spec.deadlineMs);
    const now = new Date();
    const event = { jobId: spec.id, atMs: now.getTime(), exitCode: null, message: "" };
    this.d.bus.emitJob({ ...event, status: "PENDING", previous: null, workerId: null, executionId: null });
    if (assign) {
      this.d.bus.emitJob({ ...event, status: "ASSIGNED", previous: "PENDING", ...assign });
    }
    dispatcher.wake();
    const job: JobRecord = {
      id: spec.id,
      name: spec.name,
      status: assign ? "ASSIGNED" : "PENDING",
      priority: spec.priority,
      spec,
      queuedBy,
      workerId: assign?.workerId ?? null,
      executionId: assign?.executionId ?? null,
      attempt: assign ? 1 : 0,
      exitCode: null,
      message: "",
      createdAt: now,
      startedAt: null,
      finishedAt: null,
      updatedAt: now,
      lane,
    };
    if (assign) dispatcher.dispatchNew(job);
    return job;
  }

  async get(id: string): Promise<{ job: JobRecord; executions: ExecutionRecord[] }> {
    const job = await this.status(id);
    return { job, executions: await getExecutions(this.d.db, id) };
  }

  /** The job; a PENDING one says why it waits. */
  async status(id: string): Promise<JobRecord> {
    const job = await getJob(this.d.db, id);
    if (!job) throw new HodeiError("JOB_NOT_FOUND", `job ${id} not found`);
    if (job.status === "PENDING" && job.message === "")
      job.message = this.d.dispatcher.pendingReason(job.lane);
    return job;
  }

  list(filter: { status?: JobState; search?: string; limit: number; offset: number }) {
    return listJobs(this.d.db, filter);
  }

  /** A finished job runs again as a new attempt; its earlier attempts stay recorded. */
  async retry(id: string, reason: string, actor: string): Promise<JobRecord> {
    const why = reason || `retried by ${actor}`;
    const job = await rerunJob(this.d.db, id, why, actor);
    if (!job) {
      const current = await this.status(id);
      throw new HodeiError(
        "FAILED_PRECONDITION",
        `job ${id} is ${current.status}; only a finished job can be retried (cancel it first)`,
      );
    }
    this.d.bus.emitJob({
      jobId: id,
      status: "PENDING",
      previous: null,
      atMs: Date.now(),
      workerId: null,
      executionId: null,
      exitCode: null,
      message: why,
    });
    this.pendingEstimate++;
    this.d.dispatcher.rescan();
    return job;
  }

  /** PENDING: cancelled at once. ASSIGNED/RUNNING: the worker kills it and reports CANCELLED. Finished: an error. */
  async cancel(id: string, reason: string, actor: string): Promise<{ status: JobState; message: string }> {
    const job = await this.status(id);
    if (isTerminal(job.status)) {
      throw new HodeiError(
        "FAILED_PRECONDITION",
        `job ${id} already finished (${job.status}); nothing to cancel`,
      );
    }
    const why = reason || `cancelled by ${actor}`;
    if (job.status === "PENDING") {
      const cancelled = await this.d.writer.cancelPending({ jobId: id, reason: why, actor });
      if (cancelled) {
        this.d.dispatcher.secrets.delete(id);
        void this.d.dispatcher.trimProvisioning();
        this.d.bus.emitJob({
          jobId: id,
          status: "CANCELLED",
          previous: "PENDING",
          atMs: Date.now(),
          workerId: null,
          executionId: null,
          exitCode: null,
          message: why,
        });
        return { status: "CANCELLED", message: `job ${id} cancelled` };
      }
      return this.cancel(id, reason, actor);
    }
    if (this.d.dispatcher.cancelRunning(id, why, actor))
      return { status: job.status, message: `cancelling job ${id}` };
    const peers = this.d.peers;
    if (peers?.hasPeers) {
      peers.sendCancel(id, why, actor);
      return { status: job.status, message: `cancelling job ${id} (its worker is on another control plane)` };
    }
    throw new HodeiError(
      "UNAVAILABLE",
      `job ${id} is ${job.status} on a worker this server does not reach; try again`,
    );
  }
}
