// Waiting has limits: a job's deadline ends it TIMEOUT while it waits; a cancelled job's worker,
// still starting, is torn down.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { AuditService, JobExecutionService, connectClient, unary } from "@hodei/api";
import { startPlatform, stopCleanly, type Platform } from "./support/platform.js";
import { queueJob, waitForJobEnd, waitForJobRunning } from "./support/jobs.js";
import { waitFor } from "./support/wait.js";

describe("queue deadlines and cancel while provisioning", () => {
  let platform: Platform;
  let client: ReturnType<typeof connectClient>;
  before(async () => {
    platform = await startPlatform({ env: { HODEI_LOCAL_MAX_WORKERS: "1" } });
    client = connectClient(platform.grpcAddress);
  });
  after(async () => {
    client?.close();
    await stopCleanly(platform);
  });

  const workers = async () =>
    ((await (await fetch(`${platform.httpUrl}/api/workers`)).json()) as { workers: { id: string }[] })
      .workers;

  test("cancelling the only waiting job tears down the worker being started for it", async () => {
    assert.equal((await workers()).length, 0, "a fresh platform has no worker");
    const id = await queueJob(client, { command: "sleep 30" });
    await unary(client, JobExecutionService.method.cancelJob, {
      jobId: { value: id },
      reason: "changed my mind",
    });
    const end = await waitForJobEnd(client, id, 10_000);
    assert.equal(end.statusName, "CANCELLED");
    await waitFor(async () => (await workers()).length === 0, {
      timeoutMs: 10_000,
      what: "the worker to be torn down",
    });
    const counts = await unary(client, AuditService.method.getAuditLogs, { eventType: "WorkerTerminated" });
    assert.ok(
      counts.logs.some((l) => /no waiting job needs it/.test(l.payload)),
      JSON.stringify(counts.logs.map((l) => l.payload)),
    );
  });

  test("a job still waiting for a worker at its deadline ends TIMEOUT, saying so", async () => {
    const blocker = await queueJob(client, { command: "sleep 30" });
    await waitForJobRunning(client, blocker);
    const started = Date.now();
    const id = await queueJob(client, {
      command: "echo never",
      scheduling: { deadline: timestampFromMs(Date.now() + 500) },
    });
    const end = await waitForJobEnd(client, id, 10_000);
    assert.equal(end.statusName, "TIMEOUT");
    assert.match(end.message, /deadline/);
    assert.ok(Date.now() - started < 3_000, `ended ${Date.now() - started} ms after queueing`);
    await unary(client, JobExecutionService.method.cancelJob, { jobId: { value: blocker } });
    await waitForJobEnd(client, blocker, 10_000);
  });

  test("a deadline already past is refused, naming the field", async () => {
    await assert.rejects(
      queueJob(client, { command: "true", scheduling: { deadline: timestampFromMs(Date.now() - 1000) } }),
      (err: { code: number; details: string }) =>
        err.code === status.INVALID_ARGUMENT && /scheduling\.deadline/.test(err.details),
    );
  });
});
