import { backoffDelayMs } from "./backoff.js";
import type { JobState } from "./job-state.js";

export interface RetryPolicy {
  baseMs: number;
  capMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { baseMs: 1_000, capMs: 60_000 };

/**
 * Whether an attempt that ended `outcome` is tried again, and after how long: only failures,
 * timeouts and lost workers, never a cancel or a success, and only while attempts remain
 * (`attempt` is 1 for the first; `maxRetries` more are allowed). Null: no retry.
 */
export function retryDelayMs(
  outcome: JobState,
  attempt: number,
  maxRetries: number,
  policy: RetryPolicy = DEFAULT_RETRY_POLICY,
  random: () => number = Math.random,
): number | null {
  if (outcome !== "FAILED" && outcome !== "TIMEOUT") return null;
  if (attempt > maxRetries) return null;
  return backoffDelayMs(attempt - 1, policy.baseMs, policy.capMs, random);
}
