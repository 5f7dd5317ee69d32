// The operations one group-commit transaction applies, each kind as one multi-row statement.
import { LOCAL_LANE, PRIORITY_RANK, type JobSpec, type JobState } from "@hodei/core";
import type { Queryable } from "./database.js";
import type { AuditEvent, JobRecord, LogLineRecord } from "./records.js";
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
}
export interface Claim {
  /** One worker per job to claim; the same index of `executionIds` names the attempt. */
  workerIds: string[];
  executionIds: string[];
  /** The workers' lane: only its jobs are claimed. Default "local". */
  lane?: string;
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
  lines: LogLineRecord[];
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

/** PostgreSQL text cannot hold NUL; a stray one in a reason or message must not fail a whole batch. */
/** JSON for a jsonb parameter: escaped NULs (which jsonb refuses) become U+FFFD. */
function jsonText(value: unknown): string {
  const text = JSON.stringify(value);
  return text.includes("\\u0000") ? text.replace(/\\u0000/g, "\\ufffd") : text;
}

function clean(text: string): string {
  return text.includes("\0") ? text.replace(/\0/g, "\uFFFD") : text;
}

const FINISHED_COLUMNS = "j.id, j.status, j.exit_code, j.message, j.worker_id, j.execution_id";

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
  private audit: (AuditEvent & { at: number })[] = [];
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

