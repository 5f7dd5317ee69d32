// `npm run bench`: the machine's floors, the gRPC library comparison and the platform workloads on
// embedded storage and on PostgreSQL, in one run; one table, JSON in bench/results/<timestamp>.json,
// and last `throughput_ratio=<embedded jobs/s ÷ xargs floor spawns/s>`.
// PostgreSQL: HODEI_BENCH_DATABASE_URL if set, else a throwaway cluster from Debian's binaries, else
// skipped. BENCH_ROUNDS=3 takes medians of 3 interleaved rounds in the gRPC library comparison.
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { findPostgresBinDir, startPgCluster } from "../scripts/pg-cluster.mjs";
import { killAllControlPlanes } from "./control-plane.mjs";
import { formatFloors, runFloors } from "./floors.mjs";
import { formatGrpcLibs, runGrpcLibs } from "./grpc-libs.mjs";
import { formatPlatform, runPlatform } from "./platform.mjs";

const here = dirname(fileURLToPath(import.meta.url));

async function attempt(label, fn) {
  try {
    return await fn();
  } catch (err) {
    console.error(`${label} failed: ${err.stack ?? err}`);
    return { error: String(err.message ?? err) };
  }
}

async function postgresPlatform() {
  if (process.env.HODEI_BENCH_DATABASE_URL)
    return runPlatform({ postgresUrl: process.env.HODEI_BENCH_DATABASE_URL });
  if (!findPostgresBinDir())
    return { error: "no PostgreSQL (set HODEI_BENCH_DATABASE_URL or install postgresql)" };
  const cluster = await startPgCluster();
  process.on("exit", cluster.stopSync);
  try {
    return await runPlatform({ postgresUrl: cluster.url });
  } finally {
    await cluster.stop();
    process.off("exit", cluster.stopSync);
  }
}

function table(results) {
  const { floors, platform } = results;
  const [emb, pg] = [platform.embedded, platform.postgresql];
  const fmt = (x, d) => (Number.isFinite(x) ? x.toFixed(d) : x === undefined ? "" : "n/a");
  const ratio = (r) => (r && !r.error ? r.throughputJobsPerSec / floors.xargs8.perSec : undefined);
  const rows = [
    ["machine floors", "", "", ""],
    ["  node spawn bash -c true, 1 in flight /s", fmt(floors.node1?.perSec, 0), "", "(~690)"],
    ["  node spawn bash -c true, 8 in flight /s", fmt(floors.node8?.perSec, 0), "", ""],
    ["  xargs -P 8 bash -c true /s", fmt(floors.xargs8?.perSec, 0), "", "(~1300)"],
    ["platform", "embedded", "postgresql", "target"],
    ["  server start ms", fmt(emb?.serverStartMs, 0), fmt(pg?.serverStartMs, 0), ""],
    [
      "  cold: no worker → first log line p50 ms",
      fmt(emb?.coldMedianMs, 1),
      fmt(pg?.coldMedianMs, 1),
      "≤ 300",
    ],
    ["  cold: no worker → first log line p99 ms", fmt(emb?.coldP99Ms, 1), fmt(pg?.coldP99Ms, 1), ""],
    [
      "  cold: node -e 0 alone, start to exit p50 ms",
      fmt(emb?.nodeStartP50Ms, 1),
      fmt(pg?.nodeStartP50Ms, 1),
      "",
    ],
    ["  warm dispatch p50 ms", fmt(emb?.warmP50Ms, 2), fmt(pg?.warmP50Ms, 2), "≤ 5"],
    ["  warm dispatch p99 ms", fmt(emb?.warmP99Ms, 2), fmt(pg?.warmP99Ms, 2), "≤ 25"],
    [
      "  throughput 2000 × true, jobs/s",
      fmt(emb?.throughputJobsPerSec, 1),
      fmt(pg?.throughputJobsPerSec, 1),
      "",
    ],
    ["  throughput ÷ xargs floor", fmt(ratio(emb), 2), fmt(ratio(pg), 2), "≥ 0.35"],
  ];
  const widths = [0, 1, 2, 3].map((c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) =>
    r.map((cell, c) => (c ? cell.padStart(widths[c] + 2) : cell.padEnd(widths[c]))).join(""),
  );
}

async function main() {
  process.on("exit", killAllControlPlanes);
  process.on("SIGINT", () => process.exit(130));
  const machine = {
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memoryBytes: totalmem(),
    node: process.version,
    loadAvgAtStart: loadavg(),
  };
  console.log(
    `machine: ${machine.cpu}, ${machine.cores} cores, ${(machine.memoryBytes / 2 ** 30).toFixed(1)} GiB, node ${machine.node}, load ${machine.loadAvgAtStart.map((x) => x.toFixed(2)).join(" ")}`,
  );

  console.log("\n== floors");
  const floors = await runFloors();
  console.log(formatFloors(floors).join("\n"));

  console.log("\n== gRPC libraries");
  const grpcLibs = await attempt("gRPC library bench", () =>
    runGrpcLibs({ rounds: Number(process.env.BENCH_ROUNDS ?? 1) }),
  );
  if (Array.isArray(grpcLibs)) console.log(formatGrpcLibs(grpcLibs).join("\n"));

  const platform = {};
  for (const [key, run] of [
    ["embedded", () => runPlatform()],
    ["postgresql", postgresPlatform],
  ]) {
    console.log(`\n== platform, ${key}`);
    platform[key] = await attempt(`platform (${key})`, run);
    if (platform[key].error) console.log(`${key}: not measured: ${platform[key].error}`);
    else console.log(formatPlatform(platform[key]).join("\n"));
  }

  const results = { at: new Date().toISOString(), machine, floors, grpcLibs, platform };
  results.machine.loadAvgAtEnd = loadavg();
  const emb = platform.embedded;
  const ratio = emb && !emb.error ? emb.throughputJobsPerSec / floors.xargs8.perSec : NaN;
  results.throughputRatio = Number.isFinite(ratio) ? Number(ratio.toFixed(2)) : null;

  const dir = join(here, "results");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${results.at.replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, JSON.stringify(results, null, 2) + "\n");

  console.log("\n== summary (one run, same machine)");
  console.log(table(results).join("\n"));
  console.log(`results: ${file}`);
  console.log(`throughput_ratio=${Number.isFinite(ratio) ? ratio.toFixed(2) : "n/a"}`);
}

await main();
