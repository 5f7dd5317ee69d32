// The operations one group-commit transaction applies, each kind as one multi-row statement that
// also writes its audit events, all sent together.
import { LogChunk } from "@hodei/api";
import { LOCAL_LANE, PRIORITY_RANK, type JobSpec, type JobState } from "@hodei/core";
import type { Database, Statement } from "./database.js";
import type { AuditEvent, JobRecord } from "./records.js";
import {
  JOB_COLUMNS,
  finishedFromRow,
  jobFromRow,
  specToRow,
  type FinishedJob,
  type FinishedRow,
  type JobRow,
} from "./rows.js";

export interface CreateJob {
  spec: JobSpec;
  queuedBy: string;
  actor: string;
  /** Where it runs (see laneKey); default "local". */
  lane?: string;
  /** Stored already ASSIGNED to this worker (a new job handed straight to an idle worker). */
  assign?: { workerId: string; executionId: string };
  /** The control plane process holding the job's secrets in memory: only it may claim the job. */
  secretsHolder?: string;
}
export interface Claim {
  /** One worker per job to claim; the same index of `executionIds` names the attempt. */
  workerIds: string[];
  executionIds: string[];
  /** The workers' lane: only its jobs are claimed. Default "local". */
  lane?: string;
  /** The claiming control plane process: jobs whose secrets another one holds are left alone. */
  holder?: string;
}
export interface MarkRunning {
  jobId: string;
  executionId: string;
  atMs: number;
}
export interface Finish {
  jobId: string;
  executionId: string;
  /** How the attempt ended. */
  status: JobState;
  exitCode: number | null;
  message: string;
  atMs: number;
  actor: string;
  /** Set: the attempt is recorded, and the job goes back to PENDING, claimable after this many ms. */
  retryAfterMs?: number;
  /**
   * How long the job's process ran, as its worker measured it: its start is recorded no later than
   * `atMs - ranMs`, however late the news of the start arrived (with the end, for a short job).
   */
  ranMs?: number;
}
export interface Requeue {
  jobId: string;
  executionId: string;
  reason: string;
}
export interface CancelPending {
  jobId: string;
  reason: string;
  actor: string;
}
export interface AppendLogs {
  jobId: string;
  chunk: LogChunk;
}

export interface ClaimResult {
  jobs: JobRecord[];
  /** Writes up to this epoch were visible to the claim. */
  epoch: number;
  /** Whether claimable jobs were left after this claim. */
  more: boolean;
}

export interface Op<I, R> {
  input: I;
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

/**
 * A `VALUES` list of typed parameters. Unlike a JSON record set, its row count is exact, so the planner
 * joins it to the primary-key index instead of scanning the table.
 */
function values(rows: unknown[][], types: string[], params: unknown[]): string {
  return rows.map((row) => `(${row.map((v, i) => `$${params.push(v)}::${types[i]}`).join(", ")})`).join(", ");
}

/** JSON for a jsonb parameter: escaped NULs (which jsonb refuses) become U+FFFD. */
function jsonText(value: unknown): string {
  const text = JSON.stringify(value);
  return text.includes("\\u0000") ? text.replace(/\\u0000/g, "\\ufffd") : text;
}

/** PostgreSQL text cannot hold NUL; a stray one in a reason or message must not fail a whole batch. */
function clean(text: string): string {
  return text.includes("\0") ? text.replace(/\0/g, "\uFFFD") : text;
}

const FINISHED_COLUMNS = "j.id, j.status, j.exit_code, j.message, j.worker_id, j.execution_id";

const AUDIT_INSERT = "INSERT INTO audit_logs (occurred_at, event_type, actor, correlation_id, payload)";

/** One statement of a batch, and what to make of its rows once it has run. */
interface Step {
  statement: Statement;
  take: (rows: unknown[]) => void;
}

export class WriteBatch {
  readonly creates: Op<CreateJob, boolean>[] = [];
  readonly claims: Op<Claim, ClaimResult>[] = [];
  /** The writer's epoch when this batch began to flush. */
  epoch = 0;
  readonly running: Op<MarkRunning, boolean>[] = [];
  readonly finishes: Op<Finish, FinishedJob | null>[] = [];
  readonly requeues: Op<Requeue, boolean>[] = [];
  readonly cancels: Op<CancelPending, JobRecord | null>[] = [];
  readonly logs: Op<AppendLogs, void>[] = [];
  readonly audits: Op<AuditEvent[], void>[] = [];
  /** Starts written together with their end, by execution id. */
  private readonly startsWithEnd = new Map<string, Op<MarkRunning, boolean>[]>();
  private settle: (() => void)[] = [];

