// History then live lines for one job, ending once the job has finished and every line was delivered.
// Lines go as the chunks they were stored in, never one object per line.
import { HodeiError, isTerminal } from "@hodei/core";
import type { LogChunk } from "@hodei/api";
import { getJob, getLogChunks, tailLogChunks, type Database } from "@hodei/store";
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
): AsyncGenerator<LogChunk> {
  const live: LogChunk[] = [];
  let finished = false;
  let wakeUp: (() => void) | null = null;
  const notify = () => {
    wakeUp?.();
    wakeUp = null;
  };
  const offLogs = bus.onLogs(jobId, (chunk) => {
    live.push(chunk);
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
        const page = await getLogChunks(db, jobId, last, PAGE);
        for (const chunk of page.chunks) {
          last = chunk.lastSeq;
          yield chunk;
        }
        if (!page.hasMore) return;
      }
    };
    if (opts.includeHistory && opts.tailLines > 0 && opts.sinceSequence === 0) {
      for (const chunk of await tailLogChunks(db, jobId, opts.tailLines)) {
        last = chunk.lastSeq;
        yield chunk;
      }
    } else if (opts.includeHistory || opts.sinceSequence > 0) {
      yield* fromStore();
    }
    if (!opts.follow) return;
    while (!signal.aborted) {
      while (live.length > 0) {
        const fresh = live.shift()!.select(last);
        if (fresh) {
          last = fresh.lastSeq;
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
