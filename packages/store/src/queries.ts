// Reads, and the few writes that are not on the hot path.
import { createHash } from "node:crypto";
import { LogChunk } from "@hodei/api";
import { LOCAL_LANE, type JobState } from "@hodei/core";
import type { Database, Queryable } from "./database.js";
import type { AuditRecord, ExecutionRecord, JobRecord, LogLineRecord, WorkerRecord } from "./records.js";
import {
  JOB_COLUMNS,
  auditFromRow,
  executionFromRow,
  jobFromRow,
  workerFromRow,
  type AuditRow,
  type ExecutionRow,
  type JobRow,
  type WorkerRow,
} from "./rows.js";

export async function getJob(q: Queryable, id: string): Promise<JobRecord | null> {
  const r = await q.query<JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = $1`, [id]);
  return r.rows[0] ? jobFromRow(r.rows[0]) : null;
}

export async function getExecutions(q: Queryable, jobId: string): Promise<ExecutionRecord[]> {
  // The attempt under way is written once, when it ends; until then the job row tells its state.
  const r = await q.query<ExecutionRow>(
    `SELECT e.id, e.job_id, e.attempt, e.worker_id, e.assigned_at, e.finished_at, e.exit_code, e.error_message,
       CASE WHEN e.finished_at IS NULL AND j.execution_id = e.id THEN j.status ELSE e.status END AS status,
       coalesce(e.started_at, CASE WHEN j.execution_id = e.id THEN j.started_at END) AS started_at
     FROM job_executions e JOIN jobs j ON j.id = e.job_id WHERE e.job_id = $1 ORDER BY e.attempt`,
    [jobId],
  );
  return r.rows.map(executionFromRow);
}

export interface JobFilter {
  status?: JobState;
  search?: string;
  limit: number;
  offset: number;
}

/** Newest first. `search` matches id, name or command, case-insensitively. */
export async function listJobs(q: Queryable, f: JobFilter): Promise<{ jobs: JobRecord[]; total: number }> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (f.status) {
    params.push(f.status);
    where.push(`status = $${params.length}`);
  }
  if (f.search) {
    params.push(`%${f.search.replace(/[\\%_]/g, (c) => "\\" + c)}%`);
    where.push(
      `(id ILIKE $${params.length} OR name ILIKE $${params.length} OR spec->>'command' ILIKE $${params.length})`,
    );
  }
  const cond = where.length ? `WHERE ${where.join(" AND ")}` : "";
  const total = await q.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobs ${cond}`, params);
  const rows = await q.query<JobRow>(
    `SELECT ${JOB_COLUMNS} FROM jobs ${cond} ORDER BY seq DESC LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
    [...params, f.limit, f.offset],
  );
  return { jobs: rows.rows.map(jobFromRow), total: total.rows[0]?.n ?? 0 };
}

/** Jobs of `lane` a claim could take now, counted up to `limit` (cheap however long the queue). */
/** Jobs a claim by `holder` may take: those without secrets and those whose secrets it holds. */
const HELD_BY = (param: string) => `(secrets_holder IS NULL OR secrets_holder = ${param}::text)`;

export async function countClaimable(
  q: Queryable,
  limit: number,
  lane = LOCAL_LANE,
  holder: string | null = null,
): Promise<number> {
  const r = await q.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM (
       SELECT 1 FROM jobs WHERE lane = $2 AND status = 'PENDING' AND (run_after IS NULL OR run_after <= now())
         AND ${HELD_BY("$3")} LIMIT $1) s`,
    [limit, lane, holder],
  );
  return r.rows[0]?.n ?? 0;
}

/**
 * For each lane with waiting jobs, how many a claim could take now, counted up to `limit`. The lanes
 * are found by a loose index scan (one index probe per lane), so this costs the same with a thousand
 * waiting jobs or a million.
 */