  /** Applies everything in `tx`; results are handed out only by `commit()` after COMMIT. */
  async apply(tx: Queryable): Promise<void> {
    await this.applyCreates(tx);
    await this.applyCancels(tx);
    // Lines before results: a job's last lines reach its followers before its end does.
    await this.applyLogs(tx);
    await this.applyRunning(tx);
    await this.applyFinishes(tx);
    await this.applyRequeues(tx);
    await this.applyClaims(tx);
    for (const op of this.audits) {
      for (const e of op.input) this.audit.push({ ...e, at: Date.now() });
      this.settle.push(() => op.resolve());
    }
    if (this.audit.length > 0) {
      await tx.query(
        `INSERT INTO audit_logs (occurred_at, event_type, actor, correlation_id, payload)
         SELECT to_timestamp(x.at / 1000.0), x.event_type, x.actor, x.correlation_id, x.payload
         FROM jsonb_to_recordset($1::jsonb) AS x(at float8, event_type text, actor text, correlation_id text, payload jsonb)`,
        [
          jsonText(
            this.audit.map((e) => ({
              at: e.at,
              event_type: e.eventType,
              actor: e.actor,
              correlation_id: e.correlationId,
              payload: e.payload,
            })),
          ),
        ],
      );
    }
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

  private event(eventType: string, actor: string, jobId: string, payload: Record<string, unknown>): void {
    this.audit.push({ eventType, actor, correlationId: jobId, payload, at: Date.now() });
  }

  private async applyCreates(tx: Queryable): Promise<void> {
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
        spec: specToRow(s),
        queued_by: op.input.queuedBy,
        worker: op.input.assign?.workerId ?? null,
        exec: op.input.assign?.executionId ?? null,
        deadline: s.deadlineMs,
        lane: op.input.lane ?? LOCAL_LANE,
        ord: rows.length,
      });
    }
    const r = await tx.query<{ id: string }>(
      `INSERT INTO jobs (id, name, status, priority, spec, queued_by, worker_id, execution_id, attempt, deadline_at, lane)
       SELECT x.id, x.name, CASE WHEN x.worker IS NULL THEN 'PENDING' ELSE 'ASSIGNED' END, x.priority, x.spec,
         x.queued_by, x.worker, x.exec, CASE WHEN x.worker IS NULL THEN 0 ELSE 1 END, to_timestamp(x.deadline / 1000.0), x.lane
       FROM jsonb_to_recordset($1::jsonb)
         AS x(id text, name text, priority smallint, spec jsonb, queued_by text, worker text, exec text, deadline float8, lane text, ord int)
       ORDER BY x.ord
       ON CONFLICT (id) DO NOTHING RETURNING id`,
      [JSON.stringify(rows)],
    );
    const created = new Set(r.rows.map((x) => x.id));
    const claimed = new Set<string>();
    const assigned: unknown[][] = [];
    for (const op of this.creates) {
      const s = op.input.spec;
      const ok = created.has(s.id) && !claimed.has(s.id);
      if (ok) {
        claimed.add(s.id);
        this.event("JobCreated", op.input.actor, s.id, {
          name: s.name,
          priority: s.priority,
          queued_by: op.input.queuedBy,
        });
        const a = op.input.assign;
        if (a) {
          assigned.push([a.executionId, s.id, 1, a.workerId]);
          this.event("JobAssigned", "scheduler", s.id, {
            worker_id: a.workerId,
            execution_id: a.executionId,
            attempt: 1,
          });
        }
      }
      this.settle.push(() => op.resolve(ok));
    }
    if (assigned.length > 0) await this.insertExecutions(tx, assigned);
  }

  /** Rows of [execution id, job id, attempt, worker id]. */
  private async insertExecutions(tx: Queryable, rows: unknown[][]): Promise<void> {
    const params: unknown[] = [];
    await tx.query(
      `INSERT INTO job_executions (id, job_id, attempt, worker_id, status)
       SELECT x.id, x.job_id, x.attempt, x.worker_id, 'ASSIGNED'
       FROM (VALUES ${values(rows, ["text", "text", "int4", "text"], params)}) AS x(id, job_id, attempt, worker_id)`,
      params,
    );
  }

  private async applyCancels(tx: Queryable): Promise<void> {
    for (const op of this.cancels) {
      const r = await tx.query<JobRow>(
        `UPDATE jobs SET status = 'CANCELLED', message = $2, finished_at = now(), updated_at = now()
         WHERE id = $1 AND status = 'PENDING' RETURNING ${JOB_COLUMNS}`,
        [op.input.jobId, clean(op.input.reason)],
      );
      const job = r.rows[0] ? jobFromRow(r.rows[0]) : null;
      if (job) {
        this.event("JobStatusChanged", op.input.actor, job.id, {
          from: "PENDING",
          to: "CANCELLED",
          reason: op.input.reason,
        });
      }
      this.settle.push(() => op.resolve(job));
    }
  }

  private async applyRunning(tx: Queryable): Promise<void> {
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
    const rows = alone.map((o) => [o.input.jobId, o.input.executionId, o.input.atMs]);
    const types = ["text", "text", "float8"];
    const p1: unknown[] = [];
    const r = await tx.query<{ id: string; worker_id: string }>(
      `UPDATE jobs j SET status = 'RUNNING', started_at = to_timestamp(x.at / 1000.0), updated_at = now()
       FROM (VALUES ${values(rows, types, p1)}) AS x(id, exec, at)
       WHERE j.id = x.id AND j.execution_id = x.exec AND j.status = 'ASSIGNED' RETURNING j.id, j.worker_id`,
      p1,
    );
    const applied = new Map(r.rows.map((x) => [x.id, x.worker_id]));
    for (const op of alone) {
      // One transition per job, however many times it was asked for.
      const ok = applied.delete(op.input.jobId) || false;
      const workerId = r.rows.find((x) => x.id === op.input.jobId)?.worker_id;
      if (ok) {
        this.event("JobStatusChanged", `worker:${workerId}`, op.input.jobId, {
          from: "ASSIGNED",
          to: "RUNNING",
          execution_id: op.input.executionId,
        });
      }
      this.settle.push(() => op.resolve(ok));
    }
  }

  private async applyFinishes(tx: Queryable): Promise<void> {
    if (this.finishes.length === 0) return;
    const rows = this.finishes.map((o) => [
      o.input.jobId,
      o.input.executionId,
      o.input.status,
      o.input.exitCode,
      clean(o.input.message),
      o.input.atMs,
      o.input.retryAfterMs ?? null,
      this.startsWithEnd.get(o.input.executionId)?.[0]?.input.atMs ?? null,
    ]);
    const types = ["text", "text", "text", "int4", "text", "float8", "float8", "float8"];
    // The attempt's record first, while the job row still names it.
    const p2: unknown[] = [];
    await tx.query(
      `UPDATE job_executions e SET status = x.status, exit_code = x.exit_code, error_message = x.message,
         finished_at = to_timestamp(x.at / 1000.0),
         started_at = coalesce(e.started_at, (SELECT j.started_at FROM jobs j WHERE j.id = x.id),
           to_timestamp(x.started / 1000.0), to_timestamp(x.at / 1000.0))
       FROM (VALUES ${values(rows, types, p2)}) AS x(id, exec, status, exit_code, message, at, retry, started)
       WHERE e.id = x.exec AND e.status IN ('ASSIGNED', 'RUNNING')`,
      p2,
    );
    const p1: unknown[] = [];
    const r = await tx.query<FinishedRow>(
      `UPDATE jobs j SET
         status = CASE WHEN x.retry IS NULL THEN x.status ELSE 'PENDING' END,
         exit_code = x.exit_code, message = x.message, updated_at = now(),
         finished_at = CASE WHEN x.retry IS NULL THEN to_timestamp(x.at / 1000.0) END,
         started_at = CASE WHEN x.retry IS NULL
           THEN coalesce(j.started_at, to_timestamp(x.started / 1000.0), to_timestamp(x.at / 1000.0)) END,
         worker_id = CASE WHEN x.retry IS NULL THEN j.worker_id END,
         execution_id = CASE WHEN x.retry IS NULL THEN j.execution_id END,
         run_after = CASE WHEN x.retry IS NOT NULL THEN to_timestamp((x.at + x.retry) / 1000.0) END
       FROM (VALUES ${values(rows, types, p1)}) AS x(id, exec, status, exit_code, message, at, retry, started)
       WHERE j.id = x.id AND j.execution_id = x.exec AND j.status IN ('ASSIGNED', 'RUNNING')
       RETURNING ${FINISHED_COLUMNS}, j.attempt`,
      p1,
    );
    const applied = new Map(r.rows.map((x) => [x.id, finishedFromRow(x)]));
    for (const op of this.finishes) {
      // One result per job, however many times it was reported.
      const job = applied.get(op.input.jobId) ?? null;
      applied.delete(op.input.jobId);
      const starts = this.startsWithEnd.get(op.input.executionId) ?? [];
      this.startsWithEnd.delete(op.input.executionId);
      starts.forEach((start, i) => {
        const started = job !== null && i === 0;
        if (started) {
          this.event("JobStatusChanged", op.input.actor, job.id, {
            from: "ASSIGNED",
            to: "RUNNING",
            execution_id: op.input.executionId,
          });
        }
        this.settle.push(() => start.resolve(started));
      });
      if (job) {
        this.event("JobStatusChanged", op.input.actor, job.id, {
          to: op.input.status,
          exit_code: job.exitCode,
          execution_id: op.input.executionId,
          message: job.message,
        });
        if (op.input.retryAfterMs !== undefined) {
          this.event("JobStatusChanged", "scheduler", job.id, {
            to: "PENDING",
            reason: `retry after attempt ${r.rows.find((x) => x.id === job.id)?.attempt ?? "?"}`,
            retry_after_ms: Math.round(op.input.retryAfterMs),
          });
        }
      }
      this.settle.push(() => op.resolve(job));
    }
  }

  private async applyRequeues(tx: Queryable): Promise<void> {
    for (const op of this.requeues) {
      const r = await tx.query(
        `UPDATE jobs SET status = 'PENDING', worker_id = NULL, execution_id = NULL, message = $3, updated_at = now()
         WHERE id = $1 AND execution_id = $2 AND status IN ('ASSIGNED', 'RUNNING') RETURNING id`,
        [op.input.jobId, op.input.executionId, clean(op.input.reason)],
      );
      await tx.query(
        `UPDATE job_executions SET status = 'FAILED', error_message = $2, finished_at = now() WHERE id = $1 AND status IN ('ASSIGNED', 'RUNNING')`,
        [op.input.executionId, clean(op.input.reason)],
      );
      const ok = r.rowCount > 0;
      if (ok)
        this.event("JobStatusChanged", "system", op.input.jobId, { to: "PENDING", reason: op.input.reason });
      this.settle.push(() => op.resolve(ok));
    }
  }

  private async applyClaims(tx: Queryable): Promise<void> {
    const byLane = new Map<string, Op<Claim, ClaimResult>[]>();
    for (const op of this.claims) {
      const lane = op.input.lane ?? LOCAL_LANE;
      byLane.set(lane, [...(byLane.get(lane) ?? []), op]);
    }
    for (const [lane, ops] of byLane) await this.claimLane(tx, lane, ops);
  }

  private async claimLane(tx: Queryable, lane: string, ops: Op<Claim, ClaimResult>[]): Promise<void> {
    const wanted = ops.reduce((n, o) => n + o.input.workerIds.length, 0);
    if (wanted === 0) {
      for (const op of ops) this.settle.push(() => op.resolve({ jobs: [], epoch: this.epoch, more: true }));
      return;
    }
    // One row more than wanted tells whether jobs are left waiting, without another query.
    const found = await tx.query<{ id: string }>(
      `SELECT id FROM jobs WHERE lane = $2 AND status = 'PENDING' AND (run_after IS NULL OR run_after <= now())
       ORDER BY priority DESC, seq LIMIT $1 FOR UPDATE SKIP LOCKED`,
      [wanted + 1, lane],
    );
    const more = found.rows.length > wanted;
    const picked = { rows: found.rows.slice(0, wanted) };
    const slots = ops.flatMap((o) =>
      o.input.workerIds.map((w, i) => ({ op: o, worker: w, exec: o.input.executionIds[i]! })),
    );
    const rows = picked.rows.map((p, i) => ({ id: p.id, worker: slots[i]!.worker, exec: slots[i]!.exec }));
    const byOp = new Map<Op<Claim, ClaimResult>, JobRecord[]>(ops.map((o) => [o, []]));
    if (rows.length > 0) {
      const p1: unknown[] = [];
      const r = await tx.query<JobRow>(
        `UPDATE jobs j SET status = 'ASSIGNED', worker_id = x.worker, execution_id = x.exec, attempt = j.attempt + 1, run_after = NULL,
           exit_code = NULL, started_at = NULL, finished_at = NULL, updated_at = now()
         FROM (VALUES ${values(
           rows.map((x) => [x.id, x.worker, x.exec]),
           ["text", "text", "text"],
           p1,
         )}) AS x(id, worker, exec)
         WHERE j.id = x.id RETURNING ${JOB_COLUMNS.split(", ")
           .map((c) => "j." + c)
           .join(", ")}`,
        p1,
      );
      const jobs = new Map(r.rows.map((row) => [row.id, jobFromRow(row)]));
      await this.insertExecutions(
        tx,
        [...jobs.values()].map((j) => [j.executionId, j.id, j.attempt, j.workerId]),
      );
      picked.rows.forEach((p, i) => {
        const job = jobs.get(p.id);
        if (!job) return;
        byOp.get(slots[i]!.op)!.push(job);
        this.event("JobAssigned", "scheduler", job.id, {
          worker_id: job.workerId,
          execution_id: job.executionId,
          attempt: job.attempt,
        });
      });
    }
    for (const op of ops)
      this.settle.push(() => op.resolve({ jobs: byOp.get(op)!, epoch: this.epoch, more }));
  }

  private async applyLogs(tx: Queryable): Promise<void> {
    if (this.logs.length === 0) return;
    const params: unknown[] = [];
    const values: string[] = [];
    for (const op of this.logs) {
      const lines = op.input.lines;
      if (lines.length === 0) continue;
      let bytes = 0;
      const packed = lines.map((l) => {
        bytes += l.line.length;
        return [l.sequence, l.timestampMs, l.isStderr ? 1 : 0, l.line];
      });
      const n = params.length;
      values.push(`($${n + 1}, $${n + 2}, $${n + 3}, $${n + 4}, $${n + 5}, $${n + 6})`);
      params.push(
        op.input.jobId,
        lines[0]!.sequence,
        lines[lines.length - 1]!.sequence,
        lines.length,
        bytes,
        JSON.stringify(packed),
      );
    }
    if (values.length > 0) {
      await tx.query(
        `INSERT INTO job_log_chunks (job_id, first_seq, last_seq, line_count, bytes, lines) VALUES ${values.join(", ")}
         ON CONFLICT (job_id, first_seq) DO NOTHING`,
        params,
      );
    }
    for (const op of this.logs) this.settle.push(() => op.resolve());
  }
}
