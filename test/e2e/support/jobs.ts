// Job helpers over our typed gRPC client: queue, wait for a terminal state, read a whole log.
import type { Client } from "@grpc/grpc-js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  JobExecutionService,
  LogStreamService,
  unary,
  type GetJobStatusResponse,
  type JobDefinitionSchema,
  type LogEntry,
} from "@hodei/api";
import { waitFor } from "./wait.js";

export const TERMINAL = new Set(["SUCCEEDED", "FAILED", "CANCELLED", "TIMEOUT"]);

export async function queueJob(
  client: Client,
  definition: MessageInitShape<typeof JobDefinitionSchema>,
  queuedBy = "e2e",
): Promise<string> {
  const res = await unary(client, JobExecutionService.method.queueJob, {
    jobDefinition: definition,
    queuedBy,
  });
  if (!res.jobId?.value) throw new Error(`QueueJob answered no job id: ${res.message}`);
  return res.jobId.value;
}

export function jobStatus(client: Client, id: string): Promise<GetJobStatusResponse> {
  return unary(client, JobExecutionService.method.getJobStatus, { jobId: { value: id } });
}

/** Polls GetJobStatus until the job is in a terminal state (SUCCEEDED, FAILED, ...). */
export function waitForJobEnd(client: Client, id: string, timeoutMs = 30_000): Promise<GetJobStatusResponse> {
  return waitFor(
    async () => {
      const s = await jobStatus(client, id);
      return TERMINAL.has(s.statusName) ? s : undefined;
    },
    { timeoutMs, what: `job ${id} to finish` },
  );
}

/** Resolves once the job is RUNNING (on a worker, its process started). */
export function waitForJobRunning(
  client: Client,
  id: string,
  timeoutMs = 20_000,
): Promise<GetJobStatusResponse> {
  return waitFor(
    async () => {
      const s = await jobStatus(client, id);
      return s.statusName === "RUNNING" ? s : undefined;
    },
    { timeoutMs, what: `job ${id} to be RUNNING` },
  );
}

/** Every stored log entry of a job, following GetLogs pages. */
export async function allLogs(client: Client, id: string): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  let since = 0n;
  for (;;) {
    const page = await unary(client, LogStreamService.method.getLogs, {
      jobId: id,
      limit: 1000,
      sinceSequence: since,
    });
    out.push(...page.entries);
    if (!page.hasMore || page.entries.length === 0) return out;
    since = page.nextSequence;
  }
}

export async function logLines(client: Client, id: string): Promise<string[]> {
  return (await allLogs(client, id)).map((e) => e.line);
}