export async function claimableByLane(
  q: Queryable,
  limit: number,
  holder: string | null = null,
): Promise<Map<string, number>> {
  const r = await q.query<{ lane: string; n: number }>(
    `WITH RECURSIVE l(lane) AS (
       (SELECT lane FROM jobs WHERE status = 'PENDING' ORDER BY lane LIMIT 1)
       UNION ALL
       SELECT (SELECT j.lane FROM jobs j WHERE j.status = 'PENDING' AND j.lane > l.lane ORDER BY j.lane LIMIT 1)
       FROM l WHERE l.lane IS NOT NULL)
     SELECT l.lane, (SELECT count(*) FROM (
         SELECT 1 FROM jobs j WHERE j.lane = l.lane AND j.status = 'PENDING'
           AND (j.run_after IS NULL OR j.run_after <= now()) AND ${HELD_BY("$2")} LIMIT $1) s)::int AS n
     FROM l WHERE l.lane IS NOT NULL`,
    [limit, holder],
  );
  return new Map(r.rows.filter((x) => x.n > 0).map((x) => [x.lane, x.n]));
}

export async function countJobsByStatus(q: Queryable): Promise<Record<JobState, number>> {
  const r = await q.query<{ status: JobState; n: number }>(
    `SELECT status, count(*)::int AS n FROM jobs GROUP BY status`,
  );
  const out: Record<JobState, number> = {
    PENDING: 0,
    ASSIGNED: 0,
    RUNNING: 0,
    SUCCEEDED: 0,
    FAILED: 0,
    CANCELLED: 0,
    TIMEOUT: 0,
  };
  for (const row of r.rows) out[row.status] = row.n;
  return out;
}

