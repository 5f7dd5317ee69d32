// HODEI_MAX_QUEUE_SIZE: a full queue refuses more work with RESOURCE_EXHAUSTED (429), and takes it
// again once there is room.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import { JobExecutionService, connectClient, unary } from "@hodei/api";
import { startPlatform, stopCleanly, type Platform } from "./support/platform.js";
import { queueJob, waitForJobEnd, waitForJobRunning } from "./support/jobs.js";

describe("queue limit", () => {
  let platform: Platform;
  let client: ReturnType<typeof connectClient>;
  before(async () => {
    platform = await startPlatform({ env: { HODEI_MAX_QUEUE_SIZE: "3", HODEI_LOCAL_MAX_WORKERS: "1" } });
    client = connectClient(platform.grpcAddress);
  });
  after(async () => {
    client?.close();
    await stopCleanly(platform);
  });

  test("the job past the limit is refused, nothing is stored for it, and room comes back", async () => {
    const blocker = await queueJob(client, { command: "sleep 30" });
    await waitForJobRunning(client, blocker);
    const waiting = [];
    for (let i = 0; i < 3; i++) waiting.push(await queueJob(client, { command: "true" }));
    await assert.rejects(
      queueJob(client, { command: "true" }),
      (err: { code: number; details: string }) =>
        err.code === status.RESOURCE_EXHAUSTED && /HODEI_MAX_QUEUE_SIZE=3/.test(err.details),
    );
    const rest = await fetch(`${platform.httpUrl}/api/jobs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ command: "true" }),
    });
    assert.equal(rest.status, 429);
    assert.equal((await unary(client, JobExecutionService.method.listJobs, {})).totalCount, 4);

    await unary(client, JobExecutionService.method.cancelJob, { jobId: { value: blocker } });
    for (const id of waiting) assert.equal((await waitForJobEnd(client, id, 15_000)).statusName, "SUCCEEDED");
    const later = await queueJob(client, { command: "true" });
    assert.equal((await waitForJobEnd(client, later, 15_000)).statusName, "SUCCEEDED");
  });
});
