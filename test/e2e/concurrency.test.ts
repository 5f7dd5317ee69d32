// 50 jobs queued at once all run exactly once: one terminal event each on the pushed event stream,
// every one SUCCEEDED after a single attempt, and each log holds its own output exactly once.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { ClientReadableStream } from "@grpc/grpc-js";
import { JobExecutionService, serverStream, unary, type ExecutionEvent } from "@hodei/api";
import { logLines, queueJob, TERMINAL } from "./support/jobs.js";
import { startPlatform, stopCleanly, type Platform } from "./support/platform.js";
import { withDeadline } from "./support/wait.js";

const JOBS = 50;

/** Every event of an ExecutionEventStream, with a way to wait for one that matches. */
class EventLog {
  readonly events: ExecutionEvent[] = [];
  private waiters: { match: (e: ExecutionEvent) => boolean; resolve: () => void }[] = [];
  private failure: Error | undefined;

  constructor(readonly stream: ClientReadableStream<ExecutionEvent>) {
    stream.on("data", (e: ExecutionEvent) => {
      this.events.push(e);
      const satisfied = this.waiters.filter((w) => w.match(e));
      this.waiters = this.waiters.filter((w) => !satisfied.includes(w));
      for (const w of satisfied) w.resolve();
    });
    stream.on("error", (err: Error & { code?: number }) => {
      if (err.code !== 1) this.failure = err; // 1: CANCELLED, our own cancel() at the end
    });
  }

  /** Resolves once an event (already received or to come) matches. */
  until(match: (e: ExecutionEvent) => boolean, timeoutMs: number, what: string): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.events.some(match)) return Promise.resolve();
    return withDeadline(
      new Promise<void>((resolve) => this.waiters.push({ match, resolve })),
      timeoutMs,
      what,
    );
  }

  terminalCount(jobId: string): number {
    return this.events.filter((e) => e.jobId?.value === jobId && TERMINAL.has(e.statusName)).length;
  }
}

describe("many jobs at once", () => {
  let platform: Platform;
  before(async () => {
    platform = await startPlatform();
  });
  after(() => stopCleanly(platform));

  test(`${JOBS} jobs queued concurrently all complete exactly once`, async () => {
    const log = new EventLog(
      serverStream(platform.client, JobExecutionService.method.executionEventStream, {}),
    );
    try {
      // The stream is live once it reports a job queued after it was opened.
      const probe = await queueJob(platform.client, { name: "probe", command: "true" });
      await log.until((e) => e.jobId?.value === probe, 15_000, "the event stream to report the probe job");

      const ids = Array.from({ length: JOBS }, (_, i) => `conc-${i}`);
      const queued = await Promise.all(
        ids.map((id, i) =>
          queueJob(platform.client, { jobId: { value: id }, name: id, command: `echo job-${i}` }),
        ),
      );
      assert.deepEqual(queued, ids);

      const open = new Set(ids);
      await log.until(
        (e) => {
          if (TERMINAL.has(e.statusName)) open.delete(e.jobId?.value ?? "");
          return open.size === 0;
        },
        120_000,
        `terminal events of all ${JOBS} jobs`,
      );

      // A duplicate terminal event would come before the end of a job queued after them all.
      const sentinel = await queueJob(platform.client, { name: "sentinel", command: "true" });
      await log.until(
        (e) => e.jobId?.value === sentinel && TERMINAL.has(e.statusName),
        30_000,
        "the sentinel job to finish",
      );

      for (const id of ids) assert.equal(log.terminalCount(id), 1, `terminal events of ${id}`);
      const states = log.events
        .filter((e) => ids.includes(e.jobId?.value ?? "") && TERMINAL.has(e.statusName))
        .map((e) => e.statusName);
      assert.deepEqual(new Set(states), new Set(["SUCCEEDED"]));

      await Promise.all(
        ids.map(async (id, i) => {
          const { job } = await unary(platform.client, JobExecutionService.method.getJob, {
            jobId: { value: id },
          });
          assert.equal(job?.statusName, "SUCCEEDED", id);
          assert.equal(job?.exitCode, 0, id);
          assert.equal(job?.executions.length, 1, `${id} ran once`);
          assert.deepEqual(
            await logLines(platform.client, id),
            [`$ echo job-${i}`, `job-${i}`],
            `log of ${id}`,
          );
        }),
      );
    } finally {
      log.stream.cancel();
    }
  });
});
