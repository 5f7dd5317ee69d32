// Who a control plane process is, as the resources it creates record it: its pid and start time.
// Two control planes on one host with one database share an instance id (a rolling restart runs
// both for a while); only a resource whose recorded server is gone is an orphan.
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";

/** The start time (clock ticks since boot) in a `/proc/<pid>/stat`. */
function startTimeOf(stat: string | undefined): string | undefined {
  return stat?.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
}

/** This process: `<pid>:<start time>` (the start time is empty without /proc). */
export function ownServerIdentity(): string {
  let stat: string | undefined;
  try {
    stat = readFileSync("/proc/self/stat", "utf8");
  } catch {
    // no /proc: the pid alone
  }
  return `${process.pid}:${startTimeOf(stat) ?? ""}`;
}

/** Whether the process an identity names still runs (false for "" or a reused pid). */
export async function serverAlive(identity: string | undefined): Promise<boolean> {
  const [pid, start] = (identity ?? "").split(":");
  if (!pid || !/^\d+$/.test(pid) || !start) return false;
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined);
  return startTimeOf(stat) === start;
}