  get size(): number {
    return (
      this.creates.length +
      this.claims.length +
      this.running.length +
      this.finishes.length +
      this.requeues.length +
      this.cancels.length +
      this.logs.length +
      this.audits.length
    );
  }

  /**
   * Applies everything as one transaction, in one round trip where the driver can: every kind of
   * operation is one statement that writes its own audit events. Results are handed out only by
   * `commit()`.
   */
  async apply(db: Database): Promise<void> {
    const steps: Step[] = [];
    this.stepCreates(steps);
    this.stepCancels(steps);
    // Lines before results: a job's last lines reach its followers before its end does.
    this.stepLogs(steps);
    this.stepRunning(steps);
    this.stepFinishes(steps);
    this.stepRequeues(steps);
    this.stepClaims(steps);
    this.stepAudits(steps);
    if (steps.length === 0) return;
    const results = await db.batch(steps.map((x) => x.statement));
    steps.forEach((x, i) => x.take(results[i] ?? []));
  }

  /** One batch per operation, in the order `apply` takes them: to find the one a failed batch choked on. */
  split(): WriteBatch[] {
    const out: WriteBatch[] = [];
    const each = <I, R>(ops: Op<I, R>[], list: (b: WriteBatch) => Op<I, R>[]) => {
      for (const op of ops) {
        const b = new WriteBatch();
        b.epoch = this.epoch;
        list(b).push(op);
        out.push(b);
      }
    };
    each(this.creates, (b) => b.creates);
    each(this.cancels, (b) => b.cancels);
    each(this.logs, (b) => b.logs);
    each(this.running, (b) => b.running);
    each(this.finishes, (b) => b.finishes);
    each(this.requeues, (b) => b.requeues);
    each(this.claims, (b) => b.claims);
    each(this.audits, (b) => b.audits);
    return out;
  }

  commit(): void {
    for (const s of this.settle) s();
  }

  fail(err: unknown): void {
    for (const list of [
      this.creates,
      this.claims,
      this.running,
      this.finishes,
      this.requeues,
      this.cancels,
      this.logs,
      this.audits,
    ]) {
      for (const op of list as Op<unknown, unknown>[]) op.reject(err);
    }
  }

  private stepCreates(steps: Step[]): void {
    if (this.creates.length === 0) return;
    const seen = new Set<string>();
    const rows = [];
    for (const op of this.creates) {
      if (seen.has(op.input.spec.id)) continue;
      seen.add(op.input.spec.id);
      const s = op.input.spec;
      rows.push({
        id: s.id,
        name: s.name,
        priority: PRIORITY_RANK[s.priority],
        priority_name: s.priority,
        spec: specToRow(s),
        queued_by: op.input.queuedBy,
        actor: op.input.actor,
        worker: op.input.assign?.workerId ?? null,
        exec: op.input.assign?.executionId ?? null,
        deadline: s.deadlineMs,
        lane: op.input.lane ?? LOCAL_LANE,
        holder: op.input.secretsHolder ?? null,
        ord: rows.length,
      });
    }
    steps.push({
      statement: {
        sql: `WITH x AS (
            SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(id text, name text, priority smallint,
              priority_name text, spec jsonb, queued_by text, actor text, worker text, exec text,
              deadline float8, lane text, holder text, ord int)
          ), ins AS (
            INSERT INTO jobs (id, name, status, priority, spec, queued_by, worker_id, execution_id, attempt, deadline_at, lane,
              secrets_holder)
            SELECT x.id, x.name, CASE WHEN x.worker IS NULL THEN 'PENDING' ELSE 'ASSIGNED' END, x.priority, x.spec,
              x.queued_by, x.worker, x.exec, CASE WHEN x.worker IS NULL THEN 0 ELSE 1 END,
              to_timestamp(x.deadline / 1000.0), x.lane, x.holder
            FROM x ORDER BY x.ord
            ON CONFLICT (id) DO NOTHING RETURNING id
          ), ex AS (
            INSERT INTO job_executions (id, job_id, attempt, worker_id, status)
            SELECT x.exec, x.id, 1, x.worker, 'ASSIGNED' FROM x JOIN ins ON ins.id = x.id WHERE x.worker IS NOT NULL
          ), au AS (
            ${AUDIT_INSERT}
            SELECT now(), e.event_type, e.actor, x.id, e.payload
            FROM x JOIN ins ON ins.id = x.id CROSS JOIN LATERAL (VALUES
              (0, 'JobCreated', x.actor,
                jsonb_build_object('name', x.name, 'priority', x.priority_name, 'queued_by', x.queued_by)),
              (1, 'JobAssigned', 'scheduler',
                jsonb_build_object('worker_id', x.worker, 'execution_id', x.exec, 'attempt', 1))
            ) AS e(k, event_type, actor, payload)
            WHERE e.k = 0 OR x.worker IS NOT NULL
            ORDER BY x.ord, e.k
          )
          SELECT id FROM ins`,
        params: [JSON.stringify(rows)],
      },
      take: (result) => {
        const created = new Set((result as { id: string }[]).map((x) => x.id));
        const claimed = new Set<string>();
        for (const op of this.creates) {
          const id = op.input.spec.id;
          const ok = created.has(id) && !claimed.has(id);
          if (ok) claimed.add(id);
          this.settle.push(() => op.resolve(ok));
        }
      },
    });
  }