/** Jobs in ASSIGNED or RUNNING: after a restart, their workers must reconnect or the jobs are failed. */
export async function activeJobs(q: Queryable): Promise<JobRecord[]> {
  const r = await q.query<JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE status IN ('ASSIGNED', 'RUNNING')`);
  return r.rows.map(jobFromRow);
}

export interface LogPage {
  lines: LogLineRecord[];
  hasMore: boolean;
}

export interface LogChunkPage {
  chunks: LogChunk[];
  hasMore: boolean;
}

interface LogChunkRow {
  first_seq: number | string;
  last_seq: number | string;
  line_count: number;
  bytes: number | string;
  lines: string | null;
  body: Uint8Array | null;
}

function chunkFromRow(row: LogChunkRow): LogChunk {
  if (row.body === null) {
    // Written before chunks were bytes: a JSON array of [sequence, timestamp_ms, is_stderr, text].
    const lines = (JSON.parse(row.lines ?? "[]") as [number, number, number, string][]).map(
      ([sequence, timestampMs, err, line]) => ({ sequence, timestampMs, isStderr: err === 1, line }),
    );
    return LogChunk.fromLines(lines);
  }
  const body = Buffer.isBuffer(row.body)
    ? row.body
    : Buffer.from(row.body.buffer, row.body.byteOffset, row.body.byteLength);
  return new LogChunk(Number(row.first_seq), Number(row.last_seq), row.line_count, Number(row.bytes), body);
}

/** The most log chunk rows read at once. */
const MAX_CHUNK_ROWS = 64;

/** A job's stored lines with a sequence above `sinceSequence`, `limit` at most, as stored chunks (or parts). */
export async function getLogChunks(
  q: Queryable,
  jobId: string,
  sinceSequence: number,
  limit: number,
): Promise<LogChunkPage> {
  const chunks: LogChunk[] = [];
  let left = limit;
  let after = sinceSequence;
  // Rows are read a few at a time, as many as the lines still wanted seem to need (judging by the
  // rows read so far), plus one to tell whether more follow: a chunk's body is the costly part.
  let rowsRead = 0;
  let linesRead = 0;
  for (;;) {
    const perRow = rowsRead > 0 ? Math.max(1, linesRead / rowsRead) : Number.POSITIVE_INFINITY;
    const want = Math.min(MAX_CHUNK_ROWS, Math.max(2, Math.ceil(left / perRow) + 1));
    const r = await q.query<LogChunkRow>(
      `SELECT first_seq, last_seq, line_count, bytes, lines, body FROM job_log_chunks
        WHERE job_id = $1 AND last_seq > $2 ORDER BY first_seq LIMIT $3`,
      [jobId, after, want],
    );
    for (const row of r.rows) {
      // Every row read holds a line past `sinceSequence`: one more when the page is full.
      if (left === 0) return { chunks, hasMore: true };
      rowsRead++;
      linesRead += row.line_count;
      const part = chunkFromRow(row).select(sinceSequence, Number.MAX_SAFE_INTEGER, left);
      if (part) {
        chunks.push(part);
        left -= part.count;
        if (part.lastSeq < Number(row.last_seq)) return { chunks, hasMore: true };
      }
      after = Number(row.last_seq);
    }
    if (r.rows.length < want) return { chunks, hasMore: false };
  }
}

/** As getLogChunks, one object per line. */
export async function getLogs(
  q: Queryable,
  jobId: string,
  sinceSequence: number,
  limit: number,
): Promise<LogPage> {
  const page = await getLogChunks(q, jobId, sinceSequence, limit);
  return { lines: page.chunks.flatMap((c) => c.lines()), hasMore: page.hasMore };
}

/** The last `n` lines of a job's log, as chunks. */
export async function tailLogChunks(q: Queryable, jobId: string, n: number): Promise<LogChunk[]> {
  if (n <= 0) return [];
  const r = await q.query<{ first_seq: number; line_count: number }>(
    `SELECT first_seq, line_count FROM job_log_chunks WHERE job_id = $1 ORDER BY first_seq DESC`,
    [jobId],
  );
  let need = n;
  let from = 0;
  for (const c of r.rows) {
    from = Number(c.first_seq) - 1;
    need -= c.line_count;
    if (need <= 0) break;
  }
  const { chunks } = await getLogChunks(q, jobId, from, Number.MAX_SAFE_INTEGER);
  // The first chunk may start before the last n lines (and lines may have come since the count).
  let extra = chunks.reduce((k, c) => k + c.count, 0) - n;
  while (extra > 0 && chunks.length > 0) {
    const c = chunks[0]!;
    if (extra >= c.count) chunks.shift();
    else chunks[0] = c.skip(extra)!;
    extra -= c.count;
  }
  return chunks;
}

/** The last `n` lines of a job's log. */
export async function tailLogs(q: Queryable, jobId: string, n: number): Promise<LogLineRecord[]> {
  return (await tailLogChunks(q, jobId, n)).flatMap((c) => c.lines());
}

export async function maxLogSequence(q: Queryable, jobId: string): Promise<number> {
  const r = await q.query<{ m: number | null }>(
    `SELECT max(last_seq) AS m FROM job_log_chunks WHERE job_id = $1`,
    [jobId],
  );
  return Number(r.rows[0]?.m ?? 0);
}

export async function auditByCorrelation(q: Queryable, correlationId: string): Promise<AuditRecord[]> {
  const r = await q.query<AuditRow>(`SELECT * FROM audit_logs WHERE correlation_id = $1 ORDER BY id`, [
    correlationId,
  ]);
  return r.rows.map(auditFromRow);
}

export interface AuditFilter {
  eventType?: string;
  correlationId?: string;
  sinceMs?: number;
  untilMs?: number;
  limit: number;
  offset: number;
}

/** Oldest first, as a history reads. */
export async function listAudit(
  q: Queryable,
  f: AuditFilter,
): Promise<{ logs: AuditRecord[]; total: number }> {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (sql: string, v: unknown) => {
    params.push(v);
    where.push(sql.replace("?", `$${params.length}`));
  };
  if (f.eventType) add("event_type = ?", f.eventType);
  if (f.correlationId) add("correlation_id = ?", f.correlationId);
  if (f.sinceMs !== undefined) add("occurred_at >= to_timestamp(? / 1000.0)", f.sinceMs);
  if (f.untilMs !== undefined) add("occurred_at < to_timestamp(? / 1000.0)", f.untilMs);
  const cond = where.length ? `WHERE ${where.join(" AND ")}` : "";
  const total = await q.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_logs ${cond}`, params);
  const rows = await q.query<AuditRow>(
    `SELECT * FROM audit_logs ${cond} ORDER BY id LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
    [...params, f.limit, f.offset],
  );
  return { logs: rows.rows.map(auditFromRow), total: total.rows[0]?.n ?? 0 };
}

/** How many events of each type, since `sinceMs` (all when undefined). */
export async function auditEventCounts(q: Queryable, sinceMs?: number): Promise<Record<string, number>> {
  const r = await q.query<{ event_type: string; n: number }>(
    `SELECT event_type, count(*)::int AS n FROM audit_logs
     ${sinceMs === undefined ? "" : "WHERE occurred_at >= to_timestamp($1 / 1000.0)"} GROUP BY event_type`,
    sinceMs === undefined ? [] : [sinceMs],
  );
  return Object.fromEntries(r.rows.map((row) => [row.event_type, row.n]));
}

/**
 * A finished job goes back to the queue for a new attempt (its earlier attempts stay recorded).
 * Null when the job does not exist or has not finished.
 */
export async function rerunJob(
  db: Database,
  id: string,
  reason: string,
  actor: string,
): Promise<JobRecord | null> {
  return db.transaction(async (tx) => {
    const r = await tx.query<JobRow>(
      `UPDATE jobs SET status = 'PENDING', worker_id = NULL, execution_id = NULL, exit_code = NULL, message = $2,
         started_at = NULL, finished_at = NULL, run_after = NULL, updated_at = now()
       WHERE id = $1 AND status IN ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMEOUT') RETURNING ${JOB_COLUMNS}`,
      [id, reason],
    );
    const job = r.rows[0] ? jobFromRow(r.rows[0]) : null;
    if (job) {
      await tx.query(
        `INSERT INTO audit_logs (event_type, actor, correlation_id, payload) VALUES ('JobStatusChanged', $1, $2, $3)`,
        [actor, id, JSON.stringify({ to: "PENDING", reason, retry_of_attempt: job.attempt })],
      );
    }
    return job;
  });
}

