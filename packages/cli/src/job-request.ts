/** Turns `job run` / `job queue` flags into a QueueJobRequest. Pure: the script file is read by the caller. */
import { basename, extname } from "node:path";
import { priorityToWire, type QueueJobRequestSchema } from "@hodei/api";
import { validateJobId } from "@hodei/core";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { UsageError } from "./errors.js";
import {
  durationFromMs,
  keyValuesToRecord,
  parseCount,
  parseCpuCores,
  parseDurationMs,
  parseMemoryBytes,
  parsePriority,
} from "./parse-flags.js";

/** The flags as commander hands them over (strings, repeatable ones as arrays). */
export interface JobFlags {
  name?: string;
  command?: string;
  args?: string[];
  script?: string;
  env?: string[];
  secret?: string[];
  timeout?: string;
  priority?: string;
  image?: string;
  provider?: string;
  cpu?: string;
  memory?: string;
  label?: string[];
  maxRetries?: string;
  id?: string;
  workdir?: string;
  queuedBy?: string;
}

export interface ScriptFile {
  path: string;
  content: string;
}

export type QueueJobInit = MessageInitShape<typeof QueueJobRequestSchema>;

const INTERPRETER_BY_PROGRAM: Record<string, string> = {
  bash: "bash",
  sh: "sh",
  python: "python3",
  python3: "python3",
  node: "node",
};

const INTERPRETER_BY_EXTENSION: Record<string, string> = {
  ".py": "python3",
  ".js": "node",
  ".mjs": "node",
  ".cjs": "node",
  ".sh": "bash",
  ".bash": "bash",
};

/** The interpreter for a script: its `#!` line first, then its extension, else bash. */
export function scriptInterpreter(path: string, content: string): string {
  const shebang = /^#!\s*(\S+)(.*)$/m.exec(content.split("\n", 1)[0] ?? "");
  if (shebang) {
    let program = basename(shebang[1] as string);
    if (program === "env") {
      const words = (shebang[2] as string).trim().split(/\s+/);
      program = words.find((w) => w !== "" && !w.startsWith("-") && !w.includes("=")) ?? "";
    }
    const known = INTERPRETER_BY_PROGRAM[program] ?? INTERPRETER_BY_PROGRAM[program.replace(/[\d.]+$/, "")];
    if (known) return known;
    throw new UsageError(
      `--script: unsupported interpreter ${JSON.stringify(program)} in the #! line (use bash, sh, python3 or node)`,
    );
  }
  return INTERPRETER_BY_EXTENSION[extname(path).toLowerCase()] ?? "bash";
}

function wrapUsage<T>(flag: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof UsageError) throw new UsageError(`${flag}: ${err.message}`);
    throw err;
  }
}

/** Validates the flags and builds the request; throws UsageError naming the flag at fault. */
export function buildQueueJobRequest(
  flags: JobFlags,
  script: ScriptFile | undefined,
  defaultQueuedBy: string,
): QueueJobInit {
  const command = flags.command ?? "";
  if (command.trim() !== "" && script) throw new UsageError("give either --command or --script, not both");
  if (command.trim() === "" && !script)
    throw new UsageError("a job needs --command <text> or --script <file>");
  if (script && (flags.args?.length ?? 0) > 0)
    throw new UsageError("--args goes with --command, not --script");
  if (script && script.content.trim() === "") throw new UsageError(`--script: ${script.path} is empty`);

  const id = flags.id === undefined ? "" : wrapUsage("--id", () => checkJobId(flags.id as string));
  const priority =
    flags.priority === undefined
      ? undefined
      : wrapUsage("--priority", () => parsePriority(flags.priority as string));
  const timeoutMs =
    flags.timeout === undefined
      ? undefined
      : wrapUsage("--timeout", () => parseDurationMs(flags.timeout as string));
  if (timeoutMs !== undefined && timeoutMs <= 0) throw new UsageError("--timeout: must be greater than zero");
  const env = wrapUsage("--env", () => keyValuesToRecord(flags.env ?? []));
  for (const key of Object.keys(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key))
      throw new UsageError(`--env: invalid variable name ${JSON.stringify(key)}`);
  }

  return {
    queuedBy: flags.queuedBy || defaultQueuedBy,
    jobDefinition: {
      jobId: id ? { value: id } : undefined,
      name: flags.name ?? (script ? basename(script.path) : ""),
      command: script ? "" : command,
      arguments: flags.args ?? [],
      environment: env,
      secrets: wrapUsage("--secret", () => keyValuesToRecord(flags.secret ?? [])),
      script: script
        ? { interpreter: scriptInterpreter(script.path, script.content), content: script.content }
        : undefined,
      image: flags.image ?? "",
      workingDir: flags.workdir ?? "",
      maxRetries:
        flags.maxRetries === undefined
          ? 0
          : wrapUsage("--max-retries", () => parseCount(flags.maxRetries as string, 100)),
      requirements: {
        cpuCores: flags.cpu === undefined ? 0 : wrapUsage("--cpu", () => parseCpuCores(flags.cpu as string)),
        memoryBytes:
          flags.memory === undefined
            ? 0n
            : wrapUsage("--memory", () => parseMemoryBytes(flags.memory as string)),
      },
      scheduling: {
        priority: priority === undefined ? undefined : priorityToWire(priority),
        preferredProvider: flags.provider ?? "",
        requiredLabels: wrapUsage("--label", () => keyValuesToRecord(flags.label ?? [])),
      },
      timeout: timeoutMs === undefined ? undefined : { executionTimeout: durationFromMs(timeoutMs) },
    },
  };
}

function checkJobId(id: string): string {
  try {
    return validateJobId(id);
  } catch {
    throw new UsageError(`must be 1-128 characters of [A-Za-z0-9._-], got ${JSON.stringify(id)}`);
  }
}
