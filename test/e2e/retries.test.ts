// Retries: a failing job is tried again with backoff, each attempt recorded; RetryJob re-runs a
// finished job; a cancelled job is never retried.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { JobExecutionService, connectClient, unary } from "@hodei/api";
import { startPlatform, stopCleanly, type Platform } from "./support/platform.js";
import { logLines, queueJob, waitForJobEnd } from "./support/jobs.js";

describe("retries", () => {
  let platform: Platform;
  let client: ReturnType<typeof connectClient>;
  const scratch = mkdtempSync(join(tmpdir(), "hodei-retries-"));
  before(async () => {
    platform = await startPlatform({
      env: { HODEI_RETRY_BACKOFF_BASE: "200", HODEI_RETRY_BACKOFF_MAX: "400" },
    });
    client = connectClient(platform.grpcAddress);
  });
  after(async () => {
    client?.close();
    await stopCleanly(platform);
    rmSync(scratch, { recursive: true, force: true });
  });

  const getJob = async (id: string) =>
    (await unary(client, JobExecutionService.method.getJob, { jobId: { value: id } })).job!;

  test("a job that fails twice then succeeds ends SUCCEEDED with three attempts recorded", async () => {
    const counter = join(scratch, "attempts");
    // Counts its runs in a file: fails on the first two, succeeds on the third.
    const command = `n=$(cat ${counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > ${counter}; echo "attempt $n"; [ $n -ge 3 ]`;
    const id = await queueJob(client, { command, maxRetries: 2 });
    await waitForJobEnd(client, id, 30_000);
    const job = await getJob(id);
    assert.equal(job.statusName, "SUCCEEDED");
    assert.equal(job.attempt, 3);
    assert.deepEqual(
      job.executions.map((e) => [e.attempt, e.statusName, e.exitCode]),
      [
        [1, "FAILED", 1],
        [2, "FAILED", 1],
        [3, "SUCCEEDED", 0],
      ],
    );
    assert.ok(job.executions.every((e) => e.workerId !== "" && e.startedAt && e.finishedAt));
    // One log across attempts, in order, with every attempt's lines.
    const lines = await logLines(client, id);
    assert.deepEqual(
      lines.filter((l) => l.startsWith("attempt")),
      ["attempt 1", "attempt 2", "attempt 3"],
    );
  });

  test("retries stop when attempts run out: the job ends FAILED after 1 + max_retries attempts", async () => {
    const id = await queueJob(client, { command: "exit 4", maxRetries: 1 });
    await waitForJobEnd(client, id, 30_000);
    const job = await getJob(id);
    assert.deepEqual([job.statusName, job.exitCode, job.executions.length], ["FAILED", 4, 2]);
  });

  test("RetryJob re-runs a finished job as a new attempt; an unfinished one is FAILED_PRECONDITION", async () => {
    const id = await queueJob(client, { command: "echo again" });
    await waitForJobEnd(client, id);
    const r = await unary(client, JobExecutionService.method.retryJob, {
      jobId: { value: id },
      reason: "once more",
    });
    assert.equal(r.success, true);
    await waitForJobEnd(client, id);
    const job = await getJob(id);
    assert.deepEqual([job.statusName, job.attempt, job.executions.length], ["SUCCEEDED", 2, 2]);
    // The same through REST.
    const rest = await fetch(`${platform.httpUrl}/api/jobs/${id}/retry`, { method: "POST" });
    assert.equal(rest.status, 200);
    assert.equal(((await rest.json()) as { attempt: number }).attempt, 3);
    await waitForJobEnd(client, id);
    assert.equal((await getJob(id)).executions.length, 3);

    const running = await queueJob(client, { command: "sleep 30" });
    await assert.rejects(
      unary(client, JobExecutionService.method.retryJob, { jobId: { value: running } }),
      (err: { code: number; details: string }) =>
        err.code === status.FAILED_PRECONDITION && /finished/.test(err.details),
    );
    await unary(client, JobExecutionService.method.cancelJob, {
      jobId: { value: running },
      reason: "test over",
    });
    const cancelled = await waitForJobEnd(client, running, 15_000);
    assert.equal(cancelled.statusName, "CANCELLED");
  });

  test("a cancelled job is not retried, however many retries it has", async () => {
    const id = await queueJob(client, { command: "sleep 30", maxRetries: 3 });
    // Cancel once it runs.
    for (let i = 0; i < 100 && (await getJob(id)).statusName !== "RUNNING"; i++)
      await new Promise((r) => setTimeout(r, 50));
    await unary(client, JobExecutionService.method.cancelJob, { jobId: { value: id }, reason: "stop" });
    const end = await waitForJobEnd(client, id, 15_000);
    assert.equal(end.statusName, "CANCELLED");
    const job = await getJob(id);
    assert.equal(job.executions.length, 1);
  });
});
