// Two control planes on one PostgreSQL database: a job is followed, cancelled and picked up through
// either of them, as DESIGN.md's "one or many instances" promises. The safety sweep is set to ten
// minutes on both, so nothing here can be the sweep's doing: only their LISTEN/NOTIFY link.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  JobExecutionService,
  LogStreamService,
  serverStream,
  unary,
  type ExecutionEvent,
  type LogEntry,
} from "@hodei/api";
import { queueJob, waitForJobEnd, waitForJobRunning } from "./support/jobs.js";
import { startPlatform, stopCleanly, type Platform } from "./support/platform.js";
import { scratchDatabase, type ScratchDatabase } from "./support/scratch-database.js";
import { waitFor, withDeadline } from "./support/wait.js";

const adminUrl = process.env.HODEI_TEST_DATABASE_URL;
const ENV = { HODEI_SWEEP_INTERVAL: "600000", HODEI_LOCAL_MAX_WORKERS: "1" };

async function workerOf(platform: Platform, id: string): Promise<string> {
  const { job } = await unary(platform.client, JobExecutionService.method.getJob, { jobId: { value: id } });
  assert.ok(job?.workerId, `job ${id} has no worker`);
  return job.workerId;
}

describe(
  "several control planes on one PostgreSQL database",
  { skip: adminUrl ? false : "HODEI_TEST_DATABASE_URL is not set (npm test provides it)" },
  () => {
    let db: ScratchDatabase;
    let a: Platform;
    let b: Platform;
    let workerOfA: string;

    before(async () => {
      db = await scratchDatabase(adminUrl!, "hodei_e2e_instances");
      a = await startPlatform({ databaseUrl: db.url, env: ENV });
      // A's worker is started (and left idle) before B exists, so it is A's alone.
      const warm = await queueJob(a.client, { command: "true" });
      assert.equal((await waitForJobEnd(a.client, warm)).statusName, "SUCCEEDED");
      workerOfA = await workerOf(a, warm);
      b = await startPlatform({ databaseUrl: db.url, env: ENV });
    });

    after(async () => {
      await stopCleanly(b);
      await stopCleanly(a);
      await db.drop();
    });

    test("a job run by one is followed live through the other: events, then lines as they are printed", async () => {
      const events: ExecutionEvent[] = [];
      const eventStream = serverStream(b.client, JobExecutionService.method.executionEventStream, {});
      eventStream.on("data", (e: ExecutionEvent) => events.push(e));
      eventStream.on("error", () => undefined); // our own cancel() at the end
      await new Promise((resolve) => setTimeout(resolve, 200)); // subscribed before the job exists

      const id = await queueJob(a.client, { command: "echo one && sleep 1.5 && echo two" });
      const subscribed = Date.now();
      const lines: { line: string; at: number }[] = [];
      const logs = serverStream(b.client, LogStreamService.method.subscribeLogs, {
        jobId: id,
        includeHistory: true,
      });
      logs.on("data", (e: LogEntry) => lines.push({ line: e.line, at: Date.now() }));
      // The stream ends by itself once the job has ended and every line was delivered.
      await withDeadline(
        new Promise<void>((resolve, reject) => {
          logs.on("end", resolve);
          logs.on("error", reject);
        }),
        20_000,
        "SubscribeLogs on the other control plane to end with the job",
      );
      assert.deepEqual(
        lines.map((l) => l.line),
        ["$ echo one && sleep 1.5 && echo two", "one", "two"],
      );
      const two = lines[2]!.at - subscribed;
      assert.ok(two >= 800, `"two" came ${two} ms after subscribing: it must arrive live, as printed`);
      assert.equal(await workerOf(a, id), workerOfA, "the job ran on the first control plane's worker");

      await waitFor(() => events.some((e) => e.jobId?.value === id && e.statusName === "SUCCEEDED"), {
        timeoutMs: 10_000,
        what: "SUCCEEDED on the other control plane's event stream",
      });
      const mine = events.filter((e) => e.jobId?.value === id).map((e) => e.statusName);
      assert.deepEqual(mine, ["PENDING", "ASSIGNED", "RUNNING", "SUCCEEDED"]);
      eventStream.cancel();
    });

    test("a job running on one's worker is cancelled through the other", async () => {
      const id = await queueJob(a.client, { command: "sleep 60" });
      await waitForJobRunning(b.client, id);
      const res = await unary(b.client, JobExecutionService.method.cancelJob, {
        jobId: { value: id },
        reason: "changed my mind",
      });
      assert.equal(res.success, true, res.message);
      assert.match(res.message, /another control plane/);
      const end = await waitForJobEnd(b.client, id, 15_000);
      assert.equal(end.statusName, "CANCELLED");
      assert.equal(await workerOf(a, id), workerOfA);
    });

    test("a job queued on one starts at once on the other's idle worker", async () => {
      // B has no worker of its own: without the link, A would hear of this job at its next sweep,
      // ten minutes away, and B would start a worker for it.
      const id = await queueJob(b.client, { command: "echo picked up" });
      assert.equal((await waitForJobEnd(b.client, id, 15_000)).statusName, "SUCCEEDED");
      assert.equal(await workerOf(b, id), workerOfA, "the idle worker of the other control plane ran it");
    });
  },
);
