import { JobStatus, Priority } from "./gen/hodei/common_pb.js";
import { timestampFromMs, timestampMs, type Timestamp } from "@bufbuild/protobuf/wkt";

/** The human names of job states, as the CLI, REST API and dashboard show them. */
export type JobState = "PENDING" | "ASSIGNED" | "RUNNING" | "SUCCEEDED" | "FAILED" | "CANCELLED" | "TIMEOUT";
export type PriorityName = "LOW" | "NORMAL" | "HIGH" | "CRITICAL";

const toWire: Record<JobState, JobStatus> = {
  PENDING: JobStatus.PENDING,
  ASSIGNED: JobStatus.ASSIGNED,
  RUNNING: JobStatus.RUNNING,
  SUCCEEDED: JobStatus.COMPLETED,
  FAILED: JobStatus.FAILED,
  CANCELLED: JobStatus.CANCELLED,
  TIMEOUT: JobStatus.TIMEOUT,
};

export function jobStatusToWire(s: JobState): JobStatus {
  return toWire[s];
}

/** Wire state to human name; undefined for UNSPECIFIED or an unknown number. */
export function jobStatusFromWire(s: JobStatus): JobState | undefined {
  switch (s) {
    case JobStatus.PENDING:
    case JobStatus.QUEUED:
      return "PENDING";
    case JobStatus.ASSIGNED:
      return "ASSIGNED";
    case JobStatus.RUNNING:
      return "RUNNING";
    case JobStatus.COMPLETED:
      return "SUCCEEDED";
    case JobStatus.FAILED:
      return "FAILED";
    case JobStatus.CANCELLED:
      return "CANCELLED";
    case JobStatus.TIMEOUT:
      return "TIMEOUT";
    default:
      return undefined;
  }
}

const priorityNames: Record<number, PriorityName> = {
  [Priority.UNSPECIFIED]: "NORMAL",
  [Priority.LOW]: "LOW",
  [Priority.NORMAL]: "NORMAL",
  [Priority.HIGH]: "HIGH",
  [Priority.CRITICAL]: "CRITICAL",
};

/** Wire priority to name; undefined for an unknown number. */
export function priorityFromWire(p: Priority): PriorityName | undefined {
  return priorityNames[p];
}

export function priorityToWire(p: PriorityName): Priority {
  return Priority[p];
}

export { timestampFromMs, timestampMs, type Timestamp };