  private stepCancels(steps: Step[]): void {
    for (const op of this.cancels) {
      const reason = clean(op.input.reason);
      steps.push({
        statement: {
          sql: `WITH u AS (
              UPDATE jobs SET status = 'CANCELLED', message = $2::text, finished_at = now(), updated_at = now()
              WHERE id = $1::text AND status = 'PENDING' RETURNING ${JOB_COLUMNS}
            ), au AS (
              ${AUDIT_INSERT}
              SELECT now(), 'JobStatusChanged', $3::text, u.id,
                jsonb_build_object('from', 'PENDING', 'to', 'CANCELLED', 'reason', $2::text)
              FROM u
            )
            SELECT * FROM u`,
          params: [op.input.jobId, reason, op.input.actor],
        },
        take: (result) => {
          const row = (result as JobRow[])[0];
          const job = row ? jobFromRow(row) : null;
          this.settle.push(() => op.resolve(job));
        },
      });
    }
  }

  private stepRunning(steps: Step[]): void {
    // A start whose end is in this very batch is written with that end: one statement fewer.
    const ending = new Set(this.finishes.map((o) => o.input.executionId));
    const alone: Op<MarkRunning, boolean>[] = [];
    for (const op of this.running) {
      if (!ending.has(op.input.executionId)) alone.push(op);
      else
        this.startsWithEnd.set(op.input.executionId, [
          ...(this.startsWithEnd.get(op.input.executionId) ?? []),
          op,
        ]);
    }
    if (alone.length === 0) return;
    const rows = alone.map((o, i) => [o.input.jobId, o.input.executionId, o.input.atMs, i]);
    const params: unknown[] = [];
    steps.push({
      statement: {
        sql: `WITH x AS (
            SELECT * FROM (VALUES ${values(rows, ["text", "text", "float8", "int4"], params)}) AS x(id, exec, at, ord)
          ), u AS (
            UPDATE jobs j SET status = 'RUNNING', started_at = to_timestamp(x.at / 1000.0), updated_at = now()
            FROM x WHERE j.id = x.id AND j.execution_id = x.exec AND j.status = 'ASSIGNED'
            RETURNING j.id, j.worker_id, x.exec, x.ord
          ), au AS (
            ${AUDIT_INSERT}
            SELECT now(), 'JobStatusChanged', 'worker:' || coalesce(u.worker_id, ''), u.id,
              jsonb_build_object('from', 'ASSIGNED', 'to', 'RUNNING', 'execution_id', u.exec)
            FROM u ORDER BY u.ord
          )
          SELECT id FROM u`,
        params,
      },
      take: (result) => {
        const applied = new Set((result as { id: string }[]).map((x) => x.id));
        for (const op of alone) {
          // One transition per job, however many times it was asked for.
          const ok = applied.delete(op.input.jobId);
          this.settle.push(() => op.resolve(ok));
        }
      },
    });
  }

