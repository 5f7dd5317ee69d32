/** What every command action receives: parsed global options, output, a lazy client, injected I/O. */
import type { Writable } from "node:stream";
import type { Command } from "commander";
import { EXIT, toCliError } from "./errors.js";
import { Output, type OutputFormat } from "./output.js";
import { DEFAULT_SERVER_ADDRESS, HodeiClient } from "./rpc.js";

/** Everything the CLI takes from its process; main.ts supplies the real ones, tests their own. */
export interface CliDeps {
  env: NodeJS.ProcessEnv;
  stdout: Writable;
  stderr: Writable;
  readFile: (path: string) => Promise<string>;
  now: () => number;
  /** Registers a Ctrl-C handler; returns a function that removes it. */
  onInterrupt: (handler: () => void) => () => void;
}

export interface GlobalOptions {
  server: string;
  output: OutputFormat;
}

export class CommandContext {
  readonly deps: CliDeps;
  readonly globals: GlobalOptions;
  readonly out: Output;
  private hodei: HodeiClient | undefined;

  constructor(deps: CliDeps, globals: GlobalOptions) {
    this.deps = deps;
    this.globals = globals;
    this.out = new Output(globals.output, deps.stdout, deps.stderr);
  }

  /** The client, connected on first use (usage errors are reported before any connection). */
  get client(): HodeiClient {
    this.hodei ??= new HodeiClient(this.globals.server);
    return this.hodei;
  }

  close(): void {
    this.hodei?.close();
  }
}

/** The exit code of the last action run; program.ts reads it after parsing. */
export interface ActionResult {
  exitCode: number;
}

/**
 * Wraps a command handler for commander: builds the context from the global options, turns any
 * failure into a message on stderr and an exit code, and closes the connection.
 */
export function action<A extends unknown[]>(
  deps: CliDeps,
  result: ActionResult,
  handler: (ctx: CommandContext, ...args: A) => Promise<number | void>,
): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    const given = cmd.optsWithGlobals<GlobalOptions>();
    // an empty HODEI_SERVER_ADDRESS means "not set"
    const globals = { ...given, server: given.server.trim() || DEFAULT_SERVER_ADDRESS };
    const ctx = new CommandContext(deps, globals);
    try {
      // commander passes the declared arguments, then the options, then the command
      result.exitCode = (await handler(ctx, ...(args.slice(0, -1) as A))) ?? EXIT.OK;
    } catch (err) {
      const e = toCliError(err, { address: globals.server });
      ctx.out.error(e.message);
      result.exitCode = e.exitCode;
    } finally {
      ctx.close();
    }
  };
}
