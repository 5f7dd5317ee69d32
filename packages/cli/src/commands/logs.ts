/** `hodei logs [id] [--follow] [--tail N]`. */
import type { Command } from "commander";
import { JobExecutionService, LogStreamService, type LogEntry } from "@hodei/api";
import { action, type ActionResult, type CliDeps, type CommandContext } from "../context.js";
import { CliError, EXIT, UsageError } from "../errors.js";
import { parseCount } from "../parse-flags.js";
import { entryPrinter, followJobToEnd } from "./job-run.js";
import { followAllJobs } from "./logs-all.js";

interface LogsFlags {
  follow?: boolean;
  tail?: string;
}

const PAGE_LINES = 1_000;

/** Pages through the stored log; with `tail`, keeps only the last lines. */
async function printStoredLog(ctx: CommandContext, jobId: string, tail: number | undefined): Promise<void> {
  const print = entryPrinter(ctx);
  const kept: LogEntry[] = [];
  let since = 0n;
  for (;;) {
    const page = await ctx.client.call(
      LogStreamService.method.getLogs,
      { jobId, limit: PAGE_LINES, sinceSequence: since },
      { jobId },
    );
    for (const e of page.entries) {
      if (tail === undefined) await print(e);
      else if (tail > 0) {
        kept.push(e);
        if (kept.length > tail) kept.shift();
      }
    }
    const lastSeq = page.entries.at(-1)?.sequence;
    const next = page.nextSequence > since ? page.nextSequence : (lastSeq ?? since);
    if (!page.hasMore || next <= since) break;
    since = next;
  }
  for (const e of kept) await print(e);
}

async function logs(ctx: CommandContext, jobId: string | undefined, flags: LogsFlags): Promise<number> {
  const tail = flags.tail === undefined ? undefined : parseCount(flags.tail);
  if (jobId === undefined) {
    if (!flags.follow) throw new UsageError("give a job id, or --follow to watch every job's log");
    return followAllJobs(ctx, tail ?? 0);
  }
  // Fails fast, and clearly, when the server is down or the job does not exist.
  const res = await ctx.client.call(
    JobExecutionService.method.getJob,
    { jobId: { value: jobId } },
    { jobId },
  );
  if (!res.job) throw new CliError(`job ${jobId} not found`, EXIT.NOT_FOUND);
  if (!flags.follow) {
    await printStoredLog(ctx, jobId, tail);
    return EXIT.OK;
  }
  const stop = new AbortController();
  const removeHandler = ctx.deps.onInterrupt(() => stop.abort());
  try {
    const job = await followJobToEnd(ctx, jobId, stop.signal, tail ?? 0);
    return job ? EXIT.OK : EXIT.JOB_CANCELLED;
  } finally {
    removeHandler();
  }
}

export function addLogsCommand(program: Command, deps: CliDeps, result: ActionResult): void {
  program
    .command("logs")
    .description("print a job's log; --follow streams it live (without an id: every job's lines)")
    .argument("[id]", "job id")
    .option("-f, --follow", "keep printing lines as they come until the job ends")
    .option("-n, --tail <n>", "only the last N lines")
    .action(action(deps, result, (ctx, id: string | undefined, flags: LogsFlags) => logs(ctx, id, flags)));
}
