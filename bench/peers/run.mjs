// `npm run bench:peers`: Hodei Jobs side by side with graphile-worker and pg-boss (on the same
// throwaway PostgreSQL server as ours) and BullMQ (on a Redis server the bench starts), each worker
// running the same handler (spawn /bin/bash -c, lines stored in batches, exit code recorded), at
// concurrency 1 and 8: throughput, latency, log volume, backlog. One table, JSON in
// bench/results/peers-<timestamp>.json, and last the two ratios to the best peer.
// Flags: --quick (smaller counts, a smoke run), --systems=hodei,bullmq,… --concurrency=8,
// --workloads=throughput,latency,log,backlog
// --cpu-prof (our server and workers write CPU profiles under bench/results/cpu-prof-<id>/)
// The peers are the bench's own dependencies (bench/peers/package.json), installed on first use.
import { performance } from "node:perf_hooks";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { findPostgresBinDir, startPgCluster } from "../../scripts/pg-cluster.mjs";
import { createDatabase, killAllControlPlanes } from "../control-plane.mjs";
import { nodeSpawnFloor, xargsFloor } from "../floors.mjs";
import { formatTable, summaryRatios } from "./report.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const MODULES = {
  hodei: "./ours.mjs",
  "graphile-worker": "./graphile.mjs",
  "pg-boss": "./pg-boss.mjs",
  bullmq: "./bullmq.mjs",
};

const WORKLOADS = ["throughput", "latency", "log", "backlog"];
const FULL = {
  throughputJobs: 2000,
  latencySamples: 200,
  logLines: 1_000_000,
  backlogs: [1000, 10_000, 100_000],
  claimWindow: 2000,
  floorSpawns: 1000,
};
const QUICK = {
  throughputJobs: 200,
  latencySamples: 20,
  logLines: 100_000,
  backlogs: [100, 1000],
  claimWindow: 50,
  floorSpawns: 200,
};

function parseArgs(argv) {
  const opt = (name) => argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
  const systems = opt("systems")?.split(",") ?? Object.keys(MODULES);
  for (const s of systems)
    if (!MODULES[s]) throw new Error(`unknown system ${s} (known: ${Object.keys(MODULES).join(", ")})`);
  const concurrencies = (opt("concurrency") ?? "1,8").split(",").map(Number);
  if (concurrencies.some((c) => !Number.isInteger(c) || c < 1))
    throw new Error("--concurrency takes positive integers");
  const quick = argv.includes("--quick");
  const only = opt("workloads")?.split(",") ?? WORKLOADS;
  for (const w of only)
    if (!WORKLOADS.includes(w)) throw new Error(`unknown workload ${w} (known: ${WORKLOADS.join(", ")})`);
  const cpuProf = argv.includes("--cpu-prof");
  return { quick, sizes: quick ? QUICK : FULL, systems, concurrencies, only: new Set(only), cpuProf };
}

function ensurePeersInstalled() {
  if (existsSync(join(here, "node_modules", "graphile-worker"))) return;
  console.log("installing the peers into bench/peers/node_modules (npm ci) …");
  const res = spawnSync("npm", ["ci", "--prefix", here, "--no-audit", "--no-fund"], { stdio: "inherit" });
  if (res.status !== 0) throw new Error(`npm ci --prefix ${here} failed (${res.status ?? res.signal})`);
}

/**
 * With --cpu-prof, `fn` runs between two SIGUSR2 to our server and workers (cpu-prof-preload.cjs):
 * a profile of that workload alone, named `label`.
 */
async function profiled(profDir, sys, label, fn) {
  if (!profDir || !sys.controlPlanePid) return fn();
  const pids = () => [sys.controlPlanePid, ...sys.workerPids()];
  const signal = (pid) => {
    try {
      process.kill(pid, "SIGUSR2");
    } catch {
      // exited meanwhile
    }
  };
  mkdirSync(profDir, { recursive: true });
  writeFileSync(join(profDir, "label"), label);
  const started = pids();
  started.forEach(signal);
  try {
    return await fn();
  } finally {
    started.forEach(signal);
    await new Promise((resolve) => setTimeout(resolve, 500)); // the profiles are written
  }
}

async function attempt(label, fn) {
  try {
    return await fn();
  } catch (err) {
    console.error(`  ${label} failed: ${err.stack ?? err}`);
    return { error: String(err.message ?? err).split("\n")[0] };
  }
}

function seqFloor(lines) {
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    spawnSync("/bin/bash", ["-c", `seq ${lines} > /dev/null`], { stdio: "ignore" });
    best = Math.min(best, performance.now() - t0);
  }
  return { lines, ms: best, linesPerSec: (lines * 1000) / best };
}

const machineLine = (m) =>
  `machine: ${m.cpu}, ${m.cores} cores, ${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB, node ${m.node}, load average ${m.loadAvgAtStart.map((x) => x.toFixed(2)).join(" ")}`;

