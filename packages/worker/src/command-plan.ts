import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { commandLine } from "@hodei/core";

const DEFAULT_SHELL = "/bin/bash";

/** What the worker needs of a RunJob to decide how to run it. */
export interface CommandSpec {
  command: string;
  arguments: readonly string[];
  script?: { interpreter: string; content: string } | undefined;
}

/** How a job runs: a program, its arguments, and the header lines shown first in its log. */
export type CommandPlan =
  | { kind: "command"; file: string; args: string[]; header: string[] }
  | {
      kind: "script";
      program: string;
      programArgs: string[];
      content: string;
      scriptArgs: string[];
      header: string[];
    };

/** A plan made concrete: spawn `file` with `args` (stdin from `stdinPath` if set), then call `cleanup()`. */
export interface PreparedCommand {
  file: string;
  args: string[];
  header: string[];
  stdinPath?: string;
  cleanup(): Promise<void>;
}

const knownInterpreters: Record<string, string[]> = {
  bash: [DEFAULT_SHELL],
  sh: ["/bin/sh"],
  python: ["python3"],
  python3: ["python3"],
  node: [process.execPath],
};

function scriptHeader(name: string, content: string): string[] {
  const lines = content.split("\n").map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
  if (lines.length > 1 && lines[lines.length - 1] === "") lines.pop();
  return [`$ ${name} -c << 'EOF'`, ...lines, "EOF"];
}

/** `#!/usr/bin/env python3 -u` → program `/usr/bin/env`, args `["python3", "-u"]`, shown as `python3`. */
function parseShebang(firstLine: string, shell: string): { program: string; args: string[]; name: string } {
  const words = firstLine.slice(2).trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return { program: shell, args: [], name: "bash" };
  const [program, ...args] = words as [string, ...string[]];
  const base = (p: string): string => p.slice(p.lastIndexOf("/") + 1);
  const name =
    base(program) === "env" && args.length > 0
      ? base(args.find((a) => !a.startsWith("-")) ?? program)
      : base(program);
  return { program, args, name };
}

function interpreterFor(
  name: string,
  shell: string,
): { program: string; programArgs: string[]; name: string } {
  const trimmed = name.trim() || "bash";
  const known = trimmed === "bash" ? [shell] : knownInterpreters[trimmed];
  if (known) return { program: known[0]!, programArgs: known.slice(1), name: trimmed };
  // Any other name or path is run as given ("ruby", "/usr/bin/perl").
  return { program: trimmed, programArgs: [], name: trimmed.slice(trimmed.lastIndexOf("/") + 1) };
}

/**
 * Decides how to run a job. A `script`, a multi-line command or one starting with `#!` runs from a
 * file with its interpreter (arguments become `$1…`); anything else is
 * `/bin/bash -c "<command> <quoted arguments>"` (`shell` in place of /bin/bash when given: an image
 * without bash gets one from its provider).
 */
export function planCommand(spec: CommandSpec, shell = DEFAULT_SHELL): CommandPlan {
  const args = [...spec.arguments];
  if (spec.script && spec.script.content !== "") {
    const it = interpreterFor(spec.script.interpreter, shell);
    const content = spec.script.content;
    return { kind: "script", ...it, content, scriptArgs: args, header: scriptHeader(it.name, content) };
  }
  const command = spec.command;
  if (command.startsWith("#!")) {
    const nl = command.indexOf("\n");
    const sb = parseShebang((nl < 0 ? command : command.slice(0, nl)).trimEnd(), shell);
    return {
      kind: "script",
      program: sb.program,
      programArgs: sb.args,
      content: command,
      scriptArgs: args,
      header: scriptHeader(sb.name, command),
    };
  }
  if (command.trimEnd().includes("\n")) {
    return {
      kind: "script",
      program: shell,
      programArgs: [],
      content: command,
      scriptArgs: args,
      header: scriptHeader("bash", command),
    };
  }
  const full = commandLine(command, args);
  return { kind: "command", file: shell, args: ["-c", full], header: [`$ ${full}`] };
}

/**
 * Writes a script and the job's stdin to private temporary files (directory 0700, files 0600).
 * Stdin is given as a file rather than a pipe: Node's pipes are socketpairs, and bash sources
 * ~/.bashrc when its stdin is a socket, which would change what a job does.
 */
export async function prepareCommand(plan: CommandPlan, stdin = ""): Promise<PreparedCommand> {
  if (plan.kind === "command" && stdin === "") {
    return { file: plan.file, args: plan.args, header: plan.header, cleanup: async () => {} };
  }
  const dir = await mkdtemp(join(tmpdir(), "hodei-job-"));
  const cleanup = (): Promise<void> => rm(dir, { recursive: true, force: true });
  try {
    const write = async (name: string, content: string): Promise<string> => {
      const path = join(dir, name);
      await writeFile(path, content, { mode: 0o600, flag: "wx" });
      return path;
    };
    const stdinPath = stdin === "" ? undefined : await write("stdin", stdin);
    const common = { header: plan.header, cleanup, ...(stdinPath ? { stdinPath } : {}) };
    if (plan.kind === "command") return { file: plan.file, args: plan.args, ...common };
    const path = await write("script", plan.content);
    return { file: plan.program, args: [...plan.programArgs, path, ...plan.scriptArgs], ...common };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
