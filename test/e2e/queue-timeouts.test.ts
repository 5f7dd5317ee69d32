// Waiting has limits: a job's deadline ends it TIMEOUT while it waits; a cancelled job's worker,
// still starting, is torn down.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { AuditService, JobExecutionService, connectClient, unary } from "@hodei/api";
import { startPlatform, stopCleanly, type Platform } from "./support/platform.js";
import { queueJob, waitForJobEnd, waitForJobRunning } from "./support/jobs.js";
import { waitFor } from "./support/wait.js";

describe("queue deadlines and cancel while provisioning", () => {
  let platform: Platform;
  let client: ReturnType<typeof connectClient>;
  // Workers that take 1.5 s to start (a preload that blocks only processes holding a worker's
  // one-time token), so that "cancel while the worker is still starting" is a window, not a race.
  const preloadDir = mkdtempSync(join(tmpdir(), "hodei-slow-worker-"));
  const preload = join(preloadDir, "slow-worker-start.cjs");
  writeFileSync(
    preload,
    "if (process.env.HODEI_OTP_TOKEN) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500);\n",
  );
  before(async () => {
    platform = await startPlatform({
      env: { HODEI_LOCAL_MAX_WORKERS: "1", NODE_OPTIONS: `--require=${preload}` },
    });
    client = connectClient(platform.grpcAddress);
  });
  after(async () => {
    client?.close();
    await stopCleanly(platform);
    rmSync(preloadDir, { recursive: true, force: true });
  });

  const workers = async () =>
    (
      (await (await fetch(`${platform.httpUrl}/api/workers`)).json()) as {
        workers: { id: string; state: string }[];
      }
    ).workers;

  test("cancelling the only waiting job tears down the worker being started for it", async () => {
    assert.equal((await workers()).length, 0, "a fresh platform has no worker");
    const id = await queueJob(client, { command: "sleep 30" });
    // Cancel only once the worker for it is being started (not before the provisioner has run).
    const [starting] = await waitFor(
      async () => {
        const list = await workers();
        return list.length > 0 ? list : null;
      },
      { timeoutMs: 10_000, intervalMs: 10, what: "a worker to be started for the job" },
    );
    assert.match(starting!.state, /CREATING|CONNECTING/, "the worker is still starting");
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
    // The audit record is written a moment after the worker leaves the registry (it rides with the next commit).
    await waitFor(
      async () => {
        const r = await unary(client, AuditService.method.getAuditLogs, { eventType: "WorkerTerminated" });
        return r.logs.some((l) => /no waiting job needs it/.test(l.payload));
      },
      { timeoutMs: 5_000, what: "a WorkerTerminated record saying no waiting job needs it" },
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
