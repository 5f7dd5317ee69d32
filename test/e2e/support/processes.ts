// Processes as Linux shows them in /proc: who is whose child, and who carries a marker in its
// environment (the platform helper marks the server, so every worker and job process it starts
// inherits the mark and can be found and killed even after its parent died).
import { readdirSync, readFileSync } from "node:fs";

function pids(): number[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map(Number);
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined; // gone, or not ours to read
  }
}

/** The parent pid of `pid`, or undefined when it has exited. */
export function parentPid(pid: number): number | undefined {
  const stat = read(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  // "pid (comm) state ppid ..."; comm may contain spaces and parentheses.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[1]);
}

/** The environment of `pid` as a map, or undefined when it cannot be read. */
export function environOf(pid: number): Map<string, string> | undefined {
  const raw = read(`/proc/${pid}/environ`);
  if (raw === undefined) return undefined;
  const env = new Map<string, string>();
  for (const entry of raw.split("\0")) {
    const eq = entry.indexOf("=");
    if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return env;
}

/** The command line of `pid`, arguments separated by spaces. */
export function readCmdline(pid: number): string {
  return (read(`/proc/${pid}/cmdline`) ?? "").split("\0").join(" ").trim();
}

export function isAlive(pid: number): boolean {
  const stat = read(`/proc/${pid}/stat`);
  if (!stat) return false;
  const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
  return state !== "Z" && state !== "X";
}

/** Live processes whose environment has `name=value`. */
export function processesWithEnv(name: string, value: string): number[] {
  return pids().filter((pid) => pid !== process.pid && environOf(pid)?.get(name) === value && isAlive(pid));
}

/** Live descendants of `pid` (a server's workers are children of its hodei-spawn, or its own). */
export function descendantsOf(pid: number): number[] {
  const all = pids();
  const out: number[] = [];
  let level = [pid];
  while (level.length > 0) {
    const next = all.filter((p) => level.includes(parentPid(p) ?? -1));
    out.push(...next);
    level = next;
  }
  return out.filter(isAlive);
}

export function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}
