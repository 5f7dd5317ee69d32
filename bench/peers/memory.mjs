// Peak resident memory of a process over a stretch of time: writing 5 to /proc/<pid>/clear_refs
// resets the kernel's high-water mark (VmHWM), read back from /proc/<pid>/status afterwards.
import { readFileSync, writeFileSync } from "node:fs";

/** Resets the peak of each pid; false where the kernel refused (then the peak is since start). */
export function resetPeakRss(pids) {
  let all = true;
  for (const pid of pids) {
    try {
      writeFileSync(`/proc/${pid}/clear_refs`, "5");
    } catch {
      all = false;
    }
  }
  return all;
}

/** VmHWM of `pid` in MB, or NaN once it has exited. */
export function peakRssMb(pid) {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}
