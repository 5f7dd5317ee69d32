// The four workloads, written once against what every system offers the bench (ours.mjs,
// graphile.mjs, pg-boss.mjs, bullmq.mjs): queue(command, { critical }) → key, queueMany(n, command)
// → keys, waitDone(key) → { at }, doneCount(), followLogs(key, expectedLines) → { lines, at },
// workerPids(), controlPlanePid?, stop(). Times are performance.now() in this, the submitting
// client's, process.
import { performance } from "node:perf_hooks";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { percentile } from "../control-plane.mjs";
import { cpuByPart, cpuSnapshot } from "./cpu-time.mjs";
import { peakRssMb, resetPeakRss } from "./memory.mjs";

const JOB_TIMEOUT_MS = 300_000;

async function until(pred, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(2);
  }
}

/** 1. `jobs` × `true` queued at once (each system's bulk path) → first queue call to last done. */
export async function throughput(sys, jobs) {
  const cpuBefore = cpuSnapshot();
  const t0 = performance.now();
  const keys = await sys.queueMany(jobs, "true");
  const queuedMs = performance.now() - t0;
  const done = await Promise.all(keys.map((k) => sys.waitDone(k, JOB_TIMEOUT_MS)));
  const ms = Math.max(...done.map((d) => d.at)) - t0;
  const cpuMs = cpuByPart(cpuBefore, cpuSnapshot(), {
    controlPlanePid: sys.controlPlanePid,
    workerPids: sys.workerPids(),
  });
  return { jobs, queuedMs, ms, jobsPerSec: (jobs * 1000) / ms, cpuMs };
}

/** 2. One `true` at a time, `samples` times (after 10 unmeasured) → queue call to done seen. */
export async function latency(sys, samples) {
  const ms = [];
  let cpuBefore;
  for (let i = -10; i < samples; i++) {
    if (i === 0) cpuBefore = cpuSnapshot();
    const t0 = performance.now();
    const key = await sys.queue("true");
    const { at } = await sys.waitDone(key, JOB_TIMEOUT_MS);
    if (i >= 0) ms.push(at - t0);
  }
  const cpuMs = cpuByPart(cpuBefore, cpuSnapshot(), {
    controlPlanePid: sys.controlPlanePid,
    workerPids: sys.workerPids(),
  });
  const [p50Ms, p95Ms, p99Ms] = [50, 95, 99].map((p) => percentile(ms, p));
  return { samples, p50Ms, p95Ms, p99Ms, cpuMs };
}

/**
 * 3. One job printing `lines` lines (`seq`) → queue call until every line is stored and delivered
 * to a live subscriber (and the job is done); with the peak RSS of the control plane (ours) and of
 * the worker processes over that stretch.
 */
export async function logVolume(sys, lines) {
  const pids = () => [...(sys.controlPlanePid ? [sys.controlPlanePid] : []), ...sys.workerPids()];
  const peakReset = resetPeakRss(pids());
  const cpuBefore = cpuSnapshot();
  const t0 = performance.now();
  const key = await sys.queue(`seq ${lines}`);
  const expected = lines + 1; // and the `$ seq N` header line every system stores first
  const [seen, done] = await Promise.all([sys.followLogs(key, expected), sys.waitDone(key, JOB_TIMEOUT_MS)]);
  const ms = Math.max(seen.at, done.at) - t0;
  const cpuAfter = cpuSnapshot();
  const parts = { controlPlanePid: sys.controlPlanePid, workerPids: sys.workerPids() };
  const cpuMs = cpuByPart(cpuBefore, cpuAfter, parts);
  const pageFaults = cpuByPart(cpuBefore, cpuAfter, parts, "faults");
  const workerPeaks = sys.workerPids().map(peakRssMb).filter(Number.isFinite);
  return {
    lines: seen.lines,
    ms,
    linesPerSec: (lines * 1000) / ms,
    controlPlanePeakRssMb: sys.controlPlanePid ? peakRssMb(sys.controlPlanePid) : undefined,
    workerPeakRssMb: workerPeaks.length ? Math.max(...workerPeaks) : NaN,
    peakSince: peakReset ? "workload start" : "process start",
    cpuMs,
    pageFaults,
  };
}

/**
 * 4. A backlog of `size` pending `true` jobs (each system's bulk path, while N blockers hold every
 * slot), then the blockers are released: the claim rate over the first `window` backlog jobs, then
 * `criticalSamples` CRITICAL `true` jobs one after the other, queue call to done, while the backlog
 * is still being worked.
 */
export async function backlog(sys, { size, concurrency, window, criticalSamples = 5 }) {
  const dir = mkdtempSync(join(tmpdir(), "hodei-peers-blockers-"));
  try {
    // One at a time, each seen running before the next is queued, so that every worker slot holds
    // one (a peer that fetches in batches would otherwise take them all into one slot).
    // A blocker waits on a FIFO with bash builtins only (no process spawned while it waits); the
    // FIFO is opened read-write so that neither side blocks in open().
    const fifo = join(dir, "release");
    execFileSync("mkfifo", [fifo]);
    for (let i = 0; i < concurrency; i++) {
      const started = join(dir, `started-${i}`);
      await sys.queue(`exec 9<>${fifo}; touch ${started}; read -u 9`);
      await until(() => existsSync(started), 60_000, `blocker ${i} to start`);
    }
    const t0 = performance.now();
    await sys.queueMany(size, "true");
    const seedMs = performance.now() - t0;

    const before = sys.doneCount();
    const released = performance.now();
    writeFileSync(fifo, "\n".repeat(concurrency)); // a line for each blocker's read
    const target = before + concurrency + window; // the blockers end too
    await until(() => sys.doneCount() >= target, JOB_TIMEOUT_MS, `${window} backlog jobs to finish`);
    const claimMs = performance.now() - released;
    const claimed = sys.doneCount() - before - concurrency;

    const critical = [];
    for (let i = 0; i < criticalSamples; i++) {
      const c0 = performance.now();
      const key = await sys.queue("true", { critical: true });
      const { at } = await sys.waitDone(key, JOB_TIMEOUT_MS);
      critical.push(at - c0);
    }
    return {
      size,
      seedMs,
      seedJobsPerSec: (size * 1000) / seedMs,
      claimPerSec: (claimed * 1000) / claimMs,
      criticalP50Ms: percentile(critical, 50),
      criticalMaxMs: Math.max(...critical),
      criticalSamplesMs: critical.map((x) => Math.round(x * 10) / 10),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
