// Runs the `hodei` CLI as a user would, stamping each stdout line with the moment it arrived, so a
// test can tell lines printed live from lines printed at exit.
import { spawn } from "node:child_process";
import { hodeiBin, repoRoot } from "./paths.js";
import { withDeadline } from "./wait.js";

export interface TimedLine {
  text: string;
  /** ms since the CLI was started. */
  atMs: number;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  lines: TimedLine[];
}

export async function runCli(args: string[], timeoutMs = 30_000): Promise<CliResult> {
  const started = performance.now();
  const child = spawn(process.execPath, [hodeiBin, ...args], {
    cwd: repoRoot,
    env: { ...process.env, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  let partial = "";
  const lines: TimedLine[] = [];
  child.stdout.setEncoding("utf8");
  child.stderr.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => {
    const atMs = performance.now() - started;
    stdout += chunk;
    const parts = (partial + chunk).split("\n");
    partial = parts.pop() ?? "";
    for (const text of parts) lines.push({ text, atMs });
  });
  child.stderr.on("data", (chunk: string) => (stderr += chunk));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("close", (code, signal) => resolve({ code, signal })),
  );
  try {
    const { code, signal } = await withDeadline(done, timeoutMs, `hodei ${args.join(" ")}`);
    if (partial) lines.push({ text: partial, atMs: performance.now() - started });
    return { code, signal, stdout, stderr, lines };
  } catch (err) {
    child.kill("SIGKILL");
    throw new Error(`${(err as Error).message}\nstdout:\n${stdout}\nstderr:\n${stderr}`);
  }
}
