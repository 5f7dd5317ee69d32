// Runs a JobExecution for a test, with real processes, collecting its log lines as the server would
// receive them (decoded from the worker's hand-encoded batches).
import { create, fromBinary } from "@bufbuild/protobuf";
import { LogLineSchema, WorkerMessageSchema, decodeWorkerLogBatch, type LogLine } from "@hodei/api";
import { accessSync, constants } from "node:fs";
import { JobExecution, type JobOutcome, type JobRequest } from "../src/job-execution.js";
import { HelperSpawner, NodeSpawner, defaultSpawnHelper, type JobSpawner } from "../src/job-process.js";
import { silentLogger } from "../src/logger.js";
import { liveGroupMembers } from "../src/process-group.js";

export interface Run {
  /** Sequences from 1 (with a log sequence base, as sent less the base). */
  lines: LogLine[];
  /** With a log sequence base: the batches that held a block of lines. */
  batchesWithBlocks: number;
  outcome: Promise<JobOutcome>;
  execution: JobExecution;
  waitForLine(pred: (l: LogLine) => boolean, deadlineMs?: number): Promise<LogLine>;
}

/** The built `hodei-spawn` (dist/hodei-spawn): `npm run build` makes it, with a C compiler. */
export function builtSpawnHelper(): string {
  const path = defaultSpawnHelper();
  if (path === undefined)
    throw new Error("hodei-spawn is not built: `npm run build` needs a C compiler (cc)");
  accessSync(path, constants.X_OK);
  return path;
}

/** The ways a worker can start jobs: through hodei-spawn (its default), or Node's own spawn. */
export const spawners = {
  helper: (graceMs = 2_000): JobSpawner => new HelperSpawner(builtSpawnHelper(), graceMs, silentLogger),
  node: (graceMs = 2_000): JobSpawner => new NodeSpawner(graceMs, silentLogger),
};

let shared: JobSpawner | undefined;

export function run(
  req: Partial<JobRequest>,
  opts: { killGraceMs?: number; spawner?: JobSpawner } = {},
): Run {
  const lines: LogLine[] = [];
  const waiters: (() => void)[] = [];
  const base = req.logSequenceBase;
  const r = { batchesWithBlocks: 0 };
  const execution = new JobExecution(
    {
      jobId: "j1",
      executionId: "e1",
      command: "",
      arguments: [],
      environment: {},
      secrets: {},
      workingDir: "",
      stdin: "",
      timeoutMs: 0,
      ...req,
    },
    {
      batchSize: 64,
      flushIntervalMs: 2,
      baseEnv: { PATH: process.env.PATH, HODEI_OTP_TOKEN: undefined },
      logger: silentLogger,
      spawner: opts.spawner ?? (shared ??= spawners.helper()),
      emitLogs: (message) => {
        if (base !== undefined) {
          // As the control plane reads them: entries, checked, numbered on from the base.
          const chunk = decodeWorkerLogBatch(Buffer.from(message.bytes))!.chunk(base)!;
          message.release();
          if (chunk.hasBlocks) r.batchesWithBlocks++;
          for (const l of chunk.lines())
            lines.push(
              create(LogLineSchema, {
                line: l.line,
                isStderr: l.isStderr,
                timestampMs: BigInt(l.timestampMs),
                sequence: BigInt(l.sequence - base),
              }),
            );
          for (const w of waiters.splice(0)) w();
          return true;
        }
        const m = fromBinary(WorkerMessageSchema, message.bytes);
        message.release();
        if (m.payload.case === "logBatch") lines.push(...m.payload.value.lines);
        for (const w of waiters.splice(0)) w();
        return true;
      },
      ...(opts.killGraceMs !== undefined ? { killGraceMs: opts.killGraceMs } : {}),
    },
  );
  const outcome = execution.start();
  const waitForLine = async (pred: (l: LogLine) => boolean, deadlineMs = 5000): Promise<LogLine> => {
    const end = Date.now() + deadlineMs;
    for (;;) {
      const found = lines.find(pred);
      if (found) return found;
      if (Date.now() > end) throw new Error("no matching log line before the deadline");
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 50);
      });
    }
  };
  return {
    lines,
    outcome,
    execution,
    waitForLine,
    get batchesWithBlocks() {
      return r.batchesWithBlocks;
    },
  };
}

export const text = (r: Run): string[] => r.lines.map((l) => l.line);

/**
 * Waits (with a deadline) until the group has at least `n` live processes: a job's first line can
 * arrive before the processes it starts next exist.
 */
export async function groupHas(pgid: number, n: number, deadlineMs = 2000): Promise<boolean> {
  const end = Date.now() + deadlineMs;
  while ((await liveGroupMembers(pgid)).length < n) {
    if (Date.now() > end) return false;
    await new Promise((res) => setTimeout(res, 10));
  }
  return true;
}

/**
 * Waits (with a deadline) until no process of the group is running. Zombies do not count: in this
 * sandbox PID 1 does not reap orphans, so `process.kill(-pgid, 0)` keeps succeeding for them.
 */
export async function groupGone(pgid: number, deadlineMs = 2000): Promise<boolean> {
  const end = Date.now() + deadlineMs;
  while ((await liveGroupMembers(pgid)).length > 0) {
    if (Date.now() > end) return false;
    await new Promise((res) => setTimeout(res, 10));
  }
  return true;
}
