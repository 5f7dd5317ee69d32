// The platform benchmarks, at process level against a real `hodei server` (see control-plane.mjs):
//   cold        no worker yet → queue `echo hi` → first log line via SubscribeLogs (median of 5)
//   warm        8 READY workers, `true` jobs one at a time: QueueJob call → terminal event (p50/p99)
//   throughput  2000 `true` jobs, 64 QueueJob calls in flight, 8 workers → jobs/s
// Run directly: `node bench/platform.mjs` (embedded) or `node bench/platform.mjs --pg` (a
// throwaway PostgreSQL cluster).
import { performance } from "node:perf_hooks";
import { setTimeout as delay } from "node:timers/promises";
import { pathToFileURL } from "node:url";
import { JobExecutionService, JobStatus, LogStreamService, serverStream, unary } from "@hodei/api";
import { startPgCluster } from "../scripts/pg-cluster.mjs";
import { nodeStartFloor } from "./floors.mjs";
import {
  createDatabase,
  describe,
  killAllControlPlanes,
  median,
  percentile,
  startControlPlane,
  trackTerminalEvents,
} from "./control-plane.mjs";

const runId = Date.now().toString(36);
let dbSeq = 0;

async function queueJob(client, id, command) {
  const res = await unary(client, JobExecutionService.method.queueJob, {
    jobDefinition: { jobId: { value: id }, name: id, command },
    queuedBy: "bench",
  });
  if (res.jobId?.value !== id) throw new Error(`QueueJob ${id}: ${res.message || "unexpected job id"}`);
}

/** Queues without an id, as `hodei job run` does: the server makes one and returns it. */
async function queueUnnamed(client, command) {
  const res = await unary(client, JobExecutionService.method.queueJob, {
    jobDefinition: { command },
    queuedBy: "bench",
  });
  if (!res.jobId?.value) throw new Error(`QueueJob: ${res.message || "no job id returned"}`);
  return res.jobId.value;
}

/** Resolves once `pred()` holds, polling every 20 ms; rejects after `timeoutMs`. */
async function until(pred, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(20);
  }
}

/** Queue `echo hi` → { firstLineMs, outputLineMs } as seen through SubscribeLogs. */
async function coldSample(client, id) {
  const t0 = performance.now();
  await queueJob(client, id, "echo hi");
  const call = serverStream(client, LogStreamService.method.subscribeLogs, {
    jobId: id,
    includeHistory: true,
  });
  return new Promise((resolve, reject) => {
    let firstLineMs;
    const timer = setTimeout(() => finish(new Error(`no "hi" from ${id} within 30 s`)), 30_000);
    const finish = (err, value) => {
      clearTimeout(timer);
      call.cancel();
      if (err) reject(err);
      else resolve(value);
    };
    call.on("data", (entry) => {
      const at = performance.now() - t0;
      firstLineMs ??= at;
      if (entry.line === "hi") finish(undefined, { firstLineMs, outputLineMs: at });
    });
    call.on("error", (err) => {
      if (err.code !== 1 /* CANCELLED */) finish(err);
    });
    call.on("end", () => finish(new Error(`log stream of ${id} ended without "hi"`)));
  });
}

/** Cold latency: the first job of a fresh server, then again each time its workers idled out (20 jobs). */
export async function coldLatency({ databaseUrl, samples = 20, idleTimeoutMs = 300, env = {} } = {}) {
  // What no cold start of a local worker (a node process) can beat, on this machine at this moment.
  const nodeStart = await nodeStartFloor();
  const cp = await startControlPlane({ databaseUrl, idleTimeoutMs, env });
  try {
    const runs = [];
    for (let i = 0; i < samples; i++) {
      await until(() => cp.workerPids().length === 0, 30_000, "workers to idle out");
      runs.push(await coldSample(cp.client, `${runId}-cold-${i}`));
    }
    const first = runs.map((r) => r.firstLineMs);
    return {
      serverStartMs: cp.startMs,
      coldFreshServerMs: first[0],
      coldMedianMs: median(first),
      coldP99Ms: percentile(first, 99),
      coldOutputMedianMs: median(runs.map((r) => r.outputLineMs)),
      coldSamplesMs: first.map((x) => Math.round(x * 10) / 10),
      nodeStartP50Ms: nodeStart.p50Ms,
    };
  } finally {
    await cp.stop();
  }
}