async function main() {
  const { quick, sizes, systems, concurrencies, only, cpuProf } = parseArgs(process.argv.slice(2));
  ensurePeersInstalled();
  const { killAllPeerWorkers } = await import("./peer-process.mjs");
  const { hasRedisServer, startRedisServer } = await import("./redis-server.mjs");
  const workloads = await import("./workloads.mjs");
  process.on("exit", () => {
    killAllControlPlanes();
    killAllPeerWorkers();
  });
  process.on("SIGINT", () => process.exit(130));
  process.on("SIGTERM", () => process.exit(143));

  const machine = {
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memoryBytes: totalmem(),
    node: process.version,
    loadAvgAtStart: loadavg(),
  };
  console.log(machineLine(machine));
  console.log(`run: ${quick ? "--quick" : "full"}, ${JSON.stringify(sizes)}`);

  console.log("\n== floors");
  const floors = { nodeSpawn: {} };
  for (const c of concurrencies) {
    floors.nodeSpawn[c] = await nodeSpawnFloor({ n: sizes.floorSpawns, inFlight: c });
    console.log(`node spawn bash -c true, ${c} in flight: ${floors.nodeSpawn[c].perSec.toFixed(0)}/s`);
  }
  floors.xargs8 = await xargsFloor({ n: sizes.floorSpawns * 2, parallel: 8 });
  console.log(`xargs -P 8 bash -c true: ${floors.xargs8.perSec.toFixed(0)}/s`);
  floors.seq = seqFloor(sizes.logLines);
  console.log(`seq ${sizes.logLines} > /dev/null: ${floors.seq.ms.toFixed(0)} ms`);

  let cluster;
  let pgUrl = process.env.HODEI_BENCH_DATABASE_URL;
  if (!pgUrl && findPostgresBinDir()) {
    cluster = await startPgCluster();
    process.on("exit", cluster.stopSync);
    pgUrl = cluster.url;
  }
  const redis = hasRedisServer() ? await startRedisServer() : undefined;
  if (redis) process.on("exit", redis.stopSync);
  const unavailable = (system) =>
    system === "bullmq"
      ? !redis && "no redis-server (apt-get install redis-server)"
      : !pgUrl && "no PostgreSQL (install postgresql or set HODEI_BENCH_DATABASE_URL)";

  const runId = Date.now().toString(36);
  // --cpu-prof: our server and its workers write .cpuprofile files here when they exit.
  const profDir = join(here, "..", "results", `cpu-prof-${runId}`);
  const prof = cpuProf ? profDir : undefined;
  let seq = 0;
  const open = async (system, concurrency) => {
    const { startSystem } = await import(MODULES[system]);
    const prefix = `bench_${runId}_${system.replace(/\W/g, "")}_${concurrency}_${seq++}`;
    const url = system === "hodei" || system === "bullmq" ? pgUrl : await createDatabase(pgUrl, prefix);
    return startSystem({
      url,
      redis,
      concurrency,
      prefix,
      cpuProfDir: cpuProf && system === "hodei" ? profDir : undefined,
    });
  };

  const results = [];
  try {
    for (const concurrency of concurrencies) {
      for (const system of systems) {
        const row = { system, concurrency };
        results.push(row);
        const why = unavailable(system);
        if (why) {
          row.error = why;
          console.log(`\n== ${system}, concurrency ${concurrency}: skipped: ${why}`);
          continue;
        }
        console.log(`\n== ${system}, concurrency ${concurrency}`);
        if (["throughput", "latency", "log"].some((w) => only.has(w)))
          await attempt(`${system} workloads 1-3`, async () => {
            const sys = await open(system, concurrency);
            row.settings = sys.settings;
            console.log(`  settings: ${sys.settings}`);
            try {
              const steps = [
                ["throughput", "throughput", () => workloads.throughput(sys, sizes.throughputJobs)],
                ["latency", "latency", () => workloads.latency(sys, sizes.latencySamples)],
                ["log", "logVolume", () => workloads.logVolume(sys, sizes.logLines)],
              ];
              for (const [name, key, fn] of steps) {
                if (!only.has(name)) continue;
                row[key] = await attempt(name, () => profiled(prof, sys, `${name}-${concurrency}`, fn));
                console.log(`  ${name} ${JSON.stringify(row[key])}`);
              }
            } finally {
              await sys.stop();
            }
          });
        row.backlog = [];
        for (const size of only.has("backlog") ? sizes.backlogs : []) {
          const r = await attempt(`backlog ${size}`, async () => {
            const sys = await open(system, concurrency);
            try {
              const window = Math.min(sizes.claimWindow, Math.floor(size / 2));
              return await profiled(prof, sys, `backlog-${size}-${concurrency}`, () =>
                workloads.backlog(sys, { size, concurrency, window }),
              );
            } finally {
              await sys.stop({ abandon: true });
            }
          });
          row.backlog.push({ size, ...r });
          console.log(`  backlog ${JSON.stringify(r)}`);
        }
      }
    }
  } finally {
    await redis?.stop();
    await cluster?.stop();
  }

  machine.loadAvgAtEnd = loadavg();
  const report = { at: new Date().toISOString(), quick, sizes, machine, floors, results };
  Object.assign(report, summaryRatios(results));
  const dir = join(here, "..", "results");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `peers-${report.at.replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, JSON.stringify(report, null, 2) + "\n");

  console.log("\n== summary (one run, same machine: only ratios count)");
  console.log(machineLine(machine) + `; at end ${machine.loadAvgAtEnd.map((x) => x.toFixed(2)).join(" ")}`);
  console.log(formatTable(report).join("\n"));
  console.log(`results: ${file}`);
  const fmt = (x) => (Number.isFinite(x) ? x.toFixed(2) : "n/a");
  if (cpuProf) console.log(`cpu profiles: ${profDir} (node bench/peers/cpu-profile-top.mjs ${profDir})`);
  console.log(`ratio_vs_best_peer_throughput=${fmt(report.ratioVsBestPeerThroughput)}`);
  console.log(`ratio_vs_best_peer_p50=${fmt(report.ratioVsBestPeerP50)}`);
}

await main();
