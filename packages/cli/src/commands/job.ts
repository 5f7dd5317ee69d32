/** `hodei job …` (alias `jobs`): queue, run, list, get, cancel, retry. */
import type { Command } from "commander";
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  CancelJobResponseSchema,
  JobExecutionService,
  JobSchema,
  jobStatusToWire,
  ListJobsResponseSchema,
  QueueJobResponseSchema,
  QueueJobsJsonError,
  QueueJobsRequestSchema,
  QueueJobsResponseSchema,
  queueJobsFromJson,
  RetryJobResponseSchema,
} from "@hodei/api";
import { action, type ActionResult, type CliDeps, type CommandContext } from "../context.js";
import { CliError, EXIT, UsageError } from "../errors.js";
import { formatJobDetails, formatJobsTable } from "../format-job.js";
import type { JobFlags } from "../job-request.js";
import { parseCount, parseJobState } from "../parse-flags.js";
import { addJobFlags, queueRequestFromFlags } from "./job-flags.js";
import { runJob } from "./job-run.js";

async function queueJob(ctx: CommandContext, flags: JobFlags): Promise<number> {
  const req = await queueRequestFromFlags(ctx, flags);
  const jobId = req.jobDefinition?.jobId?.value;
  const res = await ctx.client.call(JobExecutionService.method.queueJob, req, jobId ? { jobId } : {});
  if (!res.success) throw new CliError(res.message || "the server did not queue the job");
  if (ctx.out.json) await ctx.out.document(QueueJobResponseSchema, res);
  else await ctx.out.line(res.jobId?.value ?? "");
  return EXIT.OK;
}

type QueueJobsInit = MessageInitShape<typeof QueueJobsRequestSchema>;

