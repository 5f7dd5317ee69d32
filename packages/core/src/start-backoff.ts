import { backoffDelayMs } from "./backoff.js";

/**
 * Workers of a lane that end before registering (an image that cannot be pulled, an agent that
 * crashes at once) are not replaced at once: the next start waits base·2^(failures−1), capped,
 * until a worker of the lane registers.
 */
export interface StartBackoffPolicy {
  baseMs: number;
  capMs: number;
}

export const DEFAULT_START_BACKOFF: StartBackoffPolicy = { baseMs: 1_000, capMs: 60_000 };

/** A lane whose workers end before registering. */
export interface StartFailure {
  /** Consecutive failures (workers started together that fail together count once). */
  failures: number;
  /** Why the last one ended, as its provider said. */
  reason: string;
  failedAtMs: number;
  /** No new worker for the lane before this. */
  retryAtMs: number;
}

/**
 * The wait after the `failures`-th failure in a row (1 for the first): base·2^(failures−1) capped,
 * jittered within its upper half so that it never collapses to nothing (1 s → [0.5, 1) s).
 */
export function startRetryDelayMs(
  failures: number,
  policy: StartBackoffPolicy = DEFAULT_START_BACKOFF,
  random: () => number = Math.random,
): number {
  return backoffDelayMs(failures - 1, policy.baseMs, policy.capMs, () => 0.5 + random() / 2);
}

/** The lanes whose workers keep failing to start, and when each may try again. Time is passed in. */
export class StartBackoff {
  private readonly lanes = new Map<string, StartFailure>();

  constructor(
    private readonly policy: StartBackoffPolicy = DEFAULT_START_BACKOFF,
    private readonly random: () => number = Math.random,
  ) {}

  /**
   * A worker of `lane`, started at `startedAtMs`, ended before registering. One started before the
   * lane's last failure was of the same attempt: its reason is kept, the wait is not lengthened.
   */
  failed(lane: string, reason: string, startedAtMs: number, nowMs: number): StartFailure {
    const last = this.lanes.get(lane);
    if (last && startedAtMs < last.failedAtMs) {
      const same = { ...last, reason };
      this.lanes.set(lane, same);
      return same;
    }
    const failures = (last?.failures ?? 0) + 1;
    const next = {
      failures,
      reason,
      failedAtMs: nowMs,
      retryAtMs: nowMs + startRetryDelayMs(failures, this.policy, this.random),
    };
    this.lanes.set(lane, next);
    return next;
  }

  /** A worker of `lane` registered: the lane starts afresh. Its failure record, if it had one. */
  started(lane: string): StartFailure | undefined {
    const last = this.lanes.get(lane);
    this.lanes.delete(lane);
    return last;
  }

  /** How long `lane` must still wait before starting a worker; 0 when it may now. */
  waitMs(lane: string, nowMs: number): number {
    const last = this.lanes.get(lane);
    return last ? Math.max(0, last.retryAtMs - nowMs) : 0;
  }

  last(lane: string): StartFailure | undefined {
    return this.lanes.get(lane);
  }
}
