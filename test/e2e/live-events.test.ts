// ExecutionEventStream pushes each state change of a job as it happens (not at the end), and the
// actor of a change is the caller's x-user-id where it gave one.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { status as grpcStatus, type ServiceError } from "@grpc/grpc-js";
import {
  AuditService,
  JobExecutionService,
  JobStatus,
  connectClient,
  serverStream,
  unary,
  type ExecutionEvent,
} from "@hodei/api";
import { queueJob, waitForJobEnd, waitForJobRunning } from "./support/jobs.js";
import { startPlatform, stopCleanly, type Platform } from "./support/platform.js";
import { waitFor } from "./support/wait.js";

describe("live execution events and actors", () => {
  let platform: Platform;
  let client: ReturnType<typeof connectClient>;
  before(async () => {
    platform = await startPlatform();
    client = connectClient(platform.grpcAddress);
  });
  after(async () => {
    client?.close();
    await stopCleanly(platform);
  });

  test("a job's ExecutionEventStream gives ASSIGNED, RUNNING, SUCCEEDED in order, RUNNING while it runs", async () => {
    const jobId = "live-events-1";
    const stream = serverStream(client, JobExecutionService.method.executionEventStream, {
      jobId: { value: jobId },
    });
    const seen: { e: ExecutionEvent; at: number }[] = [];
    stream.on("data", (e: ExecutionEvent) => seen.push({ e, at: Date.now() }));
    stream.on("error", () => undefined); // our own cancel() at the end
    await new Promise((resolve) => setTimeout(resolve, 200)); // the subscription is open before the job exists
    await queueJob(client, { jobId: { value: jobId }, command: "sleep 1" });
    await waitFor(() => seen.some(({ e }) => e.statusName === "SUCCEEDED"), {
      timeoutMs: 20_000,
      what: "the terminal event",
    });
    stream.cancel();
    const names = seen.map(({ e }) => e.statusName);
    assert.deepEqual(
      names.filter((n) => n !== "PENDING"),
      ["ASSIGNED", "RUNNING", "SUCCEEDED"],
    );
    const running = seen.find(({ e }) => e.statusName === "RUNNING")!;
    const done = seen.find(({ e }) => e.statusName === "SUCCEEDED")!;
    assert.ok(done.at - running.at >= 800, `RUNNING was pushed ${done.at - running.at} ms before the end`);
    assert.equal(done.e.previousStatus, running.e.status);
    assert.equal(done.e.exitCode, 0);
    assert.ok(done.e.workerId, "the terminal event names the worker");
    assert.ok(timestampMs(done.e.occurredAt!) >= timestampMs(running.e.occurredAt!) + 800);
  });

  test("ExecutionEventStream with statuses gives only those: the ends of two jobs, not their steps; an unknown status is INVALID_ARGUMENT", async () => {
    const stream = serverStream(client, JobExecutionService.method.executionEventStream, {
      statuses: [JobStatus.COMPLETED, JobStatus.FAILED],
    });
    const seen: ExecutionEvent[] = [];
    stream.on("data", (e: ExecutionEvent) => seen.push(e));
    stream.on("error", () => undefined); // our own cancel() at the end
    await new Promise((resolve) => setTimeout(resolve, 200));
    const ok = await queueJob(client, { jobId: { value: "live-events-ends-1" }, command: "true" });
    const bad = await queueJob(client, { jobId: { value: "live-events-ends-2" }, command: "exit 3" });
    await waitFor(() => seen.length >= 2, { timeoutMs: 20_000, what: "both ends" });
    await new Promise((resolve) => setTimeout(resolve, 300)); // nothing else arrives after them
    stream.cancel();
    const byJob = Object.fromEntries(seen.map((e) => [e.jobId!.value, [e.statusName, e.exitCode]]));
    assert.deepEqual(byJob, { [ok]: ["SUCCEEDED", 0], [bad]: ["FAILED", 3] });
    assert.equal(seen.length, 2, JSON.stringify(seen.map((e) => [e.jobId?.value, e.statusName])));

    const refused = serverStream(client, JobExecutionService.method.executionEventStream, {
      statuses: [JobStatus.COMPLETED, 42 as JobStatus],
    });
    const err = await new Promise<ServiceError>((resolve) => {
      refused.on("data", () => undefined);
      refused.on("error", resolve);
    });
    assert.equal(err.code, grpcStatus.INVALID_ARGUMENT);
    assert.match(err.details, /statuses.*42/);
  });

  test("the audit actor is the caller's x-user-id: who queued it, who cancelled it", async () => {
    const queued = await unary(
      client,
      JobExecutionService.method.queueJob,
      { jobDefinition: { jobId: { value: "live-events-2" }, command: "sleep 30" } },
      { metadata: { "x-user-id": "alice" } },
    );
    const id = queued.jobId!.value;
    await waitForJobRunning(client, id);
    await unary(
      client,
      JobExecutionService.method.cancelJob,
      { jobId: { value: id }, reason: "not needed" },
      { metadata: { "x-user-id": "bob" } },
    );
    assert.equal((await waitForJobEnd(client, id)).statusName, "CANCELLED");
    const trail = await waitFor(
      async () => {
        const r = await unary(client, AuditService.method.getAuditLogsByCorrelation, { correlationId: id });
        return r.logs.some((l) => /CANCELLED/.test(l.payload)) ? r.logs : undefined;
      },
      { timeoutMs: 10_000, what: "the cancellation in the audit log" },
    );
    assert.equal(trail.find((l) => l.eventType === "JobCreated")?.actor, "alice");
    const cancelled = trail.filter((l) => /CANCELLED/.test(l.payload));
    assert.ok(
      cancelled.some((l) => l.actor === "bob"),
      JSON.stringify(trail.map((l) => [l.eventType, l.actor, l.payload])),
    );
  });
});
