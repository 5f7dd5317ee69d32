// Hodei Jobs as the peers' bench sees it: a real `hodei server` on its own database on the bench's
// PostgreSQL server (bench/control-plane.mjs), HODEI_LOCAL_MAX_WORKERS=N local workers warmed up
// before anything is measured, completion seen through ExecutionEventStream, lines through
// SubscribeLogs. Many jobs are queued with QueueJobs, in chunks as the peers queue theirs.
import { performance } from "node:perf_hooks";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { JobExecutionService, JobStatus, Priority, subscribeLogText, unary } from "@hodei/api";
import { createDatabase, startControlPlane, trackTerminalEvents } from "../control-plane.mjs";
import { queueAll } from "../platform.mjs";

const BULK_CHUNK = 5000; // QueueJobs calls, as the peers' bulk calls
const preload = join(dirname(fileURLToPath(import.meta.url)), "cpu-prof-preload.cjs");
const cpuProfEnv = (dir) => ({ NODE_OPTIONS: `--require ${preload}`, HODEI_BENCH_CPU_PROF_DIR: dir });
const MAX_QUEUE_SIZE = 1_000_000; // the default (100 000) would refuse the 100 000-job backlog's CRITICAL job

export function settings(concurrency) {
  return `HODEI_LOCAL_MAX_WORKERS=${concurrency} (warmed), PostgreSQL, QueueJobs in chunks of ${BULK_CHUNK}, ExecutionEventStream (ends only), SubscribeLogs`;
}

async function queueOne(client, command, priority) {
  const res = await unary(client, JobExecutionService.method.queueJob, {
    jobDefinition: { command, ...(priority ? { scheduling: { priority } } : {}) },
    queuedBy: "bench",
  });
  if (!res.jobId?.value) throw new Error(`QueueJob: ${res.message || "no job id returned"}`);
  return res.jobId.value;
}

export async function startSystem({ url, concurrency, prefix, cpuProfDir }) {
  const databaseUrl = await createDatabase(url, prefix.replace(/[^a-z0-9_]/gi, "_").toLowerCase());
  const cp = await startControlPlane({
    databaseUrl,
    maxWorkers: concurrency,
    env: {
      HODEI_MAX_QUEUE_SIZE: String(MAX_QUEUE_SIZE),
      ...(cpuProfDir ? cpuProfEnv(cpuProfDir) : {}),
    },
  });
  const tracker = trackTerminalEvents(cp.client);
  const waitDone = async (key, timeoutMs = 60_000) => {
    const seen = await tracker.waitTerminal(key, timeoutMs);
    if (seen.status !== JobStatus.COMPLETED) throw new Error(`${key} ended ${JobStatus[seen.status]}`);
    return seen;
  };
  try {
    // Overlapping jobs make the provider start every worker it may, as in bench/platform.mjs.
    const warm = Array.from({ length: concurrency * 2 }, (_, i) => `${prefix}-warmup-${i}`);
    await queueAll(cp.client, warm, "sleep 0.3", warm.length);
    await Promise.all(warm.map((id) => waitDone(id)));
  } catch (err) {
    tracker.close();
    await cp.stop();
    throw err;
  }
  let seq = 0;
  return {
    name: "hodei",
    settings: settings(concurrency),
    controlPlanePid: cp.pid,
    workerPids: () => cp.workerPids(),
    queue: (command, { critical = false } = {}) =>
      queueOne(cp.client, command, critical ? Priority.CRITICAL : undefined),
    async queueMany(n, command) {
      const ids = Array.from({ length: n }, () => `${prefix}-${seq++}`);
      for (let i = 0; i < n; i += BULK_CHUNK) {
        const chunk = ids.slice(i, i + BULK_CHUNK);
        const res = await unary(cp.client, JobExecutionService.method.queueJobs, {
          jobDefinitions: chunk.map((id) => ({ jobId: { value: id }, command })),
          queuedBy: "bench",
        });
        const failed = res.results.filter((r) => !r.success);
        if (failed.length) throw new Error(`${failed.length} jobs not queued, first: ${failed[0].message}`);
      }
      return ids;
    },
    waitDone,
    doneCount: () => tracker.terminal.size,
    followLogs(key, expected) {
      // Text blocks as the worker read them (as BullMQ's reader gets each batch as one string), up
      // to 4096 entries a message; each block's text is decoded to a string and its lines counted.
      const call = subscribeLogText(cp.client, { jobId: key, includeHistory: true });
      let lines = 0;
      return new Promise((resolve, reject) => {
        call.on("data", (m) => (lines += m.lineCount));
        call.on("error", reject);
        call.on("end", () => {
          const at = performance.now();
          if (lines < expected)
            reject(new Error(`SubscribeLogs of ${key} ended after ${lines}/${expected} lines`));
          else resolve({ lines, at });
        });
      });
    },
    async stop({ abandon = false } = {}) {
      tracker.close();
      if (abandon) {
        try {
          process.kill(-cp.pid, "SIGKILL"); // server, workers and their commands: nothing to drain
        } catch {
          // already gone
        }
      }
      await cp.stop();
    },
  };
}
