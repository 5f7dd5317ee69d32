import type { Queryable } from "./database.js";

/** Jobs queued since the last refresh that make the statistics worth refreshing. */
export const ANALYZE_AFTER_JOBS = 1_000;
/** The refresh waits this long after the last of a burst of queued jobs. */
export const ANALYZE_QUIET_MS = 100;

/**
 * Keeps PostgreSQL's statistics of `jobs` close to the queue's real size. Right after a burst of
 * queued jobs (a `QueueJobs` of thousands), the statistics still say the queue is nearly empty until
 * autovacuum's next ANALYZE, up to a minute later; with them the planner runs the claim as a
 * bitmap scan of every waiting job and a sort, instead of reading the queue index in order: measured
 * with 100 000 waiting jobs, 106 ms a claim instead of 0.1 ms, and the claim rate fell from about
 * 150 to 55 jobs/s. So after a burst of at least ANALYZE_AFTER_JOBS jobs, once it has been quiet for
 * ANALYZE_QUIET_MS, the table is analyzed (one at a time; a burst during it triggers another).
 */
export class JobsStatistics {
  private queuedSince = 0;
  private lastQueuedAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  /** Refreshes done, for tests and metrics. */
  refreshes = 0;

  constructor(
    private readonly db: Queryable,
    /** Told when a refresh fails (the queue works on; only its plans may be worse). */
    private readonly onError: (err: unknown) => void,
    private readonly afterJobs = ANALYZE_AFTER_JOBS,
    private readonly quietMs = ANALYZE_QUIET_MS,
  ) {}

  /** `count` jobs were stored as waiting. */
  queued(count: number): void {
    this.queuedSince += count;
    if (count > 0) this.lastQueuedAt = performance.now();
    if (this.queuedSince < this.afterJobs || this.running || this.timer) return;
    this.arm(this.quietMs);
  }

  /** One timer per burst, not one per job: when it fires early it waits out the rest of the quiet. */
  private arm(ms: number): void {
    this.timer = setTimeout(() => {
      const quietFor = performance.now() - this.lastQueuedAt;
      if (quietFor < this.quietMs) return this.arm(this.quietMs - quietFor);
      this.refresh();
    }, ms);
    this.timer.unref();
  }

  /** Resolves once no refresh is pending or running. */
  async idle(): Promise<void> {
    while (this.running || this.timer) {
      await (this.running ?? new Promise((resolve) => setTimeout(resolve, this.quietMs)));
    }
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private refresh(): void {
    this.timer = null;
    this.queuedSince = 0;
    this.running = this.db
      .query("ANALYZE jobs")
      .then(() => {
        this.refreshes++;
      })
      .catch(this.onError)
      .finally(() => {
        this.running = null;
        // Jobs queued while it ran count for the next one.
        this.queued(0);
      });
  }
}
