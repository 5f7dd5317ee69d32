/**
 * Follows one job's log across broken streams: when a subscription fails transiently (server restart),
 * it subscribes again after the last sequence seen, so no line is lost and none is printed twice.
 * I/O is injected, so the resume logic is tested without sockets.
 */
import { setTimeout as sleepMs } from "node:timers/promises";
import type { LogEntry } from "@hodei/api";

/** A subscription; `cancel` ends it early (grpc-js streams have one). */
export type LogSubscription = AsyncIterable<LogEntry> & { cancel?: () => void };

export interface FollowLogsOptions {
  /** Opens a subscription for lines after `sinceSequence` (null: from the start, honouring any tail). */
  subscribe: (sinceSequence: bigint | null) => LogSubscription;
  onEntry: (entry: LogEntry) => void | Promise<void>;
  /** Whether an error is worth subscribing again for. */
  isTransient: (err: unknown) => boolean;
  /** Called before each new attempt after a failure. */
  onRetry?: (err: unknown, attempt: number) => void;
  /** Give up after failing continuously for this long. */
  reconnectWindowMs?: number;
  /** A stream that lived at least this long before failing counts as having connected. */
  healthyStreamMs?: number;
  backoffMs?: (attempt: number) => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  now?: () => number;
  signal?: AbortSignal;
  /** Resume after this sequence from the start (e.g. lines already shown). */
  afterSequence?: bigint | null;
}

export interface FollowLogsResult {
  lastSequence: bigint | null;
  /** True when the signal ended the follow rather than the stream. */
  aborted: boolean;
}

const defaultBackoff = (attempt: number): number => Math.min(2_000, 100 * 2 ** attempt);
const defaultSleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  sleepMs(ms, undefined, { signal }).catch(() => undefined);

/** Lines per SubscribeLogs message the CLI asks for: a job printing a lot arrives in big messages. */
export const LINES_PER_MESSAGE = 1000;

/** A message's lines: its own, then those in its `more` (which carry its job id). */
export function linesOf(message: LogEntry): LogEntry[] {
  if (message.more.length === 0) return [message];
  for (const m of message.more) m.jobId = message.jobId;
  return [message, ...message.more];
}

/** Resolves when the server ends the stream (the job finished and every line was sent). */
export async function followLogs(opts: FollowLogsOptions): Promise<FollowLogsResult> {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? defaultSleep;
  const backoff = opts.backoffMs ?? defaultBackoff;
  const windowMs = opts.reconnectWindowMs ?? 60_000;
  const healthyMs = opts.healthyStreamMs ?? 5_000;
  let last = opts.afterSequence ?? null;
  let failingSince: number | null = null;
  let attempt = 0;

  while (!opts.signal?.aborted) {
    const openedAt = now();
    const sub = opts.subscribe(last);
    const cancel = (): void => sub.cancel?.();
    opts.signal?.addEventListener("abort", cancel, { once: true });
    try {
      for await (const message of sub) {
        failingSince = null;
        attempt = 0;
        for (const entry of linesOf(message)) {
          if (last !== null && entry.sequence <= last) continue;
          last = entry.sequence;
          await opts.onEntry(entry);
        }
      }
      return { lastSequence: last, aborted: false };
    } catch (err) {
      if (opts.signal?.aborted) break;
      if (!opts.isTransient(err)) throw err;
      const failedAt = now();
      if (failedAt - openedAt >= healthyMs) {
        failingSince = null;
        attempt = 0;
      }
      failingSince ??= openedAt;
      if (failedAt - failingSince > windowMs) throw err;
      opts.onRetry?.(err, attempt + 1);
      await sleep(backoff(attempt++), opts.signal);
    } finally {
      opts.signal?.removeEventListener("abort", cancel);
    }
  }
  return { lastSequence: last, aborted: true };
}
