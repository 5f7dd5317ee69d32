// The group-commit writer's two writes on a warm job's path, one job at a time: a job stored
// already handed to a worker (create), and its start, its `$ true` line and its end (one
// transaction: the worker's acceptance, lines and result arrive together for a short job). p50 and
// p99 of the writer's promise, in ms, on the embedded database and on PostgreSQL.
// `node bench/store-writes.mjs [jobs]` (default 600; the first 100 are not counted).
import { performance } from "node:perf_hooks";
import { GroupCommitWriter, migrate, openPglite, openPostgres } from "@hodei/store";
import { LogChunk } from "@hodei/api";
import { commandJobSpec } from "@hodei/core";
import { startPgCluster, findPostgresBinDir } from "../scripts/pg-cluster.mjs";
import { percentile } from "./control-plane.mjs";

const JOBS = Number(process.argv[2] ?? 600);
const WARMUP = 100;

const spec = (id) => commandJobSpec(id, "true");

async function measure(db) {
  await migrate(db);
  const w = new GroupCommitWriter(db);
  const create = [];
  const end = [];
  for (let i = 0; i < JOBS; i++) {
    const id = `job-${i}`;
    const executionId = `exec-${i}`;
    let t = performance.now();
    await w.createJob({
      spec: spec(id),
      queuedBy: "bench",
      actor: "bench",
      lane: "local",
      assign: { workerId: "w1", executionId },
    });
    if (i >= WARMUP) create.push(performance.now() - t);
    t = performance.now();
    const line = { sequence: 1, timestampMs: Date.now(), isStderr: false, line: "$ true" };
    const started = w.markRunning({ jobId: id, executionId, atMs: Date.now() });
    const lines = w.appendLogs({ jobId: id, chunk: LogChunk.fromLines([line]) });
    await w.finish({
      jobId: id,
      executionId,
      status: "SUCCEEDED",
      exitCode: 0,
      message: "",
      atMs: Date.now(),
      actor: "worker:w1",
    });
    await Promise.all([started, lines]);
    if (i >= WARMUP) end.push(performance.now() - t);
  }
  const fmt = (xs) => `p50 ${percentile(xs, 50).toFixed(2)} / p99 ${percentile(xs, 99).toFixed(2)} ms`;
  return { create: fmt(create), end: fmt(end), transactions: w.transactions };
}

const results = {};
const pglite = await openPglite(null);
results.embedded = await measure(pglite);
await pglite.close();
if (findPostgresBinDir()) {
  const cluster = await startPgCluster();
  const pg = await openPostgres(cluster.url);
  try {
    results.postgres = await measure(pg);
  } finally {
    await pg.close();
    await cluster.stop();
  }
}
for (const [name, r] of Object.entries(results))
  console.log(
    `${name.padEnd(9)} create ${r.create}   start+line+end ${r.end}   (${r.transactions} transactions)`,
  );
