import { spawn, type ChildProcess } from "node:child_process";
import type { Socket } from "node:net";
import type { Logger } from "./logger.js";

// Reads `add <pgid>` / `del <pgid>` and `dir <path>` / `undir <path>` lines; end-of-file comes only
// when the worker is gone (killed, crashed). Then it ends every group still listed (SIGTERM, and
// SIGKILL after the grace, $1 seconds) and removes every directory still listed (a job's secrets).
const GUARD_SCRIPT = `declare -A groups dirs
while read -r op arg; do
  case "$op" in
    add) groups[$arg]=1 ;; del) unset "groups[$arg]" ;;
    dir) dirs[$arg]=1 ;; undir) unset "dirs[$arg]" ;;
  esac
done
for g in "\${!groups[@]}"; do kill -TERM -- "-$g" 2>/dev/null; done
[ \${#groups[@]} -gt 0 ] && sleep "$1"
for g in "\${!groups[@]}"; do kill -KILL -- "-$g" 2>/dev/null; done
for d in "\${!dirs[@]}"; do chmod -R u+rwx -- "$d" 2>/dev/null; rm -rf -- "$d"; done`;

/**
 * Makes sure a job does not outlive its worker. Jobs run in their own process group (so they can
 * be killed as a whole), which also means nothing kills them when the worker dies, and Node has no
 * PR_SET_PDEATHSIG. So one small bash per worker, started at the first job, watches a pipe from the
 * worker and ends the listed groups when that pipe closes. One process per worker, not per job:
 * a spawn from Node costs milliseconds, and every job would pay it.
 */
export class OrphanGuard {
  private proc: ChildProcess | null = null;

  constructor(
    private readonly graceMs: number,
    private readonly logger: Logger,
    private readonly shell = "/bin/bash",
  ) {}

  /** Lists the group with the guard; `release()` when the job is over. */
  watch(pgid: number): { release(): void } {
    const proc = this.running();
    proc.stdin?.write(`add ${pgid}\n`);
    return {
      release: () => {
        if (proc.exitCode === null && proc.signalCode === null) proc.stdin?.write(`del ${pgid}\n`);
      },
    };
  }

  /**
   * Lists a directory to remove if the worker dies before `release()` (a job's secret files).
   * A path with a newline cannot be listed; the worker's temp directories never have one.
   */
  watchDir(path: string): { release(): void } {
    if (path.includes("\n")) return { release: () => {} };
    const proc = this.running();
    proc.stdin?.write(`dir ${path}\n`);
    return {
      release: () => {
        if (proc.exitCode === null && proc.signalCode === null) proc.stdin?.write(`undir ${path}\n`);
      },
    };
  }

  /** Dismisses the guard without killing anything (the worker's own orderly stop). */
  close(): void {
    this.proc?.kill("SIGKILL");
    this.proc = null;
  }

  private running(): ChildProcess {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) return this.proc;
    // --norc --noprofile: its stdin is a socket (Node's pipes are socketpairs), and bash given a socket
    // for stdin sources ~/.bashrc even with -c (where that runs `pyenv init`, 120 ms of CPU at every
    // worker's first job).
    const args = [
      "--norc",
      "--noprofile",
      "-c",
      GUARD_SCRIPT,
      "hodei-orphan-guard",
      String(this.graceMs / 1000),
    ];
    const proc = spawn(this.shell, args, {
      stdio: ["pipe", "ignore", "ignore"],
      detached: true, // its own group: a signal to the worker's group must not take it along
      env: { PATH: "/usr/bin:/bin" },
    });
    proc.on("error", (err) => this.logger.warn({ err }, "cannot start the orphan guard"));
    proc.stdin?.on("error", () => {});
    // Neither the guard nor its pipe may keep the worker's event loop alive.
    proc.unref();
    (proc.stdin as Socket | null)?.unref();
    this.proc = proc;
    return proc;
  }
}

let shared: OrphanGuard | null = null;

/** The worker process's guard (one per process). */
export function orphanGuard(graceMs: number, logger: Logger, shell?: string): OrphanGuard {
  shared ??= new OrphanGuard(graceMs, logger, shell);
  return shared;
}
