import { HodeiError, TERMINAL_STATES, isTerminal, type JobState } from "@hodei/core";
import type { Database } from "./database.js";
import type { AuditEvent, JobRecord } from "./records.js";
import type { ClaimResult } from "./write-batch.js";
import type { FinishedJob } from "./rows.js";
import {
  WriteBatch,
  type AppendLogs,
  type CancelPending,
  type Claim,
  type CreateJob,
  type Finish,
  type MarkRunning,
  type Op,
  type Requeue,
} from "./write-batch.js";

/** How long writes nobody waits on may wait for company (ms). */
const LINGER_MS = { running: 10, logs: 2, audit: 10 };

/**
 * Group commit: every write is queued; one transaction is in flight at a time and carries everything
 * queued since the previous one. A caller's promise settles only after its transaction commits.
 */
export class GroupCommitWriter {
  private batch = new WriteBatch();
  private flushing = false;
  private scheduled = false;
  private lingering: NodeJS.Timeout | null = null;
  private lingerUntil = Infinity;
  private idleWaiters: (() => void)[] = [];
  /** Bumped by every write that may add claimable jobs; lets the scheduler know when the queue may be empty. */
  epoch = 0;
  /** Writes up to this epoch are settled (committed or failed): a read now sees all that committed. */
  settledEpoch = 0;
  transactions = 0;

  constructor(private readonly db: Database) {}

  createJob(input: CreateJob): Promise<boolean> {
    // A job handed straight to a worker is nothing a claim could take.
    if (!input.assign) this.epoch++;
    return this.push(this.batch.creates, input);
  }
  claim(input: Claim): Promise<ClaimResult> {
    return this.push(this.batch.claims, input);
  }
  /** Lingers: a short job's start and end usually commit together. */
  markRunning(input: MarkRunning): Promise<boolean> {
    return this.push(this.batch.running, input, LINGER_MS.running);
  }
  /** A RUNNING (or ASSIGNED) execution ends; the target must be a state the job machine allows. */
  finish(input: Finish): Promise<FinishedJob | null> {
    if (!isTerminal(input.status)) return Promise.reject(transitionError("RUNNING", input.status));
    if (input.retryAfterMs !== undefined) this.epoch++;
    return this.push(this.batch.finishes, input);
  }
  requeue(input: Requeue): Promise<boolean> {
    this.epoch++;
    return this.push(this.batch.requeues, input);
  }
  cancelPending(input: CancelPending): Promise<JobRecord | null> {
    return this.push(this.batch.cancels, input);
  }
  /** Lingers briefly: a job's last lines and its result arrive a moment apart and commit together. */
  appendLogs(input: AppendLogs): Promise<void> {
    return this.push(this.batch.logs, input, LINGER_MS.logs);
  }
  /** Lingers: audit-only writes ride with the next transaction. */
  audit(events: AuditEvent[]): Promise<void> {
    return this.push(this.batch.audits, events, LINGER_MS.audit);
  }

  /** Resolves once everything queued so far has been committed. */
  drain(): Promise<void> {
    if (!this.flushing && this.batch.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Queues an operation. With `lingerMs` 0 the transaction starts once the current tick is done;
   * otherwise it may wait that long for other writes (any write that cannot wait starts it at once).
   */
  private push<I, R>(list: Op<I, R>[], input: I, lingerMs = 0): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      list.push({ input, resolve, reject });
      if (this.flushing || this.scheduled) return;
      if (lingerMs === 0) {
        this.scheduled = true;
        this.stopLingering();
        // Let the current tick add its writes to the same transaction.
        setImmediate(() => void this.flush());
        return;
      }
      const until = performance.now() + lingerMs;
      if (until >= this.lingerUntil) return;
      this.stopLingering();
      this.lingerUntil = until;
      this.lingering = setTimeout(() => {
        this.lingering = null;
        this.lingerUntil = Infinity;
        if (!this.flushing && !this.scheduled) void this.flush();
      }, lingerMs);
    });
  }

  private stopLingering(): void {
    if (this.lingering) clearTimeout(this.lingering);
    this.lingering = null;
    this.lingerUntil = Infinity;
  }

  private async applyAlone(batch: WriteBatch): Promise<void> {
    try {
      await batch.apply(this.db);
      this.transactions++;
      batch.commit();
    } catch (err) {
      batch.fail(err);
    }
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    this.stopLingering();
    if (this.flushing) return;
    this.flushing = true;
    while (this.batch.size > 0) {
      const batch = this.batch;
      this.batch = new WriteBatch();
      batch.epoch = this.epoch;
      try {
        await batch.apply(this.db);
        this.transactions++;
        batch.commit();
      } catch (err) {
        if (batch.size === 1) batch.fail(err);
        // One bad write must not fail the others that shared its transaction: each alone.
        else for (const single of batch.split()) await this.applyAlone(single);
      }
      this.settledEpoch = batch.epoch;
    }
    this.flushing = false;
    for (const w of this.idleWaiters.splice(0)) w();
  }
}

function transitionError(from: JobState, to: JobState): HodeiError {
  return new HodeiError(
    "ILLEGAL_TRANSITION",
    `a ${from} execution can only finish in ${TERMINAL_STATES.join(", ")}, not ${to}`,
    {
      details: { from, to },
    },
  );
}
