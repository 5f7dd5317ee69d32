import type { Metadata, ServerWritableStream } from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  ExecutionEventSchema,
  JobExecutionService,
  LogEntrySchema,
  LogStreamService,
  jobStatusFromWire,
  jobStatusToWire,
  writeEncoded,
  type GrpcHandlers,
  type LogChunk,
  type LogEntry,
} from "@hodei/api";
import { HodeiError, invalid, validateJobId } from "@hodei/core";
import { getJob, getLogs, type Database, type LogLineRecord } from "@hodei/store";
import type { EventBus } from "./events.js";
import {
  definitionsFromWire,
  jobToWire,
  queueJobsAnswer,
  queuedAnswer,
  specFromDefinition,
} from "./job-mapper.js";
import { toGrpcStatus as toStatus } from "./error-map.js";
import type { JobService } from "./job-service.js";
import { followLogs } from "./log-follow.js";

export function actorOf(md: Metadata, fallback: string): string {
  const user = md.get("x-user-id")[0];
  return typeof user === "string" && user ? user : fallback || "anonymous";
}

function jobIdOf(v: string | undefined, field = "job_id.value"): string {
  if (!v) throw invalid(field, "is required");
  return validateJobId(v, field);
}

function bounded(n: number, field: string, fallback: number, max: number): number {
  if (n < 0) throw invalid(field, "must not be negative");
  if (n === 0) return fallback;
  return Math.min(n, max);
}

export function jobHandlers(jobs: JobService, bus: EventBus): GrpcHandlers<typeof JobExecutionService> {
  return {
    async queueJob(req, call) {
      const parsed = specFromDefinition(req.jobDefinition);
      const queuedBy = req.queuedBy || actorOf(call.metadata, "anonymous");
      return queuedAnswer(await jobs.queue(parsed, queuedBy, actorOf(call.metadata, queuedBy)));
    },
    async queueJobs(req, call) {
      const parsed = definitionsFromWire(req.jobDefinitions);
      const queuedBy = req.queuedBy || actorOf(call.metadata, "anonymous");
      return queueJobsAnswer(
        parsed,
        await jobs.queueMany(parsed, queuedBy, actorOf(call.metadata, queuedBy)),
      );
    },
    async getJob(req) {
      const { job, executions } = await jobs.get(jobIdOf(req.jobId?.value));
      return { job: jobToWire(job, executions) };
    },
    async getJobStatus(req) {
      const job = await jobs.status(jobIdOf(req.jobId?.value));
      return {
        jobId: { value: job.id },
        status: jobStatusToWire(job.status),
        statusName: job.status,
        exitCode: job.exitCode ?? undefined,
        message: job.message,
        updatedAt: timestampFromDate(job.updatedAt),
        workerId: job.workerId ?? "",
        attempt: job.attempt,
      };
    },
    async listJobs(req) {
      const limit = bounded(req.limit, "limit", 50, 1000);
      if (req.offset < 0) throw invalid("offset", "must not be negative");
      const status = req.status === 0 ? undefined : jobStatusFromWire(req.status);
      if (req.status !== 0 && !status) throw invalid("status", `unknown status ${req.status}`);
      const { jobs: list, total } = await jobs.list({
        status,
        search: req.searchTerm || undefined,
        limit,
        offset: req.offset,
      });
      return {
        jobs: list.map((j) => jobToWire(j)),
        totalCount: total,
        hasMore: req.offset + list.length < total,
      };
    },
    async cancelJob(req, call) {
      const r = await jobs.cancel(jobIdOf(req.jobId?.value), req.reason, actorOf(call.metadata, "anonymous"));
      return { success: true, message: r.message, status: jobStatusToWire(r.status) };
    },
    async retryJob(req, call) {
      const job = await jobs.retry(
        jobIdOf(req.jobId?.value),
        req.reason,
        actorOf(call.metadata, "anonymous"),
      );
      return {
        success: true,
        message: `job ${job.id} queued again as attempt ${job.attempt + 1}`,
        executionId: "",
      };
    },
    executionEventStream(call) {
      const only = call.request.jobId?.value;
      const wanted = new Set<string>();
      for (const s of call.request.statuses) {
        const status = jobStatusFromWire(s);
        if (!status) {
          const err = invalid("statuses", `unknown status ${s}`);
          call.emit("error", Object.assign(new Error(), toStatus(err)));
          return;
        }
        wanted.add(status);
      }
      const off = bus.onJob((e) => {
        if (only && e.jobId !== only) return;
        // No statuses asked for: every status.
        if (wanted.size > 0 && !wanted.has(e.status)) return;
        call.write(
          create(ExecutionEventSchema, {
            jobId: { value: e.jobId },
            status: jobStatusToWire(e.status),
            statusName: e.status,
            previousStatus: e.previous ? jobStatusToWire(e.previous) : 0,
            occurredAt: timestampFromMs(e.atMs),
            workerId: e.workerId ?? "",
            exitCode: e.exitCode ?? undefined,
            message: e.message,
            executionId: e.executionId ?? "",
          }),
        );
      });
      const end = () => off();
      call.on("cancelled", end);
      call.on("close", end);
      call.on("error", end);
    },
  };
}

