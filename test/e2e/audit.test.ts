// The audit trail of a job, through gRPC (AuditService) and REST, in the order things happened.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import { AuditService, connectClient, unary } from "@hodei/api";
import { startPlatform, stopCleanly, type Platform } from "./support/platform.js";
import { queueJob, waitForJobEnd } from "./support/jobs.js";

describe("audit trail", () => {
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

  test("a job's events read JobCreated → JobAssigned → Running → Succeeded, with its actor", async () => {
    const id = await queueJob(
      client,
      { jobId: { value: "audited-job" }, command: "echo audited" },
      "auditor",
    );
    await waitForJobEnd(client, id);
    const byJob = await unary(client, AuditService.method.getAuditLogsByCorrelation, { correlationId: id });
    const trail = byJob.logs.map((l) => {
      const to = (JSON.parse(l.payload) as { to?: string }).to;
      return to ? `${l.eventType} ${to}` : l.eventType;
    });
    assert.deepEqual(trail, [
      "JobCreated",
      "JobAssigned",
      "JobStatusChanged RUNNING",
      "JobStatusChanged SUCCEEDED",
    ]);
    assert.equal(byJob.logs[0]?.actor, "auditor");
    assert.ok(byJob.logs.every((l) => l.correlationId === id));

    const rest = await fetch(`${platform.httpUrl}/api/audit-logs?correlation_id=${id}`);
    assert.equal(rest.status, 200);
    const body = (await rest.json()) as { logs: { event_type: string }[]; total: number };
    assert.deepEqual(
      body.logs.map((l) => l.event_type),
      byJob.logs.map((l) => l.eventType),
    );
    assert.equal(body.total, 4);
  });

  test("event counts and filters by type answer from the same table; a worker's registration is there", async () => {
    const counts = await unary(client, AuditService.method.getEventCounts, {});
    assert.ok((counts.counts.JobCreated ?? 0n) >= 1n);
    assert.ok((counts.counts.WorkerRegistered ?? 0n) >= 1n);
    const created = await unary(client, AuditService.method.getAuditLogs, {
      eventType: "JobCreated",
      limit: 10,
    });
    assert.ok(created.logs.length >= 1);
    assert.ok(created.logs.every((l) => l.eventType === "JobCreated"));
    await assert.rejects(
      unary(client, AuditService.method.getAuditLogsByCorrelation, { correlationId: "" }),
      (err: { code: number; details: string }) =>
        err.code === status.INVALID_ARGUMENT && /correlation_id/.test(err.details),
    );
  });
});
