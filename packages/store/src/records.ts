import type { JobSpec, JobState, PriorityName, WorkerState } from "@hodei/core";

export interface JobRecord {
  id: string;
  name: string;
  status: JobState;
  priority: PriorityName;
  spec: JobSpec;
  queuedBy: string;
  workerId: string | null;
  executionId: string | null;
  attempt: number;
  exitCode: number | null;
  message: string;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  updatedAt: Date;
  /** Where it runs: see laneKey in core. */
  lane: string;
}

export interface ExecutionRecord {
  id: string;
  jobId: string;
  attempt: number;
  workerId: string;
  status: JobState;
  assignedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  exitCode: number | null;
  errorMessage: string;
}

export interface LogLineRecord {
  sequence: number;
  timestampMs: number;
  isStderr: boolean;
  line: string;
}

export interface AuditRecord {
  id: number;
  occurredAt: Date;
  eventType: string;
  actor: string;
  correlationId: string | null;
  payload: Record<string, unknown>;
}

export interface AuditEvent {
  eventType: string;
  actor: string;
  correlationId: string | null;
  payload: Record<string, unknown>;
}

export interface WorkerRecord {
  id: string;
  provider: string;
  state: WorkerState;
  hostname: string;
  labels: Record<string, string>;
  createdAt: Date;
  registeredAt: Date | null;
  lastHeartbeat: Date | null;
  terminatedAt: Date | null;
  reason: string;
}
