// Bad input is refused with the right status and a message naming the field, and changes nothing:
// no job is created, the server keeps serving. Through gRPC (our typed client) and REST.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { status, type ServiceError } from "@grpc/grpc-js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  JobExecutionService,
  LogStreamService,
  health,
  unary,
  type Priority,
  type QueueJobRequestSchema,
} from "@hodei/api";
import { startPlatform, stopCleanly, type Platform } from "./support/platform.js";

type QueueInit = MessageInitShape<typeof QueueJobRequestSchema>;

interface Case {
  name: string;
  call: (p: Platform) => Promise<unknown>;
  codes: status[];
  message: RegExp;
}

const queue = (req: QueueInit) => (p: Platform) => unary(p.client, JobExecutionService.method.queueJob, req);
const job = (def: QueueInit["jobDefinition"]) => queue({ jobDefinition: def, queuedBy: "bad-input" });

const GRPC_CASES: Case[] = [
  {
    name: "empty command",
    call: job({ name: "empty", command: "" }),
    codes: [status.INVALID_ARGUMENT],
    message: /job_definition\.command/,
  },
  {
    name: "blank command",
    call: job({ name: "blank", command: "   " }),
    codes: [status.INVALID_ARGUMENT],
    message: /job_definition\.command/,
  },
  {
    name: "no job definition at all",
    call: queue({ queuedBy: "bad-input" }),
    codes: [status.INVALID_ARGUMENT],
    message: /job_definition/,
  },
  {
    name: "unknown priority 99",
    call: job({ name: "prio", command: "true", scheduling: { priority: 99 as Priority } }),
    codes: [status.INVALID_ARGUMENT],
    message: /priority/,
  },
  {
    name: "negative execution timeout",
    call: job({ name: "neg", command: "true", timeout: { executionTimeout: { seconds: -1n } } }),
    codes: [status.INVALID_ARGUMENT],
    message: /execution_timeout/,
  },
  {
    name: "malformed job id 'bad id!'",
    call: job({ jobId: { value: "bad id!" }, name: "id", command: "true" }),
    codes: [status.INVALID_ARGUMENT],
    message: /job_id/,
  },
  {
    name: "job id of 200 characters",
    call: job({ jobId: { value: "a".repeat(200) }, name: "id", command: "true" }),
    codes: [status.INVALID_ARGUMENT],
    message: /job_id/,
  },
  {
    name: "oversized definition (2 MB command)",
    call: job({ name: "big", command: `echo ${"x".repeat(2 * 1024 * 1024)}` }),
    codes: [status.INVALID_ARGUMENT, status.RESOURCE_EXHAUSTED],
    message: /job_definition|command|bytes|size/i,
  },
  {
    name: "ListJobs with a negative offset",
    call: (p) => unary(p.client, JobExecutionService.method.listJobs, { offset: -1 }),
    codes: [status.INVALID_ARGUMENT],
    message: /offset/,
  },
  {
    name: "ListJobs with a negative limit",
    call: (p) => unary(p.client, JobExecutionService.method.listJobs, { limit: -5 }),
    codes: [status.INVALID_ARGUMENT],
    message: /limit/,
  },
  {
    name: "GetJob with a malformed id",
    call: (p) => unary(p.client, JobExecutionService.method.getJob, { jobId: { value: "bad id!" } }),
    codes: [status.INVALID_ARGUMENT],
    message: /job_id/,
  },
  {
    name: "GetLogs with a negative since_sequence",
    call: (p) => unary(p.client, LogStreamService.method.getLogs, { jobId: "some-job", sinceSequence: -3n }),
    codes: [status.INVALID_ARGUMENT],
    message: /since_sequence/,
  },
];

async function expectRefused(p: Platform, c: Case): Promise<void> {
  await assert.rejects(c.call(p), (err: ServiceError) => {
    assert.ok(
      c.codes.includes(err.code),
      `${c.name}: code ${status[err.code] ?? err.code} (${err.details}), expected ${c.codes.map((s) => status[s]).join(" or ")}`,
    );
    assert.match(err.details, c.message, `${c.name}: the message names the field`);
    return true;
  });
}

async function totalJobs(p: Platform): Promise<number> {
  return (await unary(p.client, JobExecutionService.method.listJobs, { limit: 1 })).totalCount;
}

describe("bad input is refused and changes nothing", () => {
  let platform: Platform;
  let totalBefore: number;
  before(async () => {
    platform = await startPlatform();
    totalBefore = await totalJobs(platform);
  });
  after(() => stopCleanly(platform));

  for (const c of GRPC_CASES) {
    test(`gRPC: ${c.name}`, () => expectRefused(platform, c));
  }

  test("gRPC: a duplicate job id is ALREADY_EXISTS; the first one stands", async () => {
    const first = await job({ jobId: { value: "dup-job" }, name: "first", command: "true" })(platform);
    assert.equal(first.jobId?.value, "dup-job");
    await expectRefused(platform, {
      name: "duplicate job id",
      call: job({ jobId: { value: "dup-job" }, name: "second", command: "echo second" }),
      codes: [status.ALREADY_EXISTS],
      message: /dup-job/,
    });
    const { job: stored } = await unary(platform.client, JobExecutionService.method.getJob, {
      jobId: { value: "dup-job" },
    });
    assert.equal(stored?.name, "first");
  });

  const REST_CASES: [what: string, body: string, statuses: number[], message: RegExp][] = [
    ["invalid JSON", '{"name": "x", "command": ', [400], /json/i],
    ["empty command", JSON.stringify({ name: "x", command: "" }), [400], /command/],
    [
      "unknown priority",
      JSON.stringify({ name: "x", command: "true", scheduling: { priority: 99 as Priority } }),
      [400],
      /priority/,
    ],
    [
      "negative timeout",
      JSON.stringify({ name: "x", command: "true", timeout: { execution_timeout: "-1s" } }),
      [400],
      /execution_timeout/,
    ],
    ["malformed job id", JSON.stringify({ job_id: { value: "bad id!" }, command: "true" }), [400], /job_id/],
    ["a JSON array", "[]", [400], /body|object/],
    [
      "oversized (2 MB command)",
      JSON.stringify({ name: "x", command: "x".repeat(2 * 1024 * 1024) }),
      [400, 413],
      /job_definition|command|body|bytes|large|size/i,
    ],
  ];
  for (const [what, body, statuses, message] of REST_CASES) {
    test(`REST: POST /api/jobs with ${what}`, async () => {
      const res = await fetch(`${platform.httpUrl}/api/jobs`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
      const reply = (await res.json()) as { error?: { code: string; message: string } };
      assert.ok(statuses.includes(res.status), `${what}: HTTP ${res.status} ${JSON.stringify(reply)}`);
      assert.match(reply.error?.message ?? "", message, `${what}: the message names the field`);
    });
  }

  test("afterwards the server still serves and only the first duplicate was created", async () => {
    assert.ok(platform.alive(), "the server process is still running");
    const check = await unary(platform.client, health.Health.method.check, { service: "" });
    assert.equal(check.status, health.HealthCheckResponse_ServingStatus.SERVING);
    const ready = await fetch(`${platform.httpUrl}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal(await totalJobs(platform), totalBefore + 1);
    const listed = await unary(platform.client, JobExecutionService.method.listJobs, { limit: 100 });
    assert.deepEqual(
      listed.jobs.map((j) => j.jobId?.value),
      ["dup-job"],
    );
  });
});