/** PENDING jobs past their deadline end TIMEOUT, with the reason and an audit event; their ids. */
export async function expireOverdueJobs(
  db: Database,
  nowMs = Date.now(),
): Promise<{ id: string; message: string }[]> {
  return db.transaction(async (tx) => {
    const r = await tx.query<{ id: string; message: string }>(
      `UPDATE jobs SET status = 'TIMEOUT', finished_at = now(), updated_at = now(),
         message = 'waited past its deadline (' || to_char(deadline_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || ') for a worker'
       WHERE status = 'PENDING' AND deadline_at IS NOT NULL AND deadline_at <= to_timestamp($1 / 1000.0)
       RETURNING id, message`,
      [nowMs],
    );
    await auditWaitingEnded(tx, r.rows, "TIMEOUT", "deadline");
    return r.rows;
  });
}

/** The scheduler's audit events for waiting jobs it ended, written in the transaction that ended them. */
async function auditWaitingEnded(
  tx: Queryable,
  jobs: readonly { id: string }[],
  to: JobState,
  reason: string,
): Promise<void> {
  if (jobs.length === 0) return;
  await tx.query(
    `INSERT INTO audit_logs (event_type, actor, correlation_id, payload)
     SELECT 'JobStatusChanged', 'scheduler', id, jsonb_build_object('from', 'PENDING', 'to', $2::text, 'reason', $3::text)
     FROM unnest($1::text[]) AS id`,
    [jobs.map((x) => x.id), to, reason],
  );
}