function entry(jobId: string, l: LogLineRecord): LogEntry {
  return create(LogEntrySchema, {
    jobId,
    line: l.line,
    isStderr: l.isStderr,
    timestamp: timestampFromMs(l.timestampMs),
    sequence: BigInt(l.sequence),
  });
}

/** The most lines one SubscribeLogs message carries, whatever the subscriber asks. */
const MAX_LINES_PER_MESSAGE = 65_536;

/** Line text per SubscribeLogs message, beyond which a batched message is cut (one line may exceed it). */
const MESSAGE_TEXT_BYTES = 1 << 20;

/**
 * Sends a chunk as LogEntry messages spliced from its stored bytes: `perMessage` lines at most in
 * each, or with `blocks` `perMessage` entries, a block of text as it is.
 */
async function writeChunk(
  call: ServerWritableStream<unknown, LogEntry>,
  jobId: string,
  chunk: LogChunk,
  perMessage: number,
  blocks: boolean,
): Promise<void> {
  const stream = call as ServerWritableStream<unknown, unknown>;
  for (const message of chunk.splices(jobId, perMessage, MESSAGE_TEXT_BYTES, blocks))
    await writeEncoded(stream, message);
}

export function logHandlers(db: Database, bus: EventBus): GrpcHandlers<typeof LogStreamService> {
  return {
    async subscribeLogs(call) {
      const ctrl = new AbortController();
      call.on("cancelled", () => ctrl.abort());
      const req = call.request;
      try {
        const jobId = jobIdOf(req.jobId, "job_id");
        if (req.tailLines < 0) throw invalid("tail_lines", "must not be negative");
        if (req.sinceSequence < 0n) throw invalid("since_sequence", "must not be negative");
        if (req.maxLinesPerMessage < 0) throw invalid("max_lines_per_message", "must not be negative");
        const perMessage = Math.min(req.maxLinesPerMessage, MAX_LINES_PER_MESSAGE);
        // Blocks only go in `more`-aware messages: a one-line-per-message subscriber reads lines.
        const blocks = req.textBlocks && perMessage > 1;
        const opts = {
          includeHistory: req.includeHistory,
          tailLines: req.tailLines,
          sinceSequence: Number(req.sinceSequence),
          follow: true,
        };
        for await (const chunk of followLogs(db, bus, jobId, opts, ctrl.signal)) {
          await writeChunk(call as ServerWritableStream<unknown, LogEntry>, jobId, chunk, perMessage, blocks);
        }
        call.end();
      } catch (err) {
        // emit, not destroy: grpc-js sends the status from the error handler; a destroyed call sends none.
        call.emit("error", Object.assign(new Error(), toStatus(err)));
      }
    },
    async getLogs(req) {
      const jobId = jobIdOf(req.jobId, "job_id");
      const limit = bounded(req.limit, "limit", 1000, 10_000);
      if (req.sinceSequence < 0n) throw invalid("since_sequence", "must not be negative");
      const page = await getLogs(db, jobId, Number(req.sinceSequence), limit);
      if (page.lines.length === 0 && !(await getJob(db, jobId)))
        throw new HodeiError("JOB_NOT_FOUND", `job ${jobId} not found`);
      const last = page.lines[page.lines.length - 1];
      return {
        entries: page.lines.map((l) => entry(jobId, l)),
        hasMore: page.hasMore,
        nextSequence: BigInt(last ? last.sequence : Number(req.sinceSequence)),
      };
    },
  };
}
