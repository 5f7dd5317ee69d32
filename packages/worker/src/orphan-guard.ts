import { spawn } from "node:child_process";
import type { Socket } from "node:net";
import type { Logger } from "./logger.js";

// Waits for end-of-file on stdin, which comes only when the worker is gone (killed, crashed):
// nothing is ever written to it. Then it ends the job's process group, SIGKILL after the grace.
// dash's `kill` takes `-<pgid>` after the signal, without `--`.
const GUARD_SCRIPT = 'read _; kill -TERM -"$1" 2>/dev/null; sleep "$2"; kill -KILL -"$1" 2>/dev/null';

/**
 * Makes sure a job does not outlive its worker. Jobs run in their own process group (so they can
 * be killed as a whole), which also means nothing kills them when the worker dies, and Node has no
 * PR_SET_PDEATHSIG. So a tiny `sh` watches a pipe from the worker and ends the group when that
 * pipe closes. `release()` when the job is over dismisses it.
 */
export function guardAgainstOrphans(pgid: number, graceMs: number, logger: Logger): { release(): void } {
  const guard = spawn(
    "/bin/sh",
    ["-c", GUARD_SCRIPT, "hodei-orphan-guard", String(pgid), String(graceMs / 1000)],
    {
      stdio: ["pipe", "ignore", "ignore"],
      detached: true, // its own group: a signal to the worker's group must not take it along
      env: { PATH: "/usr/bin:/bin" },
    },
  );
  guard.on("error", (err) => logger.warn({ err, pgid }, "cannot start the orphan guard of a job"));
  guard.stdin?.on("error", () => {});
  // Neither the guard nor its pipe may keep the worker's event loop alive.
  guard.unref();
  (guard.stdin as Socket | null)?.unref();
  return {
    release: () => {
      if (guard.exitCode === null && guard.signalCode === null) guard.kill("SIGKILL");
    },
  };
}
