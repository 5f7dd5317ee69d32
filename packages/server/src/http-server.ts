// REST on :8080: the same JobService as gRPC, JSON in proto field names, SSE for following logs.
import type { IncomingMessage } from "node:http";
import Fastify, { type FastifyInstance, type FastifyReply } from "fastify";
import { create, fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import {
  JobDefinitionSchema,
  JobSchema,
  QueueJobRequestSchema,
  QueueJobsJsonError,
  QueueJobsResponseSchema,
  queueJobsFromJson,
  type JobDefinition,
} from "@hodei/api";
import { HodeiError, coerceError, invalid, validateJobId, type JobState } from "@hodei/core";
import {
  countJobsByStatus,
  getJob,
  getLogs,
  listAudit,
  type Database,
  type LogLineRecord,
} from "@hodei/store";
import { toHttp } from "./error-map.js";
import type { EventBus } from "./events.js";
import { definitionsFromWire, jobToWire, queueJobsAnswer, specFromDefinition } from "./job-mapper.js";
import type { JobService } from "./job-service.js";
import { followLogs } from "./log-follow.js";
import type { WorkerRegistry } from "./worker-registry.js";
import type { ProviderManager } from "./provider-manager.js";
import { registerProviderRoutes } from "./http-providers.js";

const STATES: readonly JobState[] = [
  "PENDING",
  "ASSIGNED",
  "RUNNING",
  "SUCCEEDED",
  "FAILED",
  "CANCELLED",
  "TIMEOUT",
];
const json = (v: unknown) => v as JsonValue;

const BODY_LIMIT = 2 * 1024 * 1024;
/** A refused body is read and dropped up to this much, then the connection is cut. */
const MAX_DRAIN_BYTES = 64 * 1024 * 1024;

/**
 * Fastify answers a body over the limit before reading it, with `connection: close`; the socket then
 * closes while the client is still sending, the client's kernel gets a reset, and a client that
 * writes its whole body before reading (fetch, most libraries) sees "EPIPE" instead of our 413. So
 * the rest of the body is read and dropped (up to MAX_DRAIN_BYTES) and the connection stays open
 * for the answer, as a web server's lingering close does.
 */
function drainRefusedBody(raw: IncomingMessage, reply: FastifyReply): void {
  if (raw.complete) return;
  reply.removeHeader("connection");
  let drained = 0;
  raw.on("data", (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > MAX_DRAIN_BYTES) raw.socket.destroy();
  });
  raw.resume();
}

function intParam(raw: string | undefined, name: string, fallback: number, max: number): number {
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0)
    throw invalid(name, `must be a non-negative integer, got ${JSON.stringify(raw)}`);
  return Math.min(n, max);
}

function parseDefinition(body: unknown): { def: JobDefinition; queuedBy: string } {
  if (body === null || typeof body !== "object" || Array.isArray(body))
    throw invalid("body", "must be a JSON object");
  try {
    const b = body as Record<string, unknown>;
    if ("job_definition" in b || "jobDefinition" in b) {
      const req = fromJson(QueueJobRequestSchema, json(body));
      return { def: req.jobDefinition ?? fromJson(JobDefinitionSchema, {}), queuedBy: req.queuedBy };
    }
    return { def: fromJson(JobDefinitionSchema, json(body)), queuedBy: "" };
  } catch (err) {
    throw invalid("body", (err as Error).message);
  }
}

/** A QueueJobsRequest body, or a bare array of definitions; INVALID_ARGUMENT naming where not. */
function parseDefinitions(body: unknown): { defs: JobDefinition[]; queuedBy: string } {
  try {
    const { jobDefinitions, queuedBy } = queueJobsFromJson(body);
    return { defs: jobDefinitions, queuedBy };
  } catch (err) {
    if (err instanceof QueueJobsJsonError) throw invalid(err.where, err.message);
    throw err;
  }
}

