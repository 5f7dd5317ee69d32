// What every entry point (gRPC, REST, CLI) can do with jobs; protocol-neutral.
import { HodeiError, isTerminal, type JobSpec, type JobState } from "@hodei/core";
import {
  countJobsByStatus,
  getExecutions,
  getJob,
  listJobs,
  type Database,
  type ExecutionRecord,
  type GroupCommitWriter,
  type JobRecord,
} from "@hodei/store";
import type { Dispatcher } from "./dispatcher.js";
import type { EventBus } from "./events.js";

export interface JobServiceDeps {
  db: Database;
  writer: GroupCommitWriter;
  bus: EventBus;
  dispatcher: Dispatcher;
  maxQueueSize: number;
}

export class JobService {
  private pendingEstimate = 0;

  constructor(private readonly d: JobServiceDeps) {
    d.bus.onJob((e) => {
      if (e.previous === "PENDING") this.pendingEstimate = Math.max(0, this.pendingEstimate - 1);
    });
  }

  async start(): Promise<void> {
    this.pendingEstimate = (await countJobsByStatus(this.d.db)).PENDING;
  }

  async queue(
    spec: JobSpec,
    secrets: Record<string, string>,
    queuedBy: string,
    actor: string,
  ): Promise<JobRecord> {
    if (this.pendingEstimate >= this.d.maxQueueSize) {
      this.pendingEstimate = (await countJobsByStatus(this.d.db)).PENDING;
      if (this.pendingEstimate >= this.d.maxQueueSize) {
        throw new HodeiError(
          "QUEUE_FULL",
          `the queue is full: ${this.pendingEstimate} jobs are waiting (HODEI_MAX_QUEUE_SIZE=${this.d.maxQueueSize})`,
        );
      }
    }
    if (Object.keys(secrets).length > 0) this.d.dispatcher.secrets.set(spec.id, secrets);
    const created = this.d.writer.createJob({ spec, queuedBy, actor });
    this.d.dispatcher.wake();
    if (!(await created)) {
      throw new HodeiError(
        "JOB_ALREADY_EXISTS",
        `job_definition.job_id: a job with id ${JSON.stringify(spec.id)} already exists`,
      );
    }
    this.pendingEstimate++;
    const now = new Date();
    this.d.bus.emitJob({
      jobId: spec.id,
      status: "PENDING",
      previous: null,
      atMs: now.getTime(),
      workerId: null,
      executionId: null,
      exitCode: null,
      message: "",
    });
    this.d.dispatcher.wake();
    return {
      id: spec.id,
      name: spec.name,
      status: "PENDING",
      priority: spec.priority,
      spec,
      queuedBy,
      workerId: null,
      executionId: null,
      attempt: 0,
      exitCode: null,
      message: "",
      createdAt: now,
      startedAt: null,
      finishedAt: null,
      updatedAt: now,
    };
  }

  async get(id: string): Promise<{ job: JobRecord; executions: ExecutionRecord[] }> {
    const job = await getJob(this.d.db, id);
    if (!job) throw new HodeiError("JOB_NOT_FOUND", `job ${id} not found`);
    return { job, executions: await getExecutions(this.d.db, id) };
  }

  async status(id: string): Promise<JobRecord> {
    const job = await getJob(this.d.db, id);
    if (!job) throw new HodeiError("JOB_NOT_FOUND", `job ${id} not found`);
    return job;
  }

  list(filter: { status?: JobState; search?: string; limit: number; offset: number }) {
    return listJobs(this.d.db, filter);
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
    if (this.d.dispatcher.cancelRunning(id, why))
      return { status: job.status, message: `cancelling job ${id}` };
    throw new HodeiError(
      "UNAVAILABLE",
      `job ${id} is ${job.status} on a worker this server does not reach; try again`,
    );
  }
}
