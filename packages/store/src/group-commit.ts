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

/**
 * Group commit: every write is queued; one transaction is in flight at a time and carries everything
 * queued since the previous one. A caller's promise settles only after its transaction commits.
 */
export class GroupCommitWriter {
  private batch = new WriteBatch();
  private flushing = false;
  private scheduled = false;
  private idleWaiters: (() => void)[] = [];
  /** Bumped by every write that may add claimable jobs; lets the scheduler know when the queue may be empty. */
  epoch = 0;
  transactions = 0;

  constructor(private readonly db: Database) {}

  createJob(input: CreateJob): Promise<boolean> {
    this.epoch++;
    return this.push(this.batch.creates, input);
  }
  claim(input: Claim): Promise<ClaimResult> {
    return this.push(this.batch.claims, input);
  }
  markRunning(input: MarkRunning): Promise<boolean> {
    return this.push(this.batch.running, input);
  }
  /** A RUNNING (or ASSIGNED) execution ends; the target must be a state the job machine allows. */
  finish(input: Finish): Promise<FinishedJob | null> {
    if (!isTerminal(input.status)) return Promise.reject(transitionError("RUNNING", input.status));
    return this.push(this.batch.finishes, input);
  }
  requeue(input: Requeue): Promise<boolean> {
    this.epoch++;
    return this.push(this.batch.requeues, input);
  }
  cancelPending(input: CancelPending): Promise<JobRecord | null> {
    return this.push(this.batch.cancels, input);
  }
  appendLogs(input: AppendLogs): Promise<void> {
    return this.push(this.batch.logs, input);
  }
  audit(events: AuditEvent[]): Promise<void> {
    return this.push(this.batch.audits, events);
  }

  /** Resolves once everything queued so far has been committed. */
  drain(): Promise<void> {
    if (!this.flushing && this.batch.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private push<I, R>(list: Op<I, R>[], input: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      list.push({ input, resolve, reject });
      if (!this.flushing && !this.scheduled) {
        this.scheduled = true;
        // Let the current tick add its writes to the same transaction.
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    if (this.flushing) return;
    this.flushing = true;
    while (this.batch.size > 0) {
      const batch = this.batch;
      this.batch = new WriteBatch();
      batch.epoch = this.epoch;
      try {
        await this.db.transaction((tx) => batch.apply(tx));
        this.transactions++;
        batch.commit();
      } catch (err) {
        batch.fail(err);
      }
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
