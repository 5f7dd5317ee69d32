/** `hodei server` and `hodei worker`: the long-running processes, started from their packages. */
import type { Command } from "commander";
import { pino } from "pino";
import { action, type ActionResult, type CliDeps, type CommandContext } from "../context.js";
import { EXIT } from "../errors.js";

/** What the CLI needs from @hodei/server. */
interface ServerModule {
  runServerMain(env: NodeJS.ProcessEnv): Promise<void>;
}

type LogFn = (objOrMsg: object | string, msg?: string) => void;

/** What the CLI needs from @hodei/worker; a pino logger fits its logger. */
interface WorkerModule {
  runWorkerMain(
    env: NodeJS.ProcessEnv,
    logger: { info: LogFn; warn: LogFn; error: LogFn; debug: LogFn },
  ): Promise<number>;
}

// Loaded only when asked for, so `hodei job list` does not load the control plane. The specifiers are
// variables so that type checking does not need the packages to be built; the interfaces above
// state what is used from them.
const SERVER_PACKAGE = "@hodei/server";
const WORKER_PACKAGE = "@hodei/worker";

async function runServer(ctx: CommandContext): Promise<number> {
  const mod = (await import(SERVER_PACKAGE)) as ServerModule;
  await mod.runServerMain(ctx.deps.env);
  return EXIT.OK;
}

async function runWorker(ctx: CommandContext, explicitServer: boolean): Promise<number> {
  const mod = (await import(WORKER_PACKAGE)) as WorkerModule;
  const env = explicitServer ? { ...ctx.deps.env, HODEI_SERVER_ADDRESS: ctx.globals.server } : ctx.deps.env;
  const logger = pino({ name: "hodei-worker", level: "info" }, pino.destination(2));
  return mod.runWorkerMain(env, logger);
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
