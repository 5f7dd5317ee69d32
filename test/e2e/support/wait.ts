// Waiting without sleeping: poll a condition until it holds or a deadline passes, and bound any
// promise by a deadline. A timeout names what was awaited, so a failure explains itself.
import { setTimeout as delay } from "node:timers/promises";

export interface WaitOptions {
  timeoutMs: number;
  /** Pause between probes; probes are cheap local calls. */
  intervalMs?: number;
  /** What is awaited, for the timeout message; a function is asked at the timeout. */
  what: string | (() => string);
}

/** Resolves with the first truthy value `probe` returns; rejects once `timeoutMs` has passed. */
export async function waitFor<T>(
  probe: () => T | Promise<T>,
  { timeoutMs, intervalMs = 50, what }: WaitOptions,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const why = lastError ? ` (last error: ${(lastError as Error).message ?? String(lastError)})` : "";
      const described = typeof what === "function" ? what() : what;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${described}${why}`);
    }
    await delay(intervalMs);
  }
}

/** `promise`, or a rejection naming `what` once `timeoutMs` has passed. */
export function withDeadline<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
