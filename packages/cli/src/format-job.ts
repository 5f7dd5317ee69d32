/** Human output for jobs and their logs. Pure: the current time is passed in. */
import {
  jobStatusFromWire,
  priorityFromWire,
  timestampMs,
  type Job,
  type LogEntry,
  type Timestamp,
} from "@hodei/api";
import { commandLine } from "@hodei/core";
import { EXIT } from "./errors.js";
import {
  formatClock,
  formatDateTime,
  formatDuration,
  formatKeyValues,
  formatTable,
  truncate,
} from "./format.js";

function ms(t: Timestamp | undefined): number | undefined {
  return t && (t.seconds !== 0n || t.nanos !== 0) ? timestampMs(t) : undefined;
}

/** `HH:MM:SS.mmm [OUT|ERR] line`, optionally prefixed (e.g. with the job id). */
export function formatLogLine(entry: LogEntry, prefix = ""): string {
  const at = ms(entry.timestamp);
  const clock = at === undefined ? "--:--:--.---" : formatClock(at);
  return `${prefix}${clock} [${entry.isStderr ? "ERR" : "OUT"}] ${entry.line}`;
}

export function jobStateName(job: Pick<Job, "status" | "statusName">): string {
  return jobStatusFromWire(job.status) ?? (job.statusName || "UNKNOWN");
}

export function isTerminal(job: Pick<Job, "status" | "statusName">): boolean {
  return ["SUCCEEDED", "FAILED", "CANCELLED", "TIMEOUT"].includes(jobStateName(job));
}

/** How long the job ran (or has been running), if it started. */
export function jobDurationMs(job: Job, nowMs: number): number | undefined {
  const started = ms(job.startedAt);
  if (started === undefined) return undefined;
  return (ms(job.finishedAt) ?? nowMs) - started;
}

/** The command as the worker runs it, or a description of the script. */
export function jobCommandText(job: Job): string {
  const def = job.definition;
  if (!def) return "";
  if (def.script && def.script.content.trim() !== "") {
    const lines = def.script.content.trimEnd().split("\n").length;
    return `${def.script.interpreter || "bash"} script, ${lines} line${lines === 1 ? "" : "s"}`;
  }
  return commandLine(def.command, def.arguments);
}

/** The name, or the command when the job has none of its own (the server names it after its id). */
function displayName(job: Job): string {
  return job.name && job.name !== job.jobId?.value ? job.name : jobCommandText(job);
}

export function formatJobsTable(jobs: readonly Job[], nowMs: number): string {
  const rows = jobs.map((j) => {
    const created = ms(j.createdAt);
    const duration = jobDurationMs(j, nowMs);
    return [
      j.jobId?.value ?? "",
      truncate(displayName(j), 32),
      jobStateName(j),
      j.exitCode === undefined ? "-" : String(j.exitCode),
      created === undefined ? "-" : formatDateTime(created),
      duration === undefined ? "-" : formatDuration(duration),
    ];
  });
  return formatTable(["ID", "NAME", "STATUS", "EXIT", "CREATED", "DURATION"], rows);
}

function when(t: Timestamp | undefined): string | undefined {
  const at = ms(t);
  return at === undefined ? undefined : formatDateTime(at);
}

export function formatJobDetails(job: Job, nowMs: number): string {
  const duration = jobDurationMs(job, nowMs);
  const def = job.definition;
  const head = formatKeyValues([
    ["id", job.jobId?.value ?? ""],
    ["name", job.name || undefined],
    ["status", jobStateName(job)],
    ["exit code", job.exitCode === undefined ? undefined : String(job.exitCode)],
    ["message", job.message || undefined],
    ["command", jobCommandText(job)],
    ["image", def?.image || undefined],
    ["priority", priorityFromWire(job.priority)],
    ["queued by", job.queuedBy || undefined],
    ["created", when(job.createdAt)],
    ["started", when(job.startedAt)],
    ["finished", when(job.finishedAt)],
    ["duration", duration === undefined ? undefined : formatDuration(duration)],
    ["worker", job.workerId || undefined],
    ["attempt", job.attempt > 0 ? String(job.attempt) : undefined],
    ["executions", job.executions.length > 0 ? String(job.executions.length) : undefined],
  ]);
  if (job.executions.length === 0) return head;
  const rows = job.executions.map((e) => {
    const started = ms(e.startedAt);
    const finished = ms(e.finishedAt);
    return [
      `  #${e.attempt}`,
      e.executionId,
      jobStatusFromWire(e.status) ?? (e.statusName || "UNKNOWN"),
      e.exitCode === undefined ? "-" : String(e.exitCode),
      e.workerId || "-",
      started === undefined ? "-" : formatDateTime(started),
      started === undefined ? "-" : formatDuration((finished ?? nowMs) - started),
      e.errorMessage ? truncate(e.errorMessage, 60) : "",
    ];
  });
  return `${head}\n\n${formatTable(["  ATTEMPT", "EXECUTION", "STATUS", "EXIT", "WORKER", "STARTED", "DURATION", "ERROR"], rows)}`;
}

/** One line for stderr when `job run` ends: `job hello-1 SUCCEEDED exit 0 in 1.02s`. */
export function formatJobSummary(job: Job, nowMs: number): string {
  const parts = [`job ${job.jobId?.value ?? "?"}`, jobStateName(job)];
  if (job.exitCode !== undefined) parts.push(`exit ${job.exitCode}`);
  const duration = jobDurationMs(job, nowMs);
  if (duration !== undefined) parts.push(`in ${formatDuration(duration)}`);
  const text = parts.join(" ");
  return job.message && jobStateName(job) !== "SUCCEEDED" ? `${text}: ${job.message}` : text;
}

/** The exit code `job run` leaves with for a finished job. */
export function jobRunExitCode(job: Job): number {
  switch (jobStateName(job)) {
    case "SUCCEEDED":
      return clampExit(job.exitCode ?? 0);
    case "CANCELLED":
      return EXIT.JOB_CANCELLED;
    case "TIMEOUT":
      return EXIT.JOB_TIMEOUT;
    default: {
      const code = clampExit(job.exitCode ?? 1);
      return code === 0 ? EXIT.FAILURE : code;
    }
  }
}

function clampExit(code: number): number {
  return Number.isInteger(code) && code >= 0 && code <= 255 ? code : EXIT.FAILURE;
}