  private stepFinishes(steps: Step[]): void {
    if (this.finishes.length === 0) return;
    const rows = this.finishes.map((o, i) => [
      o.input.jobId,
      o.input.executionId,
      o.input.status,
      o.input.exitCode,
      clean(o.input.message),
      o.input.atMs,
      o.input.retryAfterMs ?? null,
      this.startsWithEnd.get(o.input.executionId)?.[0]?.input.atMs ?? null,
      clean(o.input.actor),
      i,
      o.input.ranMs ?? null,
    ]);
    const types = [
      "text",
      "text",
      "text",
      "int4",
      "text",
      "float8",
      "float8",
      "float8",
      "text",
      "int4",
      "float8",
    ];
    const params: unknown[] = [];
    steps.push({
      statement: {
        // The attempt's record first, while the job row still names it (every part of one statement
        // sees the rows as they were before it).
        sql: `WITH x AS (
            SELECT * FROM (VALUES ${values(rows, types, params)})
              AS x(id, exec, status, exit_code, message, at, retry, started, actor, ord, ran)
          ), e AS (
            UPDATE job_executions e SET status = x.status, exit_code = x.exit_code, error_message = x.message,
              finished_at = to_timestamp(x.at / 1000.0),
              started_at = least(coalesce(e.started_at, (SELECT j.started_at FROM jobs j WHERE j.id = x.id),
                to_timestamp(x.started / 1000.0), to_timestamp(x.at / 1000.0)), to_timestamp((x.at - x.ran) / 1000.0))
            FROM x WHERE e.id = x.exec AND e.status IN ('ASSIGNED', 'RUNNING')
          ), u AS (
            UPDATE jobs j SET
              status = CASE WHEN x.retry IS NULL THEN x.status ELSE 'PENDING' END,
              exit_code = x.exit_code, message = x.message, updated_at = now(),
              finished_at = CASE WHEN x.retry IS NULL THEN to_timestamp(x.at / 1000.0) END,
              started_at = CASE WHEN x.retry IS NULL
                THEN least(coalesce(j.started_at, to_timestamp(x.started / 1000.0), to_timestamp(x.at / 1000.0)),
                  to_timestamp((x.at - x.ran) / 1000.0)) END,
              worker_id = CASE WHEN x.retry IS NULL THEN j.worker_id END,
              execution_id = CASE WHEN x.retry IS NULL THEN j.execution_id END,
              run_after = CASE WHEN x.retry IS NOT NULL THEN to_timestamp((x.at + x.retry) / 1000.0) END
            FROM x WHERE j.id = x.id AND j.execution_id = x.exec AND j.status IN ('ASSIGNED', 'RUNNING')
            RETURNING ${FINISHED_COLUMNS}, j.attempt, x.exec AS x_exec, x.status AS x_status, x.retry AS x_retry,
              x.started AS x_started, x.actor AS x_actor, x.ord AS x_ord
          ), au AS (
            ${AUDIT_INSERT}
            SELECT now(), 'JobStatusChanged', ev.actor, u.id, ev.payload
            FROM u CROSS JOIN LATERAL (VALUES
              (0, u.x_actor, jsonb_build_object('from', 'ASSIGNED', 'to', 'RUNNING', 'execution_id', u.x_exec)),
              (1, u.x_actor, jsonb_build_object('to', u.x_status, 'exit_code', u.exit_code,
                'execution_id', u.x_exec, 'message', u.message)),
              (2, 'scheduler', jsonb_build_object('to', 'PENDING', 'reason', 'retry after attempt ' || u.attempt,
                'retry_after_ms', round(u.x_retry)))
            ) AS ev(k, actor, payload)
            WHERE (ev.k = 0 AND u.x_started IS NOT NULL) OR ev.k = 1 OR (ev.k = 2 AND u.x_retry IS NOT NULL)
            ORDER BY u.x_ord, ev.k
          )
          SELECT id, status, exit_code, message, worker_id, execution_id FROM u`,
        params,
      },
      take: (result) => {
        const applied = new Map((result as FinishedRow[]).map((x) => [x.id, finishedFromRow(x)]));
        for (const op of this.finishes) {
          // One result per job, however many times it was reported.
          const job = applied.get(op.input.jobId) ?? null;
          applied.delete(op.input.jobId);
          const starts = this.startsWithEnd.get(op.input.executionId) ?? [];
          this.startsWithEnd.delete(op.input.executionId);
          starts.forEach((start, i) => this.settle.push(() => start.resolve(job !== null && i === 0)));
          this.settle.push(() => op.resolve(job));
        }
      },
    });
  }