/** A control plane process says it is alive (at start, then every few seconds). */
export async function markControlPlaneAlive(q: Queryable, id: string): Promise<void> {
  await q.query(
    `INSERT INTO control_planes (id) VALUES ($1) ON CONFLICT (id) DO UPDATE SET last_seen_at = now()`,
    [id],
  );
}

/** A control plane process stops, or (`except`) every other one is known gone (an embedded database). */
export async function forgetControlPlanes(
  q: Queryable,
  which: { id: string } | { except: string },
): Promise<void> {
  if ("id" in which) await q.query(`DELETE FROM control_planes WHERE id = $1`, [which.id]);
  else await q.query(`DELETE FROM control_planes WHERE id <> $1`, [which.except]);
}

/**
 * Waiting jobs whose secrets were held by a control plane process that is gone (stopped, or silent
 * for `staleMs`) end FAILED: their secrets were never stored, so nothing can run them as queued.
 */
export async function failJobsOfGoneHolders(
  db: Database,
  self: string,
  staleMs: number,
): Promise<{ id: string; message: string }[]> {
  return db.transaction(async (tx) => {
    const r = await tx.query<{ id: string; message: string }>(
      `UPDATE jobs j SET status = 'FAILED', finished_at = now(), updated_at = now(), run_after = NULL,
         message = 'its secrets were held in the memory of control plane ' || j.secrets_holder ||
           ', which stopped before the job could start; secrets are never stored: queue the job again'
       WHERE j.status = 'PENDING' AND j.secrets_holder IS NOT NULL AND j.secrets_holder <> $1
         AND NOT EXISTS (SELECT 1 FROM control_planes c WHERE c.id = j.secrets_holder
           AND c.last_seen_at > now() - $2 * interval '1 ms')
       RETURNING j.id, j.message`,
      [self, staleMs],
    );
    // Rows of control planes that crashed long ago (a clean stop deletes its own): nothing needs them.
    await tx.query(`DELETE FROM control_planes WHERE last_seen_at < now() - interval '1 day'`);
    await auditWaitingEnded(tx, r.rows, "FAILED", "secrets_lost");
    return r.rows;
  });
}

export interface RetentionResult {
  chunks: number;
  lines: number;
  bytes: number;
}