/** Queues ids with at most `inFlight` QueueJob calls at once. */
export async function queueAll(client, ids, command, inFlight) {
  let next = 0;
  const errors = [];
  const lane = async () => {
    while (next < ids.length) {
      const id = ids[next++];
      await queueJob(client, id, command).catch((err) => errors.push(`${id}: ${err.message}`));
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  return errors;
}

/** Warm dispatch latency then throughput, on one server with `workers` warmed up. */
export async function warmAndThroughput({
  databaseUrl,
  workers = 8,
  samples = 300,
  jobs = 2000,
  inFlight = 64,
} = {}) {
  const cp = await startControlPlane({ databaseUrl, maxWorkers: workers });
  const tracker = trackTerminalEvents(cp.client);
  try {
    // Warm-up: overlapping jobs make the provider start every worker it may.
    const warmIds = Array.from({ length: workers * 2 }, (_, i) => `${runId}-warmup-${i}`);
    await queueAll(cp.client, warmIds, "sleep 0.3", warmIds.length);
    await Promise.all(warmIds.map((id) => tracker.waitTerminal(id, 60_000)));
    const warmWorkers = cp.workerPids().length;

    // Server-made ids, as `hodei job run` queues; a client-chosen id is measured too (below): it
    // must be checked for a duplicate in the database before the job may start.
    const latencies = [];
    const queueLatencies = []; // the QueueJob round trip alone, the first part of `latencies`
    const namedLatencies = [];
    for (let i = -10; i < samples; i++) {
      const t0 = performance.now();
      const id = await queueUnnamed(cp.client, "true");
      const queued = performance.now();
      const seen = await tracker.waitTerminal(id, 30_000);
      if (seen.status !== JobStatus.COMPLETED) throw new Error(`${id} ended ${JobStatus[seen.status]}`);
      if (i >= 0) {
        latencies.push(seen.at - t0);
        queueLatencies.push(queued - t0);
      }
    }
    for (let i = 0; i < Math.ceil(samples / 3); i++) {
      const id = `${runId}-warm-named-${i}`;
      const t0 = performance.now();
      await queueJob(cp.client, id, "true");
      const seen = await tracker.waitTerminal(id, 30_000);
      if (seen.status !== JobStatus.COMPLETED) throw new Error(`${id} ended ${JobStatus[seen.status]}`);
      namedLatencies.push(seen.at - t0);
    }

    const ids = Array.from({ length: jobs }, (_, i) => `${runId}-tp-${i}`);
    const duplicatesBefore = tracker.state.duplicates;
    const t0 = performance.now();
    const queueErrors = await queueAll(cp.client, ids, "true", inFlight);
    const queuedMs = performance.now() - t0;
    const outcomes = await Promise.allSettled(ids.map((id) => tracker.waitTerminal(id, 180_000)));
    const done = outcomes.filter((o) => o.status === "fulfilled").map((o) => o.value);
    const lastAt = Math.max(...done.map((s) => s.at));
    const succeeded = done.filter((s) => s.status === JobStatus.COMPLETED).length;
    const problems = [...queueErrors];
    if (succeeded !== jobs) {
      const byStatus = {};
      for (const s of done) byStatus[JobStatus[s.status]] = (byStatus[JobStatus[s.status]] ?? 0) + 1;
      problems.push(
        `${succeeded}/${jobs} SUCCEEDED; terminal: ${JSON.stringify(byStatus)}, none: ${jobs - done.length}`,
      );
    }
    const duplicates = tracker.state.duplicates - duplicatesBefore;
    if (duplicates) problems.push(`${duplicates} duplicate terminal events`);
    const odd = ids.filter(
      (id) => tracker.later.has(id) || tracker.terminal.get(id)?.status !== JobStatus.COMPLETED,
    );
    for (const id of odd.slice(0, 5)) {
      const first = tracker.terminal.get(id);
      const rest = tracker.later.get(id) ?? [];
      problems.push(
        `  ${id}: ${first ? describe(first.ev) : "no terminal event"}${rest.map((e) => ` → then ${e}`).join("")}`,
      );
    }
    return {
      serverStartMs: cp.startMs,
      workersWarm: warmWorkers,
      warmP50Ms: percentile(latencies, 50),
      warmP99Ms: percentile(latencies, 99),
      warmSamples: latencies.length,
      warmQueueJobP50Ms: percentile(queueLatencies, 50),
      warmNamedP50Ms: percentile(namedLatencies, 50),
      throughputJobs: jobs,
      throughputSucceeded: succeeded,
      throughputQueueMs: queuedMs,
      throughputMs: lastAt - t0,
      throughputJobsPerSec: succeeded === jobs ? (jobs * 1000) / (lastAt - t0) : NaN,
      problems,
    };
  } finally {
    tracker.close();
    await cp.stop();
  }
}

/** Every platform workload on one storage: embedded (no databaseUrl) or a PostgreSQL server URL. */
export async function runPlatform({ postgresUrl } = {}) {
  const db = async (kind) =>
    postgresUrl ? createDatabase(postgresUrl, `bench_${runId}_${kind}_${dbSeq++}`) : undefined;
  const cold = await coldLatency({ databaseUrl: await db("cold") });
  const warm = await warmAndThroughput({ databaseUrl: await db("warm") });
  return { storage: postgresUrl ? "postgresql" : "embedded", ...cold, ...warm };
}

export function formatPlatform(r) {
  const f = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : "n/a");
  return [
    `${r.storage}: server start ${f(r.serverStartMs, 0)} ms`,
    `  cold (no worker → first log line, n=${r.coldSamplesMs.length})   p50 ${f(r.coldMedianMs)} ms, p99 ${f(r.coldP99Ms)} ms, fresh server ${f(r.coldFreshServerMs)} ms (node -e 0 alone: p50 ${f(r.nodeStartP50Ms)} ms)`,
    `  warm dispatch (${r.workersWarm} workers, n=${r.warmSamples})  p50 ${f(r.warmP50Ms, 2)} ms, p99 ${f(r.warmP99Ms, 2)} ms (QueueJob alone p50 ${f(r.warmQueueJobP50Ms, 2)} ms; with a client-chosen id p50 ${f(r.warmNamedP50Ms, 2)} ms)`,
    `  throughput ${r.throughputSucceeded}/${r.throughputJobs} in ${f(r.throughputMs, 0)} ms  → ${f(r.throughputJobsPerSec)} jobs/s (queued in ${f(r.throughputQueueMs, 0)} ms)`,
    ...r.problems.map((p) => `  ERROR: ${p}`),
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  process.on("exit", killAllControlPlanes);
  process.on("SIGINT", () => process.exit(130));
  const cluster = process.argv.includes("--pg") ? await startPgCluster() : undefined;
  try {
    console.log(formatPlatform(await runPlatform({ postgresUrl: cluster?.url })).join("\n"));
  } finally {
    await cluster?.stop();
  }
}
