// Priority order under a backlog: with one worker held by a blocker, a CRITICAL job queued behind
// 100 NORMAL ones starts next, HIGH after it, the NORMAL ones in the order they were queued, and a
// LOW one queued before all of them last. Start times come from GetJob.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { JobExecutionService, Priority, unary } from "@hodei/api";
import { queueJob, waitForJobEnd } from "./support/jobs.js";
import { startPlatform, stopCleanly, type Platform } from "./support/platform.js";
import { waitFor } from "./support/wait.js";

const NORMAL_COUNT = 100;

describe("priorities under a backlog", () => {
  let platform: Platform;
  before(async () => {
    platform = await startPlatform({ env: { HODEI_LOCAL_MAX_WORKERS: "1" } });
  });
  after(() => stopCleanly(platform));

  const getJob = async (id: string) =>
    (await unary(platform.client, JobExecutionService.method.getJob, { jobId: { value: id } })).job!;
  const queue = (id: string, priority: Priority) =>
    queueJob(platform.client, { jobId: { value: id }, command: "true", scheduling: { priority } });

  test("CRITICAL starts next, then HIGH, then NORMAL in FIFO order, then LOW", async () => {
    const blocker = await queueJob(platform.client, { command: "sleep 1000" });
    await waitFor(async () => (await getJob(blocker)).statusName === "RUNNING", {
      timeoutMs: 20_000,
      what: "the blocker to run",
    });

    // One at a time, so the queue order is the order of the calls.
    await queue("prio-low", Priority.LOW);
    const normals: string[] = [];
    for (let i = 0; i < NORMAL_COUNT; i++) {
      const id = `prio-normal-${String(i).padStart(3, "0")}`;
      await queue(id, Priority.NORMAL);
      normals.push(id);
    }
    await queue("prio-high", Priority.HIGH);
    await queue("prio-critical", Priority.CRITICAL);
    const all = ["prio-critical", "prio-high", ...normals, "prio-low"];
    for (const id of all) assert.equal((await getJob(id)).statusName, "PENDING", `${id} waits`);

    await unary(platform.client, JobExecutionService.method.cancelJob, {
      jobId: { value: blocker },
      reason: "release the backlog",
    });
    for (const id of all) {
      assert.equal((await waitForJobEnd(platform.client, id, 60_000)).statusName, "SUCCEEDED", id);
    }

    const startedAt = new Map<string, number>();
    for (const id of all) {
      const job = await getJob(id);
      assert.ok(job.startedAt, `${id} has a start time`);
      startedAt.set(id, timestampMs(job.startedAt));
    }
    const at = (id: string) => startedAt.get(id)!;
    const firstNormal = Math.min(...normals.map(at));
    const lastNormal = Math.max(...normals.map(at));
    assert.ok(at("prio-critical") < at("prio-high"), "CRITICAL starts before HIGH");
    assert.ok(at("prio-high") < firstNormal, "HIGH starts before every NORMAL");
    const outOfOrder = normals.filter((id, i) => i > 0 && at(id) <= at(normals[i - 1]!));
    assert.deepEqual(outOfOrder, [], "each NORMAL job starts after the one queued before it");
    assert.ok(at("prio-low") > lastNormal, "LOW, though queued first, starts after every NORMAL");
    // And the whole order, start time by start time, is exactly the expected one.
    const byStart = [...all].sort((a, b) => at(a) - at(b));
    assert.deepEqual(byStart, all);
  });
});
