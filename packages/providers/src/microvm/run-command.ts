import { spawn } from "node:child_process";

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion, capturing its output; rejects only when it cannot be started. */
export function runCommand(
  file: string,
  args: readonly string[],
  opts: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: opts.cwd, env: opts.env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs) : undefined;
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${file}: ${err.message}`));
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Like runCommand, but a non-zero exit is an error carrying the program's stderr. */
export async function runChecked(
  file: string,
  args: readonly string[],
  opts: { cwd?: string; timeoutMs?: number } = {},
): Promise<string> {
  const r = await runCommand(file, args, opts);
  if (r.code !== 0) {
    const detail = (r.stderr || r.stdout).trim().split("\n").slice(-5).join("\n");
    throw new Error(`${file} ${args.join(" ")} exited with ${r.code ?? "a signal"}: ${detail}`);
  }
  return r.stdout;
}

/** The absolute path of `name` on PATH, or undefined. */
export async function which(name: string): Promise<string | undefined> {
  if (name.includes("/")) return name;
  const r = await runCommand("sh", ["-c", 'command -v -- "$1"', "sh", name]).catch(() => undefined);
  const path = r?.code === 0 ? r.stdout.trim() : "";
  return path.startsWith("/") ? path : undefined;
}
