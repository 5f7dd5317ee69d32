/** `hodei health`, `workers list`, `queue status`, and the `providers` commands. */
import type { Command } from "commander";
import {
  GetAvailableWorkersResponseSchema,
  GetQueueStatusResponseSchema,
  health,
  SchedulerService,
} from "@hodei/api";
import { action, type ActionResult, type CliDeps, type CommandContext } from "../context.js";
import { EXIT } from "../errors.js";
import { formatQueueStatus, formatWorkersTable } from "../format-cluster.js";
import { addProviderCommands } from "./providers.js";

const { HealthCheckResponse_ServingStatus: ServingStatus } = health;

async function checkHealth(ctx: CommandContext, flags: { service?: string }): Promise<number> {
  const res = await ctx.client.call(health.Health.method.check, { service: flags.service ?? "" });
  if (ctx.out.json) await ctx.out.document(health.HealthCheckResponseSchema, res);
  else await ctx.out.line(ServingStatus[res.status] ?? String(res.status));
  return res.status === ServingStatus.SERVING ? EXIT.OK : EXIT.FAILURE;
}

async function listWorkers(ctx: CommandContext): Promise<number> {
  const res = await ctx.client.call(SchedulerService.method.getAvailableWorkers, {
    schedulerName: "default",
  });
  if (ctx.out.json) await ctx.out.document(GetAvailableWorkersResponseSchema, res);
  else if (res.workers.length === 0) ctx.out.note("no workers (they are provisioned when jobs are queued)");
  else await ctx.out.line(formatWorkersTable(res.workers, ctx.deps.now()));
  return EXIT.OK;
}

async function queueStatus(ctx: CommandContext): Promise<number> {
  const res = await ctx.client.call(SchedulerService.method.getQueueStatus, { schedulerName: "default" });
  if (ctx.out.json) await ctx.out.document(GetQueueStatusResponseSchema, res);
  else await ctx.out.line(formatQueueStatus(res));
  return EXIT.OK;
}

export function addClusterCommands(program: Command, deps: CliDeps, result: ActionResult): void {
  program
    .command("health")
    .description("check that the server answers (prints SERVING)")
    .option("--service <name>", "a service name to check (default: the whole server)")
    .action(action(deps, result, (ctx, flags: { service?: string }) => checkHealth(ctx, flags)));

  const workers = program.command("workers").description("inspect workers");
  workers
    .command("list")
    .alias("ls")
    .description("list registered workers")
    .action(action(deps, result, (ctx) => listWorkers(ctx)));

  const queue = program.command("queue").description("inspect the job queue");
  queue
    .command("status")
    .description("job counts by state and worker counts")
    .action(action(deps, result, (ctx) => queueStatus(ctx)));

  addProviderCommands(program, deps, result);
}
