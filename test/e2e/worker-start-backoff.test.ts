// Workers that end before registering, through the local provider: every agent here exits at once
// (a worker setting it cannot parse), as a pod whose image cannot be pulled would. The waiting job
// is told why, through gRPC and REST, and the lane waits longer after each failed start instead of
// starting a new worker at once, again and again.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { AuditService, JobExecutionService, unary } from "@hodei/api";
import { jobStatus, queueJob, waitForJobEnd } from "./support/jobs.js";
import { startPlatform, stopCleanly, type Platform } from "./support/platform.js";
import { waitFor } from "./support/wait.js";

/** The agent refuses this (it wants a whole number) and exits with code 2 before registering. */
const BROKEN_WORKER_ENV = { HODEI_LOG_BATCH_SIZE: "not-a-number" };
const WHY = /^waiting for a worker: the last one failed to start: worker process exited \(code 2\)$/;

describe("workers that end before registering (local provider)", () => {
  let platform: Platform;
  before(async () => {
    platform = await startPlatform({ env: BROKEN_WORKER_ENV });
  });
  after(() => stopCleanly(platform));

  /** When each worker was provisioned, oldest first (ms). */
  async function provisionedAt(): Promise<number[]> {
    const r = await unary(platform.client, AuditService.method.getAuditLogs, {
      eventType: "WorkerProvisioned",
      limit: 100,
    });
    return r.logs.map((l) => timestampMs(l.occurredAt!)).sort((a, b) => a - b);
  }

  test("the waiting job says why its worker did not start, and each new start waits longer (≥ 0.5 s, 1 s, 2 s)", async () => {
    const id = await queueJob(platform.client, { name: "no-worker", command: "true" });
    const told = await waitFor(
      async () => {
        const s = await jobStatus(platform.client, id);
        return WHY.test(s.message) ? s : undefined;
      },
      { timeoutMs: 10_000, what: "the worker's exit in the job's message" },
    );
    assert.equal(told.statusName, "PENDING");
    const rest = await fetch(`${platform.httpUrl}/api/jobs/${id}`);
    assert.match(((await rest.json()) as { message: string }).message, WHY);

    const started = await waitFor(
      async () => ((await provisionedAt()).length >= 4 ? provisionedAt() : undefined),
      {
        timeoutMs: 20_000,
        what: "a fourth attempt to start a worker",
      },
    );
    const gaps = started.slice(1, 4).map((t, i) => t - started[i]!);
    console.log(`# gaps between the first starts: ${gaps.join(", ")} ms`);
    // The wait after the n-th failure in a row is in [0.5, 1) · 2^(n-1) s; a start follows the
    // previous worker's exit, so each gap is at least that. Starting again at once made ~5 a second.
    gaps.forEach((gap, i) => assert.ok(gap >= 500 * 2 ** i, `gap ${i + 1}: ${gap} ms < ${500 * 2 ** i} ms`));
    assert.equal((await jobStatus(platform.client, id)).statusName, "PENDING");

    await unary(platform.client, JobExecutionService.method.cancelJob, {
      jobId: { value: id },
      reason: "e2e",
    });
    assert.equal((await waitForJobEnd(platform.client, id)).statusName, "CANCELLED");
  });
});
