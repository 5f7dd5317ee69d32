/** Entry point of the `hodei` command: wires the real process into the CLI and exits with its code. */
import { readFile } from "node:fs/promises";
import { runCli } from "./program.js";
import type { CliDeps } from "./context.js";

// A reader that went away (`hodei logs x | head`) is not an error.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});

const deps: CliDeps = {
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
  readFile: (path) => readFile(path, "utf8"),
  now: Date.now,
  onInterrupt: (handler) => {
    process.on("SIGINT", handler);
    return () => process.off("SIGINT", handler);
  },
};

try {
  const code = await runCli(process.argv.slice(2), deps);
  // Lingering handles (gRPC channels, timers) must not keep a finished command alive.
  process.exit(code);
} catch (err) {
  process.stderr.write(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}
