/** `hodei server` and `hodei worker`: the long-running processes, started from their packages. */
import type { Command } from "commander";
import { pino } from "pino";
import { action, type ActionResult, type CliDeps, type CommandContext } from "../context.js";
import { EXIT } from "../errors.js";

// Both packages are imported only when their command runs, so `hodei job list` stays quick to start.

async function runServer(ctx: CommandContext): Promise<number> {
  const { runServerMain } = await import("@hodei/server");
  await runServerMain(ctx.deps.env);
  return EXIT.OK;
}

async function runWorker(ctx: CommandContext, explicitServer: boolean): Promise<number> {
  const { loggerLevel, runWorkerMain } = await import("@hodei/worker");
  const env = explicitServer ? { ...ctx.deps.env, HODEI_SERVER_ADDRESS: ctx.globals.server } : ctx.deps.env;
  // A bad LOG_LEVEL is refused by runWorkerMain, as every other configuration error is.
  const logger = pino({ name: "hodei-worker", level: loggerLevel(env) }, pino.destination(2));
  return runWorkerMain(env, logger);
}

export function addProcessCommands(program: Command, deps: CliDeps, result: ActionResult): void {
  program
    .command("server")
    .description("run the control plane (gRPC :50051, HTTP :8080); configured by environment")
    .action(action(deps, result, (ctx) => runServer(ctx)));
  program
    .command("worker")
    .description("run a worker agent (normally started by a provider, with HODEI_OTP_TOKEN set)")
    .action(action(deps, result, (ctx) => runWorker(ctx, program.getOptionValueSource("server") === "cli")));
}
