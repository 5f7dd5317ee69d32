/**
 * `hodei logs --follow` without an id: every job's lines as they come, prefixed with the job id.
 * Jobs already running are followed from now (or their last --tail lines); jobs that start later are
 * followed from their first line. ExecutionEventStream says when a job starts.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { JobExecutionService, JobStatus, LogStreamService, type ExecutionEvent } from "@hodei/api";
import type { CommandContext } from "../context.js";
import { EXIT, isTransientStreamError, toCliError } from "../errors.js";
import { LINES_PER_MESSAGE, followLogs } from "../follow-logs.js";
import { entryPrinter } from "./job-run.js";

const RECONNECT_WINDOW_MS = 60_000;
const WAITING = new Set([JobStatus.UNSPECIFIED, JobStatus.PENDING, JobStatus.QUEUED]);

export async function followAllJobs(ctx: CommandContext, tail: number): Promise<number> {
  const stop = new AbortController();
  const removeHandler = ctx.deps.onInterrupt(() => stop.abort());
  const lastSequence = new Map<string, bigint | null>();
  const active = new Set<string>();
  const print = entryPrinter(ctx, (e) => `${e.jobId}  `);

  const follow = (jobId: string, history: boolean): void => {
    if (active.has(jobId) || stop.signal.aborted) return;
    active.add(jobId);
    void followLogs({
      subscribe: (since) =>
        ctx.client.stream(LogStreamService.method.subscribeLogs, {
          jobId,
          includeHistory: since !== null || history,
          tailLines: since === null ? tail : 0,
          sinceSequence: since ?? 0n,
          maxLinesPerMessage: LINES_PER_MESSAGE,
        }),
      onEntry: (e) => {
        lastSequence.set(jobId, e.sequence);
        return print(e);
      },
      isTransient: isTransientStreamError,
      afterSequence: lastSequence.get(jobId) ?? null,
      signal: stop.signal,
    })
      .catch((err: unknown) => {
        const message = toCliError(err, { address: ctx.client.address, jobId }).message;
        ctx.out.error(`log of job ${jobId}: ${message}`);
      })
      .finally(() => active.delete(jobId));
  };

  /** Follows what is running now; also the fail-fast check that the server is there. */
  const followRunning = async (history: boolean): Promise<void> => {
    for (const status of [JobStatus.ASSIGNED, JobStatus.RUNNING]) {
      const res = await ctx.client.call(JobExecutionService.method.listJobs, { status, limit: 1000 });
      for (const job of res.jobs) if (job.jobId?.value) follow(job.jobId.value, history);
    }
  };

  const onEvent = (ev: ExecutionEvent): void => {
    const jobId = ev.jobId?.value;
    if (jobId && !WAITING.has(ev.status)) follow(jobId, true);
  };

  try {
    await followRunning(tail > 0);
    if (!ctx.out.json) ctx.out.note("following every job's log (Ctrl-C to stop)");
    let failingSince: number | null = null;
    let attempt = 0;
    while (!stop.signal.aborted) {
      const events = ctx.client.stream(JobExecutionService.method.executionEventStream, {});
      const cancel = (): void => events.cancel();
      stop.signal.addEventListener("abort", cancel, { once: true });
      try {
        for await (const ev of events) {
          if (failingSince !== null) {
            failingSince = null;
            attempt = 0;
          }
          onEvent(ev);
        }
      } catch (err) {
        if (stop.signal.aborted) break;
        if (!isTransientStreamError(err)) throw err;
        failingSince ??= ctx.deps.now();
        if (ctx.deps.now() - failingSince > RECONNECT_WINDOW_MS) throw err;
        if (attempt === 0) ctx.out.note("event stream interrupted; reconnecting…");
      } finally {
        stop.signal.removeEventListener("abort", cancel);
      }
      await sleep(Math.min(2_000, 100 * 2 ** attempt++), undefined, { signal: stop.signal }).catch(
        () => undefined,
      );
      // Catch up with jobs that started while the stream was down.
      if (!stop.signal.aborted) await followRunning(true).catch(() => undefined);
    }
    return EXIT.INTERRUPTED;
  } finally {
    stop.abort();
    removeHandler();
  }
}
