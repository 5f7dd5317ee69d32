/** The `hodei` command tree. `runCli` parses argv and resolves with the exit code; it never exits. */
import { Command, CommanderError, Option } from "commander";
import { addClusterCommands } from "./commands/cluster.js";
import { addJobCommand } from "./commands/job.js";
import { addLogsCommand } from "./commands/logs.js";
import { addMicrovmCommands } from "./commands/microvm.js";
import { addProcessCommands } from "./commands/processes.js";
import type { ActionResult, CliDeps } from "./context.js";
import { EXIT } from "./errors.js";
import { DEFAULT_SERVER_ADDRESS } from "./rpc.js";

export const VERSION = "0.1.0";

export function buildProgram(deps: CliDeps, result: ActionResult): Command {
  const program = new Command("hodei");
  program
    .description("Hodei Jobs: queue, run and watch jobs on a Hodei control plane")
    .version(VERSION, "-V, --version")
    .addOption(
      new Option("--server <host:port>", "control plane gRPC address")
        .env("HODEI_SERVER_ADDRESS")
        .default(DEFAULT_SERVER_ADDRESS),
    )
    .addOption(
      new Option("-o, --output <format>", "output format").choices(["human", "json"]).default("human"),
    )
    .showHelpAfterError("(run with --help for usage)")
    .configureOutput({
      writeOut: (s) => void deps.stdout.write(s),
      writeErr: (s) => void deps.stderr.write(s),
    })
    // Settings above are inherited by the subcommands created below.
    .exitOverride();

  addProcessCommands(program, deps, result);
  addClusterCommands(program, deps, result);
  addJobCommand(program, deps, result);
  addLogsCommand(program, deps, result);
  addMicrovmCommands(program, deps, result);
  return program;
}

/** Runs the CLI on `argv` (without node and script); resolves with the process exit code. */
export async function runCli(argv: readonly string[], deps: CliDeps): Promise<number> {
  const result: ActionResult = { exitCode: EXIT.OK };
  const program = buildProgram(deps, result);
  try {
    await program.parseAsync([...argv], { from: "user" });
    return result.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and --version end with 0; every parsing mistake is a usage error
      return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    throw err;
  }
}
