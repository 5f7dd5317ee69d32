/** `hodei job run`: queue, stream the log as it comes, leave with the job's exit code. */
import { setTimeout as sleep } from "node:timers/promises";
import {
  JobExecutionService,
  JobSchema,
  LogEntrySchema,
  LogStreamService,
  type Job,
  type LogEntry,
} from "@hodei/api";
import type { CommandContext } from "../context.js";
import { CliError, EXIT, isTransientStreamError, toCliError } from "../errors.js";
import { LINES_PER_MESSAGE, followLogs, type FollowLogsResult } from "../follow-logs.js";
import { formatJobSummary, formatLogLine, isTerminal, jobRunExitCode } from "../format-job.js";
import type { JobFlags } from "../job-request.js";
import { queueRequestFromFlags } from "./job-flags.js";

/** Prints one log entry as the output format wants it. */
export function entryPrinter(ctx: CommandContext, prefix?: (e: LogEntry) => string) {
  return (e: LogEntry): Promise<void> =>
    ctx.out.json ? ctx.out.message(LogEntrySchema, e) : ctx.out.line(formatLogLine(e, prefix?.(e)));
}

/**
 * Follows `jobId`'s log until the job has finished, resubscribing after breaks; returns the final job,
 * or undefined when `signal` stopped the wait.
 */
export async function followJobToEnd(
  ctx: CommandContext,
  jobId: string,
  signal: AbortSignal,
  tailLines = 0,
): Promise<Job | undefined> {
  let after: bigint | null = null;
  const print = entryPrinter(ctx);
  for (;;) {
    const followed: FollowLogsResult = await followLogs({
      subscribe: (since) =>
        ctx.client.stream(LogStreamService.method.subscribeLogs, {
          jobId,
          includeHistory: true,
          tailLines: since === null ? tailLines : 0,
          sinceSequence: since ?? 0n,
          maxLinesPerMessage: LINES_PER_MESSAGE,
        }),
      onEntry: print,
      isTransient: isTransientStreamError,
      onRetry: (_err, attempt) => {
        if (attempt === 1) ctx.out.note(`log stream of job ${jobId} interrupted; reconnecting…`);
      },
      signal,
      afterSequence: after,
    }).catch((err: unknown) => {
      throw toCliError(err, { address: ctx.client.address, jobId });
    });
    after = followed.lastSequence;
    if (followed.aborted) return undefined;
    const res = await ctx.client.call(
      JobExecutionService.method.getJob,
      { jobId: { value: jobId } },
      { jobId },
    );
    if (!res.job) throw new CliError(`job ${jobId} not found`, EXIT.NOT_FOUND);
    if (isTerminal(res.job)) return res.job;
    // The stream ended but the job goes on (a retry was queued, say): keep following.
    await sleep(200, undefined, { signal }).catch(() => undefined);
  }
}

export async function runJob(ctx: CommandContext, flags: JobFlags): Promise<number> {
  const req = await queueRequestFromFlags(ctx, flags);
  const requestedId = req.jobDefinition?.jobId?.value;
  const queued = await ctx.client.call(
    JobExecutionService.method.queueJob,
    req,
    requestedId ? { jobId: requestedId } : {},
  );
  if (!queued.success || !queued.jobId?.value)
    throw new CliError(queued.message || "the server did not queue the job");
  const jobId = queued.jobId.value;
  if (!ctx.out.json) ctx.out.note(`job ${jobId} queued`);

  const stopWaiting = new AbortController();
  let interrupts = 0;
  const removeHandler = ctx.deps.onInterrupt(() => {
    if (++interrupts > 1) return stopWaiting.abort();
    ctx.out.note(`cancelling job ${jobId} (press Ctrl-C again to stop waiting)`);
    ctx.client
      .call(
        JobExecutionService.method.cancelJob,
        { jobId: { value: jobId }, reason: "interrupted in the CLI" },
        { jobId },
      )
      .catch((err: unknown) =>
        ctx.out.error(
          `could not cancel job ${jobId}: ${toCliError(err, { address: ctx.client.address, jobId }).message}`,
        ),
      );
  });
  try {
    const job = await followJobToEnd(ctx, jobId, stopWaiting.signal);
    if (!job) {
      ctx.out.note(`stopped waiting for job ${jobId}`);
      return EXIT.JOB_CANCELLED;
    }
    if (ctx.out.json) await ctx.out.message(JobSchema, job);
    else ctx.out.note(formatJobSummary(job, ctx.deps.now()));
    return jobRunExitCode(job);
  } finally {
    removeHandler();
  }
}
