// CPU time spent by each part of a system over a stretch of time, read from /proc/<pid>/stat: user
// and system time, plus that of the children the process has reaped (a worker's job commands). A
// worker's descendants that are still alive (our workers' hodei-spawn, which reaps the job commands)
// count as the worker's.
import { readdirSync, readFileSync } from "node:fs";

const TICK_MS = 10; // USER_HZ is 100 on Linux

function stat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    const close = text.lastIndexOf(")");
    const comm = text.slice(text.indexOf("(") + 1, close);
    const f = text.slice(close + 2).split(" ");
    // fields 14-17 of stat(5): utime, stime, cutime, cstime (f[0] is field 3); 10 and 11: minflt,
    // cminflt (minor page faults: on a nested hypervisor each first touch of fresh memory costs
    // microseconds, which made allocation churn, not copying, the cost of moving log bytes)
    return {
      comm,
      ppid: Number(f[1]),
      ms: (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * TICK_MS,
      faults: Number(f[7]) + Number(f[8]),
    };
  } catch {
    return null;
  }
}

/** Every process's CPU time now, by pid. */
export function cpuSnapshot() {
  const out = new Map();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const s = stat(Number(name));
    if (s) out.set(Number(name), s);
  }
  return out;
}

/**
 * CPU ms between two snapshots (or with `measure` "faults", minor page faults), by part: the control
 * plane, the workers (with their jobs' commands), the database (`postgres` processes), Redis, and the
 * benchmark's own process (the submitting client and live subscriber). A process that exited before
 * `after` is not counted.
 */
export function cpuByPart(before, after, { controlPlanePid, workerPids = [] }, measure = "ms") {
  const parts = { controlPlane: 0, workers: 0, postgres: 0, redis: 0, client: 0 };
  const workers = new Set(workerPids);
  const underWorker = (pid) => {
    for (let p = after.get(pid)?.ppid, hops = 0; p !== undefined && p > 1 && hops < 32; hops++) {
      if (workers.has(p)) return true;
      p = after.get(p)?.ppid;
    }
    return false;
  };
  for (const [pid, s] of after) {
    const delta = s[measure] - (before.get(pid)?.[measure] ?? 0);
    if (pid === controlPlanePid) parts.controlPlane += delta;
    else if (workers.has(pid) || underWorker(pid)) parts.workers += delta;
    else if (s.comm === "postgres") parts.postgres += delta;
    else if (s.comm === "redis-server") parts.redis += delta;
    else if (pid === process.pid) parts.client += delta;
  }
  return parts;
}