/** Deletes the stored log lines written before `cutoffMs`, except those of jobs still under way. */
export async function deleteLogsBefore(q: Queryable, cutoffMs: number): Promise<RetentionResult> {
  const r = await q.query<{ chunks: number; lines: number | null; bytes: number | null }>(
    `WITH gone AS (
       DELETE FROM job_log_chunks c WHERE c.created_at < to_timestamp($1 / 1000.0)
         AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = c.job_id AND j.status IN ('ASSIGNED', 'RUNNING'))
       RETURNING line_count, bytes)
     SELECT count(*)::int AS chunks, sum(line_count)::int AS lines, sum(bytes)::int AS bytes FROM gone`,
    [cutoffMs],
  );
  const row = r.rows[0];
  return { chunks: row?.chunks ?? 0, lines: row?.lines ?? 0, bytes: row?.bytes ?? 0 };
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** Records a new worker and its one-time token (only the hash is stored). */
export async function createWorker(
  q: Queryable,
  w: { id: string; provider: string; token: string; ttlMs: number; lane?: string },
): Promise<void> {
  await q.query(
    `INSERT INTO workers (id, provider, state, lane) VALUES ($1, $2, 'CREATING', $3) ON CONFLICT (id) DO NOTHING`,
    [w.id, w.provider, w.lane ?? ""],
  );
  await q.query(
    `INSERT INTO worker_tokens (token_hash, worker_id, expires_at) VALUES ($1, $2, now() + $3 * interval '1 millisecond')`,
    [hashToken(w.token), w.id, w.ttlMs],
  );
}

export type TokenCheck = "ok" | "unknown" | "used" | "expired" | "wrong_worker";

/** Consumes a one-time token for `workerId`: it works once, before it expires, for that worker only. */
export async function consumeToken(q: Queryable, token: string, workerId: string): Promise<TokenCheck> {
  const r = await q.query<{ worker_id: string; used: boolean; expired: boolean }>(
    `UPDATE worker_tokens t SET used_at = coalesce(t.used_at, CASE WHEN t.worker_id = $2 AND t.expires_at > now() THEN now() END)
     FROM worker_tokens old WHERE t.token_hash = $1 AND old.token_hash = t.token_hash
     RETURNING t.worker_id, old.used_at IS NOT NULL AS used, t.expires_at <= now() AS expired`,
    [hashToken(token), workerId],
  );
  const row = r.rows[0];
  if (!row) return "unknown";
  if (row.used) return "used";
  if (row.worker_id !== workerId) return "wrong_worker";
  if (row.expired) return "expired";
  return "ok";
}

export async function updateWorker(
  q: Queryable,
  id: string,
  fields: { state: string; hostname?: string; labels?: Record<string, string>; reason?: string },
): Promise<void> {
  await q.query(
    `UPDATE workers SET state = $2, hostname = coalesce($3, hostname), labels = coalesce($4::jsonb, labels),
       reason = coalesce($5, reason),
       registered_at = CASE WHEN $2 = 'READY' THEN coalesce(registered_at, now()) ELSE registered_at END,
       provisioned_ms = CASE WHEN $2 = 'READY' AND provisioned_ms IS NULL
         THEN (extract(epoch FROM (now() - created_at)) * 1000)::int ELSE provisioned_ms END,
       terminated_at = CASE WHEN $2 = 'TERMINATED' THEN now() ELSE terminated_at END
     WHERE id = $1`,
    [
      id,
      fields.state,
      fields.hostname ?? null,
      fields.labels ? JSON.stringify(fields.labels) : null,
      fields.reason ?? null,
    ],
  );
}

export async function listWorkers(q: Queryable, liveOnly: boolean): Promise<WorkerRecord[]> {
  const r = await q.query<WorkerRow>(
    `SELECT * FROM workers ${liveOnly ? "WHERE state <> 'TERMINATED'" : ""} ORDER BY created_at DESC LIMIT 1000`,
  );
  return r.rows.map(workerFromRow);
}

export interface ProviderRecord {
  name: string;
  kind: string;
  enabled: boolean;
  /** "env" when configured from the control plane's environment, "api" when registered. */
  source: string;
  config: Record<string, string>;
  createdAt: Date;
  updatedAt: Date;
}

interface ProviderRow {
  name: string;
  kind: string;
  enabled: boolean;
  source: string;
  config: Record<string, string> | string;
  created_at: Date;
  updated_at: Date;
}

function providerFromRow(r: ProviderRow): ProviderRecord {
  return {
    name: r.name,
    kind: r.kind,
    enabled: r.enabled,
    source: r.source,
    config: typeof r.config === "string" ? (JSON.parse(r.config) as Record<string, string>) : r.config,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export async function listProviderRecords(q: Queryable): Promise<ProviderRecord[]> {
  const r = await q.query<ProviderRow>(`SELECT * FROM providers ORDER BY created_at, name`);
  return r.rows.map(providerFromRow);
}

/** Inserts a provider; false when one of that name exists. */
export async function insertProviderRecord(
  q: Queryable,
  p: Pick<ProviderRecord, "name" | "kind" | "enabled" | "source" | "config">,
): Promise<ProviderRecord | null> {
  const r = await q.query<ProviderRow>(
    `INSERT INTO providers (name, kind, enabled, source, config) VALUES ($1, $2, $3, $4, $5::jsonb)
     ON CONFLICT (name) DO NOTHING RETURNING *`,
    [p.name, p.kind, p.enabled, p.source, JSON.stringify(p.config)],
  );
  return r.rows[0] ? providerFromRow(r.rows[0]) : null;
}

/** The record of an environment-configured provider: its config follows the environment, its enabled flag the API. */
export async function upsertEnvProvider(
  q: Queryable,
  p: Pick<ProviderRecord, "name" | "kind" | "config">,
): Promise<ProviderRecord> {
  const r = await q.query<ProviderRow>(
    `INSERT INTO providers (name, kind, enabled, source, config) VALUES ($1, $2, true, 'env', $3::jsonb)
     ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, source = 'env', config = excluded.config, updated_at = now()
     RETURNING *`,
    [p.name, p.kind, JSON.stringify(p.config)],
  );
  return providerFromRow(r.rows[0]!);
}

export async function updateProviderRecord(
  q: Queryable,
  name: string,
  fields: { enabled?: boolean; config?: Record<string, string> },
): Promise<ProviderRecord | null> {
  const r = await q.query<ProviderRow>(
    `UPDATE providers SET enabled = coalesce($2, enabled), config = coalesce($3::jsonb, config), updated_at = now()
     WHERE name = $1 RETURNING *`,
    [name, fields.enabled ?? null, fields.config ? JSON.stringify(fields.config) : null],
  );
  return r.rows[0] ? providerFromRow(r.rows[0]) : null;
}

export async function deleteProviderRecord(q: Queryable, name: string): Promise<boolean> {
  const r = await q.query(`DELETE FROM providers WHERE name = $1`, [name]);
  return r.rowCount > 0;
}

export interface ProviderUsage {
  workersCreated: number;
  /** Workers that never registered (creation failed or timed out). */
  workersFailed: number;
  jobsRun: number;
  jobsFailed: number;
  provisionP50Ms: number;
  provisionP99Ms: number;
  provisionAvgMs: number;
}

/** What a provider's workers have done, from the stored workers and executions. */
export async function providerUsage(q: Queryable, name: string): Promise<ProviderUsage> {
  const w = await q.query<{
    created: number;
    failed: number;
    p50: number | null;
    p99: number | null;
    avg: number | null;
  }>(
    `SELECT count(*)::int AS created,
       count(*) FILTER (WHERE state = 'TERMINATED' AND registered_at IS NULL)::int AS failed,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY provisioned_ms)::float8 AS p50,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY provisioned_ms)::float8 AS p99,
       avg(provisioned_ms)::float8 AS avg
     FROM workers WHERE provider = $1`,
    [name],
  );
  const e = await q.query<{ run: number; failed: number }>(
    `SELECT count(*)::int AS run,
       count(*) FILTER (WHERE e.status IN ('FAILED', 'TIMEOUT'))::int AS failed
     FROM job_executions e JOIN workers w ON w.id = e.worker_id WHERE w.provider = $1`,
    [name],
  );
  const ws = w.rows[0];
  return {
    workersCreated: ws?.created ?? 0,
    workersFailed: ws?.failed ?? 0,
    jobsRun: e.rows[0]?.run ?? 0,
    jobsFailed: e.rows[0]?.failed ?? 0,
    provisionP50Ms: ws?.p50 ?? 0,
    provisionP99Ms: ws?.p99 ?? 0,
    provisionAvgMs: ws?.avg ?? 0,
  };
}

/** Waiting jobs placed on one provider's lanes (up to `limit`). */
export async function pendingJobsOfProvider(
  q: Queryable,
  provider: string,
  limit = 10_000,
): Promise<string[]> {
  const r = await q.query<{ id: string }>(
    `SELECT id FROM jobs WHERE status = 'PENDING' AND (lane = $1 OR lane LIKE $2) ORDER BY seq LIMIT $3`,
    [provider, `${provider.replace(/[%_\\]/g, "\\$&")}|%`, limit],
  );
  return r.rows.map((x) => x.id);
}
