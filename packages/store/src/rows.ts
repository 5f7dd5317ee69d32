// Row → record mappers. Timestamps arrive as Date from both drivers; jsonb as parsed objects.
import { priorityFromRank, type JobSpec, type JobState, type WorkerState } from "@hodei/core";
import type { AuditRecord, ExecutionRecord, JobRecord, WorkerRecord } from "./records.js";

export interface JobRow {
  id: string;
  name: string;
  status: string;
  priority: number;
  spec: JobSpec | string;
  queued_by: string;
  worker_id: string | null;
  execution_id: string | null;
  attempt: number;
  exit_code: number | null;
  message: string;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  updated_at: Date;
  lane: string;
}

export const JOB_COLUMNS =
  "id, name, status, priority, spec, queued_by, worker_id, execution_id, attempt, exit_code, message, created_at, started_at, finished_at, updated_at, lane";

/**
 * A spec as stored: jsonb cannot hold NUL, which is ordinary data on a job's stdin, so stdin is kept
 * base64-encoded.
 */
export function specToRow(spec: JobSpec): Record<string, unknown> {
  const { stdin, ...rest } = spec;
  return stdin === ""
    ? { ...rest, stdin: "" }
    : { ...rest, stdin: "", stdinBase64: Buffer.from(stdin).toString("base64") };
}

function specFromRow(stored: JobSpec & { stdinBase64?: string }): JobSpec {
  const { stdinBase64, ...spec } = stored;
  return stdinBase64 === undefined ? spec : { ...spec, stdin: Buffer.from(stdinBase64, "base64").toString() };
}

function json<T>(v: T | string): T {
  return typeof v === "string" ? (JSON.parse(v) as T) : v;
}

export function jobFromRow(r: JobRow): JobRecord {
  return {
    id: r.id,
    name: r.name,
    status: r.status as JobState,
    priority: priorityFromRank(r.priority),
    spec: specFromRow(json(r.spec)),
    queuedBy: r.queued_by,
    workerId: r.worker_id,
    executionId: r.execution_id,
    attempt: r.attempt,
    exitCode: r.exit_code,
    message: r.message,
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    updatedAt: r.updated_at,
    lane: r.lane,
  };
}

/** The columns a finished job's event needs (no spec to decode on the hot path). */
export interface FinishedRow {
  id: string;
  attempt?: number;
  status: string;
  exit_code: number | null;
  message: string;
  worker_id: string | null;
  execution_id: string | null;
}

export interface FinishedJob {
  id: string;
  status: JobState;
  exitCode: number | null;
  message: string;
  workerId: string | null;
  executionId: string | null;
}

export function finishedFromRow(r: FinishedRow): FinishedJob {
  return {
    id: r.id,
    status: r.status as JobState,
    exitCode: r.exit_code,
    message: r.message,
    workerId: r.worker_id,
    executionId: r.execution_id,
  };
}

export interface ExecutionRow {
  id: string;
  job_id: string;
  attempt: number;
  worker_id: string;
  status: string;
  assigned_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  exit_code: number | null;
  error_message: string;
}

export function executionFromRow(r: ExecutionRow): ExecutionRecord {
  return {
    id: r.id,
    jobId: r.job_id,
    attempt: r.attempt,
    workerId: r.worker_id,
    status: r.status as JobState,
    assignedAt: r.assigned_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    exitCode: r.exit_code,
    errorMessage: r.error_message,
  };
}

export interface AuditRow {
  id: number | string;
  occurred_at: Date;
  event_type: string;
  actor: string;
  correlation_id: string | null;
  payload: Record<string, unknown> | string;
}

export function auditFromRow(r: AuditRow): AuditRecord {
  return {
    id: Number(r.id),
    occurredAt: r.occurred_at,
    eventType: r.event_type,
    actor: r.actor,
    correlationId: r.correlation_id,
    payload: json(r.payload),
  };
}

export interface WorkerRow {
  id: string;
  provider: string;
  state: string;
  hostname: string;
  labels: Record<string, string> | string;
  created_at: Date;
  registered_at: Date | null;
  last_heartbeat: Date | null;
  terminated_at: Date | null;
  reason: string;
}

export function workerFromRow(r: WorkerRow): WorkerRecord {
  return {
    id: r.id,
    provider: r.provider,
    state: r.state as WorkerState,
    hostname: r.hostname,
    labels: json(r.labels),
    createdAt: r.created_at,
    registeredAt: r.registered_at,
    lastHeartbeat: r.last_heartbeat,
    terminatedAt: r.terminated_at,
    reason: r.reason,
  };
}
