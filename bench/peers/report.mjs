// The peers bench's summary: one row per system and workload, and the two ratios to the best peer
// (taken at the highest concurrency measured, 8 in a full run).

const f = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : "n/a");
const kilo = (x) =>
  Number.isFinite(x) ? (x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : `${(x / 1e3).toFixed(0)} k`) : "n/a";
const sizeName = (n) => (n >= 1000 ? `${n / 1000}k` : String(n));

/** CPU time (or page faults) by part (cpu-time.mjs), divided by `per`: "control plane 12, workers and job 40 …". */
function cpuParts(c, per, digits = 0) {
  const parts = [
    ["control plane", c.controlPlane],
    ["workers and job", c.workers],
    ["postgres", c.postgres],
    ["redis", c.redis],
    ["client", c.client],
  ].filter(([, ms]) => ms > 0);
  const total = parts.reduce((sum, [, ms]) => sum + ms, 0);
  return [...parts, ["total", total]].map(([name, ms]) => `${name} ${f(ms / per, digits)}`).join(", ");
}

export function summaryRatios(results) {
  const concurrency = Math.max(...results.map((r) => r.concurrency));
  const at = results.filter((r) => r.concurrency === concurrency);
  const ours = at.find((r) => r.system === "hodei");
  const peers = at.filter((r) => r.system !== "hodei");
  const best = (pick, better) =>
    peers
      .map((r) => ({ system: r.system, value: pick(r) }))
      .filter((x) => Number.isFinite(x.value))
      .reduce((a, b) => (a && better(a.value, b.value) ? a : b), undefined);
  const tp = best(
    (r) => r.throughput?.jobsPerSec,
    (a, b) => a >= b,
  );
  const p50 = best(
    (r) => r.latency?.p50Ms,
    (a, b) => a <= b,
  );
  return {
    ratiosAtConcurrency: concurrency,
    bestPeerThroughput: tp,
    bestPeerP50: p50,
    ratioVsBestPeerThroughput: tp ? ours?.throughput?.jobsPerSec / tp.value : NaN,
    ratioVsBestPeerP50: p50 ? p50.value / ours?.latency?.p50Ms : NaN,
  };
}

function rowsOf(r, floors) {
  if (r.error) return [[r.system, r.concurrency, "all", `not measured: ${r.error}`, ""]];
  const rows = [];
  const push = (workload, figure, ratio = "") =>
    rows.push([r.system, r.concurrency, workload, figure, ratio]);
  const tp = r.throughput;
  const spawnFloor = floors.nodeSpawn[r.concurrency]?.perSec;
  if (tp?.error) push("throughput", `error: ${tp?.error ?? "not run"}`);
  else if (tp)
    push(
      "throughput",
      `${f(tp.jobsPerSec, 1)} jobs/s (${tp.jobs} in ${f(tp.ms)} ms, queued in ${f(tp.queuedMs)} ms)`,
      `${f(tp.jobsPerSec / spawnFloor, 2)} × node spawn floor`,
    );
  if (tp?.cpuMs) push("  CPU per job", cpuParts(tp.cpuMs, tp.jobs, 2) + " ms", "");
  const lat = r.latency;
  if (lat?.error) push("latency", `error: ${lat.error}`);
  else if (lat)
    push(
      "latency",
      `p50 ${f(lat.p50Ms, 2)} / p95 ${f(lat.p95Ms, 2)} / p99 ${f(lat.p99Ms, 2)} ms (n=${lat.samples})`,
    );
  if (lat?.cpuMs) push("  CPU per job", cpuParts(lat.cpuMs, lat.samples, 2) + " ms", "");
  const log = r.logVolume;
  if (log?.error) push("log volume", `error: ${log.error}`);
  else if (log) {
    const cp =
      log.controlPlanePeakRssMb === undefined ? "" : `control plane ${f(log.controlPlanePeakRssMb)} MB, `;
    push(
      "log volume",
      `${f(log.ms)} ms, ${kilo(log.linesPerSec)} lines/s; peak RSS ${cp}worker ${f(log.workerPeakRssMb)} MB`,
      `${(floors.seq.ms / log.ms).toPrecision(2)} × seq > /dev/null`,
    );
    if (log.cpuMs) push("  CPU time", cpuParts(log.cpuMs, 1) + " ms", "");
    if (log.pageFaults) push("  page faults", cpuParts(log.pageFaults, 1000, 1) + " k", "");
  }
  const base = (r.backlog ?? []).find((b) => !b.error);
  for (const b of r.backlog ?? []) {
    const name = `backlog ${sizeName(b.size)}`;
    if (b.error) push(name, `error: ${b.error}`);
    else
      push(
        name,
        `CRITICAL p50 ${f(b.criticalP50Ms, 1)} ms (max ${f(b.criticalMaxMs, 1)}), claim ${f(b.claimPerSec)} jobs/s, seeded at ${f(b.seedJobsPerSec)}/s`,
        b === base
          ? ""
          : `claim × ${f(b.claimPerSec / base.claimPerSec, 2)}, CRITICAL × ${f(b.criticalP50Ms / base.criticalP50Ms, 2)} vs ${sizeName(base.size)}`,
      );
  }
  return rows;
}

export function formatTable(report) {
  const rows = [["system", "conc", "workload", "figure", "ratio"]];
  for (const r of report.results) rows.push(...rowsOf(r, report.floors).map((row) => row.map(String)));
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  const lines = rows.map((row) =>
    row
      .map((cell, c) => cell.padEnd(widths[c]))
      .join("  ")
      .trimEnd(),
  );
  lines.splice(1, 0, widths.map((w) => "-".repeat(w)).join("  "));
  lines.push("", "settings:");
  for (const r of report.results)
    if (r.settings) lines.push(`  ${r.system} (${r.concurrency}): ${r.settings}`);
  const { bestPeerThroughput: tp, bestPeerP50: p50, ratiosAtConcurrency: c } = report;
  lines.push(
    "",
    `best peer at concurrency ${c}: throughput ${tp ? `${tp.system} ${f(tp.value, 1)} jobs/s` : "n/a"}, p50 ${p50 ? `${p50.system} ${f(p50.value, 2)} ms` : "n/a"}`,
  );
  return lines;
}
