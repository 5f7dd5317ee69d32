// History then live lines for one job, ending once the job has finished and every line was delivered.
import { HodeiError, isTerminal } from "@hodei/core";
import { getJob, getLogs, tailLogs, type Database, type LogLineRecord } from "@hodei/store";
import type { EventBus } from "./events.js";

export interface FollowOptions {
  includeHistory: boolean;
  tailLines: number;
  sinceSequence: number;
  /** false: stop after the history (no live lines). */
  follow: boolean;
}

const PAGE = 5000;

export async function* followLogs(
  db: Database,
  bus: EventBus,
  jobId: string,
  opts: FollowOptions,
  signal: AbortSignal,
): AsyncGenerator<LogLineRecord[]> {
  const live: LogLineRecord[][] = [];
  let finished = false;
  let wakeUp: (() => void) | null = null;
  const notify = () => {
    wakeUp?.();
    wakeUp = null;
  };
  const offLogs = bus.onLogs(jobId, (lines) => {
    live.push(lines);
    notify();
  });
  const offJob = bus.onJob((e) => {
    if (e.jobId === jobId && isTerminal(e.status)) {
      finished = true;
      notify();
    }
  });
  const onAbort = () => notify();
  signal.addEventListener("abort", onAbort);
  try {
    const job = await getJob(db, jobId);
    if (!job) throw new HodeiError("JOB_NOT_FOUND", `job ${jobId} not found`);
    if (isTerminal(job.status)) finished = true;
    let last = opts.sinceSequence;
    const fromStore = async function* () {
      for (;;) {
        const page = await getLogs(db, jobId, last, PAGE);
        if (page.lines.length > 0) {
          last = page.lines[page.lines.length - 1]!.sequence;
          yield page.lines;
        }
        if (!page.hasMore) return;
      }
    };
    if (opts.includeHistory && opts.tailLines > 0 && opts.sinceSequence === 0) {
      const tail = await tailLogs(db, jobId, opts.tailLines);
      if (tail.length > 0) {
        last = tail[tail.length - 1]!.sequence;
        yield tail;
      }
    } else if (opts.includeHistory || opts.sinceSequence > 0) {
      yield* fromStore();
    }
    if (!opts.follow) return;
    while (!signal.aborted) {
      while (live.length > 0) {
        const batch = live.shift()!;
        const fresh = batch[0] && batch[0].sequence > last ? batch : batch.filter((l) => l.sequence > last);
        if (fresh.length > 0) {
          last = fresh[fresh.length - 1]!.sequence;
          yield fresh;
        }
      }
      if (finished) {
        // Everything the job printed was committed before its end: collect what live delivery may have missed.
        yield* fromStore();
        return;
      }
      await new Promise<void>((resolve) => (wakeUp = resolve));
    }
  } finally {
    offLogs();
    offJob();
    signal.removeEventListener("abort", onAbort);
  }
}