  private stepRequeues(steps: Step[]): void {
    for (const op of this.requeues) {
      steps.push({
        statement: {
          sql: `WITH u AS (
              UPDATE jobs SET status = 'PENDING', worker_id = NULL, execution_id = NULL, message = $3::text, updated_at = now()
              WHERE id = $1::text AND execution_id = $2::text AND status IN ('ASSIGNED', 'RUNNING') RETURNING id
            ), e AS (
              UPDATE job_executions SET status = 'FAILED', error_message = $3::text, finished_at = now()
              WHERE id = $2::text AND status IN ('ASSIGNED', 'RUNNING')
            ), au AS (
              ${AUDIT_INSERT}
              SELECT now(), 'JobStatusChanged', 'system', u.id, jsonb_build_object('to', 'PENDING', 'reason', $3::text)
              FROM u
            )
            SELECT id FROM u`,
          params: [op.input.jobId, op.input.executionId, clean(op.input.reason)],
        },
        take: (result) => {
          const ok = result.length > 0;
          this.settle.push(() => op.resolve(ok));
        },
      });
    }
  }

  private stepClaims(steps: Step[]): void {
    const byLane = new Map<string, Op<Claim, ClaimResult>[]>();
    for (const op of this.claims) {
      const lane = op.input.lane ?? LOCAL_LANE;
      byLane.set(lane, [...(byLane.get(lane) ?? []), op]);
    }
    for (const [lane, ops] of byLane) this.stepClaimLane(steps, lane, ops);
  }

  private stepClaimLane(steps: Step[], lane: string, ops: Op<Claim, ClaimResult>[]): void {
    const slots = ops.flatMap((o) =>
      o.input.workerIds.map((w, i) => ({ op: o, worker: w, exec: o.input.executionIds[i]! })),
    );
    if (slots.length === 0) {
      for (const op of ops) this.settle.push(() => op.resolve({ jobs: [], epoch: this.epoch, more: true }));
      return;
    }
    const params: unknown[] = [];
    const workers = values(
      slots.map((x, i) => [i + 1, x.worker, x.exec]),
      ["int4", "text", "text"],
      params,
    );
    // One row more than wanted tells whether jobs are left waiting.
    const limit = params.push(slots.length + 1);
    const laneParam = params.push(lane);
    // One process's batch: every claim in it is made by the same holder.
    const holderParam = params.push(ops[0]?.input.holder ?? null);
    steps.push({
      statement: {
        sql: `WITH w AS (
            SELECT * FROM (VALUES ${workers}) AS w(rn, worker, exec)
          ), p AS (
            SELECT s.id, (row_number() OVER (ORDER BY s.priority DESC, s.seq))::int4 AS rn FROM (
              SELECT id, priority, seq FROM jobs
              WHERE lane = $${laneParam}::text AND status = 'PENDING' AND (run_after IS NULL OR run_after <= now())
                AND (secrets_holder IS NULL OR secrets_holder = $${holderParam}::text)
              ORDER BY priority DESC, seq LIMIT $${limit}::int4 FOR UPDATE SKIP LOCKED
            ) s
          ), u AS (
            UPDATE jobs j SET status = 'ASSIGNED', worker_id = w.worker, execution_id = w.exec,
              attempt = j.attempt + 1, run_after = NULL, exit_code = NULL, started_at = NULL,
              finished_at = NULL, updated_at = now()
            FROM p JOIN w ON w.rn = p.rn WHERE j.id = p.id
            RETURNING ${JOB_COLUMNS.split(", ")
              .map((c) => "j." + c)
              .join(", ")}, p.rn AS claim_rn
          ), ex AS (
            INSERT INTO job_executions (id, job_id, attempt, worker_id, status)
            SELECT u.execution_id, u.id, u.attempt, u.worker_id, 'ASSIGNED' FROM u
          ), au AS (
            ${AUDIT_INSERT}
            SELECT now(), 'JobAssigned', 'scheduler', u.id,
              jsonb_build_object('worker_id', u.worker_id, 'execution_id', u.execution_id, 'attempt', u.attempt)
            FROM u ORDER BY u.claim_rn
          )
          SELECT u.*, f.found FROM (SELECT count(*)::int4 AS found FROM p) f LEFT JOIN u ON true
          ORDER BY u.claim_rn`,
        params,
      },
      take: (result) => {
        const rows = result as (JobRow & { claim_rn: number | null; found: number })[];
        const more = (rows[0]?.found ?? 0) > slots.length;
        const byOp = new Map<Op<Claim, ClaimResult>, JobRecord[]>(ops.map((o) => [o, []]));
        for (const row of rows) {
          if (row.claim_rn === null || row.id === null) continue;
          const slot = slots[row.claim_rn - 1];
          if (slot) byOp.get(slot.op)!.push(jobFromRow(row));
        }
        for (const op of ops)
          this.settle.push(() => op.resolve({ jobs: byOp.get(op)!, epoch: this.epoch, more }));
      },
    });
  }