/** A file's JSON: an array of job definitions, or a QueueJobsRequest ({job_definitions, queued_by}). */
function batchRequest(path: string, text: string, defaultQueuedBy: string): QueueJobsInit {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${path}: not JSON (${(err as Error).message})`);
  }
  try {
    const { jobDefinitions, queuedBy } = queueJobsFromJson(body);
    return { jobDefinitions, queuedBy: queuedBy || defaultQueuedBy };
  } catch (err) {
    if (err instanceof QueueJobsJsonError) throw new UsageError(`${path}: ${err.where}: ${err.message}`);
    throw err;
  }
}

/** `job queue-batch <file>`: QueueJobs; each queued id on a line, each refusal said; 1 if any. */
async function queueBatch(ctx: CommandContext, path: string): Promise<number> {
  let text: string;
  try {
    text = await ctx.deps.readFile(path);
  } catch (err) {
    throw new UsageError(`cannot read ${path}: ${(err as Error).message}`);
  }
  const req = batchRequest(path, text, ctx.deps.env.USER || "cli");
  const res = await ctx.client.call(JobExecutionService.method.queueJobs, req);
  if (ctx.out.json) await ctx.out.document(QueueJobsResponseSchema, res);
  else {
    for (const r of res.results) {
      if (r.success) await ctx.out.line(r.jobId?.value ?? "");
      else ctx.out.note(`not queued: ${r.message}`);
    }
  }
  return res.queued === res.results.length ? EXIT.OK : EXIT.FAILURE;
}

interface ListFlags {
  status?: string;
  search?: string;
  limit?: string;
  offset?: string;
}

async function listJobs(ctx: CommandContext, flags: ListFlags): Promise<number> {
  const state = flags.status === undefined ? undefined : parseJobState(flags.status);
  const limit = flags.limit === undefined ? 50 : parseCount(flags.limit, 1000);
  const offset = flags.offset === undefined ? 0 : parseCount(flags.offset, 2 ** 31 - 1);
  const res = await ctx.client.call(JobExecutionService.method.listJobs, {
    status: state === undefined ? undefined : jobStatusToWire(state),
    searchTerm: flags.search ?? "",
    limit,
    offset,
  });
  if (ctx.out.json) {
    await ctx.out.document(ListJobsResponseSchema, res);
    return EXIT.OK;
  }
  if (res.jobs.length === 0) {
    ctx.out.note(offset > 0 ? `no jobs at offset ${offset}` : "no jobs");
    return EXIT.OK;
  }
  await ctx.out.line(formatJobsTable(res.jobs, ctx.deps.now()));
  const shown = offset + res.jobs.length;
  if (res.hasMore || res.totalCount > shown) {
    const total = res.totalCount > 0 ? ` of ${res.totalCount}` : "";
    ctx.out.note(`showing ${offset + 1}-${shown}${total}; next page: --offset ${shown}`);
  }
  return EXIT.OK;
}

async function getJob(ctx: CommandContext, jobId: string): Promise<number> {
  const res = await ctx.client.call(
    JobExecutionService.method.getJob,
    { jobId: { value: jobId } },
    { jobId },
  );
  if (!res.job) throw new CliError(`job ${jobId} not found`, EXIT.NOT_FOUND);
  if (ctx.out.json) await ctx.out.document(JobSchema, res.job);
  else await ctx.out.line(formatJobDetails(res.job, ctx.deps.now()));
  return EXIT.OK;
}

async function cancelJob(ctx: CommandContext, jobId: string, flags: { reason?: string }): Promise<number> {
  const res = await ctx.client.call(
    JobExecutionService.method.cancelJob,
    { jobId: { value: jobId }, reason: flags.reason ?? "cancelled from the CLI" },
    { jobId },
  );
  if (ctx.out.json) await ctx.out.document(CancelJobResponseSchema, res);
  else if (res.success) ctx.out.note(res.message || `job ${jobId} cancelled`);
  if (!res.success) throw new CliError(res.message || `job ${jobId} was not cancelled`);
  return EXIT.OK;
}

async function retryJob(ctx: CommandContext, jobId: string, flags: { reason?: string }): Promise<number> {
  const res = await ctx.client.call(
    JobExecutionService.method.retryJob,
    { jobId: { value: jobId }, reason: flags.reason ?? "" },
    { jobId },
  );
  if (ctx.out.json) await ctx.out.document(RetryJobResponseSchema, res);
  else if (res.success) ctx.out.note(res.message || `job ${jobId} queued again`);
  if (!res.success) throw new CliError(res.message || `job ${jobId} was not retried`);
  return EXIT.OK;
}

/** Registers `job` on `program` (created there so it inherits exit and output settings). */
export function addJobCommand(program: Command, deps: CliDeps, result: ActionResult): void {
  const job = program.command("job").alias("jobs").description("queue, run and inspect jobs");
  const act = <A extends unknown[]>(h: (ctx: CommandContext, ...args: A) => Promise<number>) =>
    action(deps, result, h);

  addJobFlags(job.command("run").description("queue a job, stream its log, exit with its exit code")).action(
    act((ctx, flags: JobFlags) => runJob(ctx, flags)),
  );
  addJobFlags(job.command("queue").description("queue a job and print its id")).action(
    act((ctx, flags: JobFlags) => queueJob(ctx, flags)),
  );
  job
    .command("queue-batch")
    .description("queue many jobs from a JSON file (an array of job definitions), printing their ids")
    .argument("<file>", "the JSON file (/dev/stdin to read standard input)")
    .action(act((ctx, file: string) => queueBatch(ctx, file)));
  job
    .command("list")
    .alias("ls")
    .description("list jobs, newest first")
    .option("--status <state>", "pending, assigned, running, succeeded, failed, cancelled or timeout")
    .option("--search <text>", "match id, name or command")
    .option("--limit <n>", "at most this many (default 50, max 1000)")
    .option("--offset <n>", "skip this many")
    .action(act((ctx, flags: ListFlags) => listJobs(ctx, flags)));
  job
    .command("get")
    .description("show one job")
    .argument("<id>", "job id")
    .action(act((ctx, id: string) => getJob(ctx, id)));
  job
    .command("cancel")
    .description("cancel a job")
    .argument("<id>", "job id")
    .option("--reason <text>", "why, recorded in the audit log")
    .action(act((ctx, id: string, flags: { reason?: string }) => cancelJob(ctx, id, flags)));
  job
    .command("retry")
    .description("run a finished job again as a new attempt")
    .argument("<id>", "job id")
    .option("--reason <text>", "why, recorded in the audit log")
    .action(act((ctx, id: string, flags: { reason?: string }) => retryJob(ctx, id, flags)));
}
