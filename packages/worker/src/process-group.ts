import { readFile, readdir } from "node:fs/promises";
import { constants } from "node:os";

/** How long a job's processes get between SIGTERM and SIGKILL. */
export const KILL_GRACE_MS = 2_000;

/** True while any process of the group `pgid` exists, zombies included. */
export function groupExists(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but is not ours to signal (cannot happen for our own children, but is "alive").
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** `/proc/<pid>/stat` → state and process group (the command name may contain spaces or parens). */
function parseStat(stat: string): { state: string; pgrp: number } | undefined {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return fields.length > 3 ? { state: fields[0]!, pgrp: Number(fields[2]) } : undefined;
}

/**
 * Pids of the group's processes that are still running. Zombies do not count: an orphan is
 * reparented to PID 1, and not every init reaps (containers without one, some sandboxes).
 * Without /proc, falls back to "the group exists".
 */
export async function liveGroupMembers(pgid: number): Promise<number[]> {
  let pids: string[];
  try {
    pids = (await readdir("/proc")).filter((n) => /^\d+$/.test(n));
  } catch {
    return groupExists(pgid) ? [pgid] : [];
  }
  const live: number[] = [];
  await Promise.all(
    pids.map(async (pid) => {
      const info = parseStat(await readFile(`/proc/${pid}/stat`, "utf8").catch(() => ""));
      if (info && info.pgrp === pgid && info.state !== "Z") live.push(Number(pid));
    }),
  );
  return live;
}

function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false; // ESRCH: the group is gone
  }
}

/** Terminates every process of the group: SIGTERM now, SIGKILL after `graceMs` to whatever is left. */
export function killGroup(pgid: number, graceMs = KILL_GRACE_MS): void {
  if (!signalGroup(pgid, "SIGTERM")) return;
  setTimeout(() => {
    void liveGroupMembers(pgid).then((live) => live.length > 0 && signalGroup(pgid, "SIGKILL"));
  }, graceMs);
}

/** The conventional shell exit code for death by `signal`: 128 + its number. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}