  private stepLogs(steps: Step[]): void {
    if (this.logs.length === 0) return;
    const params: unknown[] = [];
    const rows: string[] = [];
    for (const { jobId, chunk: c } of mergeChunks(this.logs.map((op) => op.input))) {
      const n = params.length;
      rows.push(
        `($${n + 1}::text, $${n + 2}::int8, $${n + 3}::int8, $${n + 4}::int4, $${n + 5}::int8, $${n + 6}::bytea)`,
      );
      params.push(jobId, c.firstSeq, c.lastSeq, c.count, c.textBytes, c.body);
    }
    steps.push({
      statement: {
        sql: `INSERT INTO job_log_chunks (job_id, first_seq, last_seq, line_count, bytes, body) VALUES ${rows.join(", ")}
            ON CONFLICT (job_id, first_seq) DO NOTHING`,
        params,
      },
      take: () => undefined,
    });
    for (const op of this.logs) this.settle.push(() => op.resolve());
  }

  /** Events written on their own (audit-only operations). */
  private stepAudits(steps: Step[]): void {
    const events: (AuditEvent & { at: number })[] = [];
    for (const op of this.audits) {
      for (const e of op.input) events.push({ ...e, at: Date.now() });
      this.settle.push(() => op.resolve());
    }
    if (events.length === 0) return;
    steps.push({
      statement: {
        sql: `${AUDIT_INSERT}
          SELECT to_timestamp(x.at / 1000.0), x.event_type, x.actor, x.correlation_id, x.payload
          FROM jsonb_to_recordset($1::jsonb) AS x(at float8, event_type text, actor text, correlation_id text, payload jsonb)`,
        params: [
          jsonText(
            events.map((e) => ({
              at: e.at,
              event_type: e.eventType,
              actor: e.actor,
              correlation_id: e.correlationId,
              payload: e.payload,
            })),
          ),
        ],
      },
      take: () => undefined,
    });
  }
}

/** A chunk this big is a row of its own: copying it into a bigger one would gain nothing. */
const ROW_ON_ITS_OWN_BYTES = 32 * 1024;

/**
 * A job's small chunks that follow one another (a worker's batches, one sequence after the other)
 * as one: fewer, bigger rows, read back just the same (lines are selected by sequence within a row).
 */
function mergeChunks(logs: readonly AppendLogs[]): AppendLogs[] {
  const out: AppendLogs[] = [];
  const runs = new Map<string, { at: number; parts: LogChunk[] }>();
  for (const l of logs) {
    const run = runs.get(l.jobId);
    const last = run?.parts[run.parts.length - 1];
    const small = l.chunk.body.length < ROW_ON_ITS_OWN_BYTES;
    if (
      run &&
      last &&
      small &&
      last.body.length < ROW_ON_ITS_OWN_BYTES &&
      l.chunk.firstSeq === last.lastSeq + 1
    ) {
      run.parts.push(l.chunk);
      continue;
    }
    if (run) out[run.at] = { jobId: l.jobId, chunk: LogChunk.concat(run.parts) };
    runs.set(l.jobId, { at: out.length, parts: [l.chunk] });
    out.push(l);
  }
  for (const [jobId, run] of runs) out[run.at] = { jobId, chunk: LogChunk.concat(run.parts) };
  return out;
}
