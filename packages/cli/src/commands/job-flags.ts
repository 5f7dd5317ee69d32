/** The flags shared by `job run` and `job queue`, and turning them into a QueueJobRequest. */
import type { Command } from "commander";
import type { CommandContext } from "../context.js";
import { UsageError } from "../errors.js";
import { buildQueueJobRequest, type JobFlags, type QueueJobInit, type ScriptFile } from "../job-request.js";

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function addJobFlags(cmd: Command): Command {
  return cmd
    .option("--name <name>", "job name")
    .option("--command <text>", "shell command, run under /bin/bash -c")
    .option("--args <arg...>", "arguments appended to --command, each shell-quoted (repeatable)")
    .option("--script <file>", "run this script file (interpreter from its #! line or extension)")
    .option("--env <K=V>", "environment variable (repeatable)", collect)
    .option(
      "--secret <K=V>",
      "secret for the job: JSON on its stdin by default (see HODEI_SECRETS_DELIVERY), never stored, redacted in logs (repeatable)",
      collect,
    )
    .option("--timeout <duration>", "execution timeout: 300ms, 10s, 5m, 1h or seconds")
    .option("--priority <level>", "low, normal, high or critical")
    .option("--image <image>", "container image to run in (docker/kubernetes providers)")
    .option("--provider <name>", "preferred provider: local, docker, kubernetes, microvm")
    .option("--cpu <cores>", "CPU cores required, e.g. 2, 0.5 or 500m")
    .option("--memory <size>", "memory required: bytes, 512Mi, 1Gi, 500M")
    .option("--label <K=V>", "worker label the job requires (repeatable)", collect)
    .option("--max-retries <n>", "attempts after the first failure (0-100)")
    .option("--id <job-id>", "job id (default: generated)")
    .option("--workdir <dir>", "working directory on the worker")
    .option("--queued-by <who>", "who queued the job (default: $USER)");
}

async function readScript(ctx: CommandContext, path: string): Promise<ScriptFile> {
  try {
    return { path, content: await ctx.deps.readFile(path) };
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message;
    throw new UsageError(`--script: cannot read ${path}: ${reason}`);
  }
}

/** Validates the flags (exit 2 on a mistake) and builds the request, before any connection. */
export async function queueRequestFromFlags(ctx: CommandContext, flags: JobFlags): Promise<QueueJobInit> {
  const script = flags.script === undefined ? undefined : await readScript(ctx, flags.script);
  return buildQueueJobRequest(flags, script, ctx.deps.env.USER || "cli");
}