const logJson = (l: LogLineRecord) => ({
  sequence: l.sequence,
  timestamp: new Date(l.timestampMs).toISOString(),
  is_stderr: l.isStderr,
  line: l.line,
});

export function buildHttpServer(
  db: Database,
  jobs: JobService,
  bus: EventBus,
  registry: WorkerRegistry,
  providerManager: ProviderManager,
): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: BODY_LIMIT });
  app.setErrorHandler((err, req, reply) => {
    const e = err as { statusCode?: number; message: string; code?: string };
    if (e.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      drainRefusedBody(req.raw, reply);
      return reply.status(413).send({
        error: { code: "INVALID_ARGUMENT", message: `request body is larger than ${BODY_LIMIT} bytes` },
      });
    }
    if (e.statusCode && e.statusCode < 500 && !(err instanceof HodeiError)) {
      return reply.status(e.statusCode).send({ error: { code: "INVALID_ARGUMENT", message: e.message } });
    }
    const { statusCode, body } = toHttp(coerceError(err));
    return reply.status(statusCode).send(body);
  });
  const toJob = (v: ReturnType<typeof jobToWire>) => toJson(JobSchema, v, { useProtoFieldName: true });

  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async (_req, reply) => {
    try {
      await db.query("SELECT 1");
      return { status: "ready", database: db.kind };
    } catch (err) {
      return reply.status(503).send({ status: "not ready", error: String(err) });
    }
  });

  app.get<{ Querystring: Record<string, string | undefined> }>("/api/jobs", async (req) => {
    const q = req.query;
    const status = q.status
      ? q.status.toUpperCase() === "COMPLETED"
        ? "SUCCEEDED"
        : q.status.toUpperCase()
      : undefined;
    if (status && !STATES.includes(status as JobState))
      throw invalid("status", `must be one of ${STATES.join(", ")}`);
    const limit = intParam(q.limit, "limit", 50, 1000) || 50;
    const offset = intParam(q.offset, "offset", 0, Number.MAX_SAFE_INTEGER);
    const r = await jobs.list({
      status: status as JobState | undefined,
      search: q.q || q.search || undefined,
      limit,
      offset,
    });
    return {
      jobs: r.jobs.map((j) => toJob(jobToWire(j))),
      total: r.total,
      has_more: offset + r.jobs.length < r.total,
    };
  });

  app.get<{ Params: { id: string } }>("/api/jobs/:id", async (req) => {
    const { job, executions } = await jobs.get(validateJobId(req.params.id, "id"));
    return toJob(jobToWire(job, executions));
  });

  app.post("/api/jobs", async (req, reply) => {
    const { def, queuedBy } = parseDefinition(req.body);
    const user = (req.headers["x-user-id"] as string | undefined) || queuedBy || "anonymous";
    const job = await jobs.queue(specFromDefinition(def), queuedBy || user, user);
    return reply
      .status(201)
      .send({ job_id: job.id, status: job.status, queued_at: job.createdAt.toISOString() });
  });

  // QueueJobs over HTTP: 200 with a result per definition (201 is for one job made).
  app.post("/api/jobs/batch", async (req) => {
    const { defs, queuedBy } = parseDefinitions(req.body);
    const parsed = definitionsFromWire(defs);
    const user = (req.headers["x-user-id"] as string | undefined) || queuedBy || "anonymous";
    const answer = queueJobsAnswer(parsed, await jobs.queueMany(parsed, queuedBy || user, user));
    return toJson(QueueJobsResponseSchema, create(QueueJobsResponseSchema, answer), {
      useProtoFieldName: true,
      alwaysEmitImplicit: true,
    });
  });

  app.post<{ Params: { id: string }; Body: { reason?: string } | undefined }>(
    "/api/jobs/:id/cancel",
    async (req) => {
      const user = (req.headers["x-user-id"] as string | undefined) || "anonymous";
      const r = await jobs.cancel(validateJobId(req.params.id, "id"), req.body?.reason ?? "", user);
      return { job_id: req.params.id, status: r.status, message: r.message };
    },
  );

  app.post<{ Params: { id: string }; Body: { reason?: string } | undefined }>(
    "/api/jobs/:id/retry",
    async (req) => {
      const user = (req.headers["x-user-id"] as string | undefined) || "anonymous";
      const job = await jobs.retry(validateJobId(req.params.id, "id"), req.body?.reason ?? "", user);
      return { job_id: job.id, status: "PENDING", attempt: job.attempt + 1 };
    },
  );

  app.get<{ Params: { id: string }; Querystring: Record<string, string | undefined> }>(
    "/api/jobs/:id/logs",
    async (req, reply) => {
      const id = validateJobId(req.params.id, "id");
      const since = intParam(
        req.query.since ?? (req.headers["last-event-id"] as string | undefined),
        "since",
        0,
        Number.MAX_SAFE_INTEGER,
      );
      if (req.query.follow !== "true" && req.query.follow !== "1") {
        if (!(await getJob(db, id))) throw new HodeiError("JOB_NOT_FOUND", `job ${id} not found`);
        const page = await getLogs(db, id, since, intParam(req.query.limit, "limit", 1000, 10_000) || 1000);
        const last = page.lines[page.lines.length - 1];
        return {
          job_id: id,
          entries: page.lines.map(logJson),
          has_more: page.hasMore,
          next_sequence: last ? last.sequence : since,
        };
      }
      if (!(await getJob(db, id))) throw new HodeiError("JOB_NOT_FOUND", `job ${id} not found`);
      const ctrl = new AbortController();
      req.raw.on("close", () => ctrl.abort());
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        "content-type": "text/event-stream",
        "cache-control": "no-cache",
        connection: "keep-alive",
      });
      try {
        for await (const chunk of followLogs(
          db,
          bus,
          id,
          { includeHistory: true, tailLines: 0, sinceSequence: since, follow: true },
          ctrl.signal,
        )) {
          let text = "";
          for (const l of chunk.lines())
            text += `id: ${l.sequence}\nevent: log\ndata: ${JSON.stringify(logJson(l))}\n\n`;
          if (!res.write(text)) await new Promise((resolve) => res.once("drain", resolve));
        }
        const final = await getJob(db, id);
        res.end(
          `event: end\ndata: ${JSON.stringify({ status: final?.status, exit_code: final?.exitCode })}\n\n`,
        );
      } catch (err) {
        res.end(`event: error\ndata: ${JSON.stringify(toHttp(err).body)}\n\n`);
      }
    },
  );

  app.get<{ Querystring: Record<string, string | undefined> }>("/api/audit-logs", async (req) => {
    const q = req.query;
    const limit = intParam(q.limit, "limit", 100, 1000) || 100;
    const offset = intParam(q.offset, "offset", 0, Number.MAX_SAFE_INTEGER);
    const { logs, total } = await listAudit(db, {
      limit,
      offset,
      eventType: q.event_type || undefined,
      correlationId: q.correlation_id || undefined,
    });
    return {
      logs: logs.map((a) => ({
        id: a.id,
        occurred_at: a.occurredAt.toISOString(),
        event_type: a.eventType,
        actor: a.actor,
        correlation_id: a.correlationId,
        payload: a.payload,
      })),
      total,
      has_more: offset + logs.length < total,
    };
  });

  app.get("/api/queue", async () => {
    const c = await countJobsByStatus(db);
    const w = registry.counts();
    return { jobs: c, workers: w };
  });

  app.get("/api/workers", async () => ({
    workers: registry.all().map((w) => ({
      id: w.id,
      provider: w.provider,
      state: w.state,
      hostname: w.hostname,
      current_job_id: w.job?.jobId ?? null,
    })),
  }));

  registerProviderRoutes(app, providerManager);
  return app;
}
