// Bad input, field by field, through QueueJob as a plain grpc-js + proto-loader client sends it:
// every JobDefinition field with a wrong shape, an out-of-range number, an unknown enum value, a
// huge or NUL-carrying string. Each is refused with a message naming the field, creates nothing,
// runs nothing, and the server keeps serving. A refusal comes from the server (INVALID_ARGUMENT, or
// FAILED_PRECONDITION for a requirement no worker can meet), from the transport (RESOURCE_EXHAUSTED
// past the 16 MB message cap) or, for shapes protobufjs cannot encode at all, from the client
// library before anything is sent.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status, type ServiceError } from "@grpc/grpc-js";
import { fromBinary } from "@bufbuild/protobuf";
import { JobExecutionService, Priority, QueueJobRequestSchema, health, unary } from "@hodei/api";
import { logLines, queueJob, waitForJobEnd } from "./support/jobs.js";
import { startPlatform, stopCleanly, type Platform } from "./support/platform.js";
import { callJson, jsonClient, wireBytes, type JsonClient } from "./support/proto-json-client.js";

type Json = Record<string, unknown>;

/** [field, what is wrong with it, definition laid over one that would run, expected code, message, known bug]. */
type Row = [field: string, what: string, definition: Json, code: status, message: RegExp, todo?: string];

const MB = 1024 * 1024;
const INVALID = status.INVALID_ARGUMENT;
/** A requirement no worker can ever meet. */
const UNMEETABLE = status.FAILED_PRECONDITION;
/** Shapes protobufjs refuses to encode: the call fails in the client, naming the field. */
const NOT_SENT = status.INTERNAL;
const notSent = (field: string) => new RegExp(`serialization failure: .*${field}`);
const seconds = (n: number) => ({ seconds: String(n), nanos: 0 });

// prettier-ignore
const CASES: Row[] = [
  ["job_id", "'bad id!'", { job_id: { value: "bad id!" } }, INVALID, /job_id/],
  ["job_id", "129 characters", { job_id: { value: "j".repeat(129) } }, INVALID, /job_id/],
  ["job_id", "a plain string, not a JobId", { job_id: "plain" }, NOT_SENT, notSent("job_id")],
  ["name", "300 characters", { name: "n".repeat(300) }, INVALID, /job_definition\.name/],
  ["name", "a NUL byte", { name: "bad\0name" }, INVALID, /job_definition\.name/],
  ["description", "a NUL byte", { description: "bad\0description" }, INVALID, /job_definition\.description/],
  ["command", "empty, no script", { command: "" }, INVALID, /job_definition\.command/],
  ["command", "a NUL byte", { command: "echo a\0b" }, INVALID, /job_definition\.command/],
  ["arguments", "a 2 MB argument", { arguments: ["x".repeat(2 * MB)] }, INVALID, /job_definition.*bytes/],
  ["arguments", "20 MB, past the transport cap", { arguments: ["x".repeat(20 * MB)] }, status.RESOURCE_EXHAUSTED, /larger than max/],
  ["arguments", "a NUL byte", { arguments: ["a\0b"] }, INVALID, /job_definition\.arguments/],
  ["arguments", "a string, not a list", { arguments: "one two" }, NOT_SENT, notSent("arguments")],
  ["environment", "key '1BAD'", { environment: { "1BAD": "x" } }, INVALID, /job_definition\.environment/],
  ["environment", "key 'A=B'", { environment: { "A=B": "x" } }, INVALID, /job_definition\.environment/],
  ["environment", "a NUL byte in a value", { environment: { A: "a\0b" } }, INVALID, /job_definition\.environment/],
  ["requirements.cpu_cores", "-1", { requirements: { cpu_cores: -1 } }, INVALID, /cpu_cores/],
  ["requirements.cpu_cores", "the string 'lots'", { requirements: { cpu_cores: "lots" } }, INVALID, /cpu_cores/],
  ["requirements.cpu_cores", "1000, more than any worker has", { requirements: { cpu_cores: 1000 } }, UNMEETABLE, /cpu_cores/],
  ["requirements.memory_bytes", "-1", { requirements: { memory_bytes: -1 } }, INVALID, /memory_bytes/],
  ["requirements.memory_bytes", "the string '-1'", { requirements: { memory_bytes: "-1" } }, INVALID, /memory_bytes/],
  ["requirements.disk_bytes", "-1", { requirements: { disk_bytes: -1 } }, INVALID, /disk_bytes/],
  ["requirements.gpu_count", "-1", { requirements: { gpu_count: -1 } }, INVALID, /gpu_count/],
  ["requirements.gpu_count", "64, more than any worker has", { requirements: { gpu_count: 64 } }, UNMEETABLE, /gpu_count/],
  ["requirements.gpu_types", "a type no worker has", { requirements: { gpu_count: 1, gpu_types: ["qpu-9000"] } }, UNMEETABLE, /gpu/],
  ["requirements.architecture", "z80", { requirements: { architecture: "z80" } }, UNMEETABLE, /architecture/],
  ["scheduling.priority", "unknown number 99", { scheduling: { priority: 99 } }, INVALID, /priority/],
  ["scheduling.priority", "unknown number -1", { scheduling: { priority: -1 } }, INVALID, /priority/],
  ["scheduling.preferred_provider", "no such provider", { scheduling: { preferred_provider: "mainframe" } }, UNMEETABLE, /preferred_provider/],
  ["scheduling.required_labels", "a label no worker has", { scheduling: { required_labels: { zone: "moon" } } }, UNMEETABLE, /required_labels/],
  ["scheduling.deadline", "in the past", { scheduling: { deadline: seconds(1000) } }, INVALID, /deadline/],
  ["selector.match_labels", "a label no worker has", { selector: { match_labels: { zone: "moon" } } }, UNMEETABLE, /labels/],
  ["timeout.execution_timeout", "-1 s", { timeout: { execution_timeout: seconds(-1) } }, INVALID, /execution_timeout/],
  ["timeout.execution_timeout", "-1 ns", { timeout: { execution_timeout: { seconds: "0", nanos: -1 } } }, INVALID, /execution_timeout/],
  ["timeout.execution_timeout", "31 days", { timeout: { execution_timeout: seconds(31 * 86_400) } }, INVALID, /execution_timeout/],
  ["timeout.execution_timeout", "the string '10s'", { timeout: { execution_timeout: "10s" } }, NOT_SENT, notSent("execution_timeout")],
  ["timeout.heartbeat_timeout", "-1 s", { timeout: { heartbeat_timeout: seconds(-1) } }, INVALID, /heartbeat_timeout/],
  ["timeout.cleanup_timeout", "-1 s", { timeout: { cleanup_timeout: seconds(-1) } }, INVALID, /cleanup_timeout/],
  ["tags", "an object, not a list", { tags: { a: 1 } }, NOT_SENT, notSent("tags")],
  ["working_dir", "a NUL byte", { working_dir: "/tmp\0x" }, INVALID, /job_definition\.working_dir/],
  ["script.interpreter", "ruby", { command: "", script: { interpreter: "ruby", content: "puts 1" } }, INVALID, /script\.interpreter/],
  ["script", "a string, not a Script", { script: "echo hi" }, NOT_SENT, notSent("script")],
  ["max_retries", "-1", { max_retries: -1 }, INVALID, /max_retries/],
  ["max_retries", "1000", { max_retries: 1000 }, INVALID, /max_retries/],
  ["max_retries", "the string '1000'", { max_retries: "1000" }, INVALID, /max_retries/],
  ["secrets", "name '1BAD'", { secrets: { "1BAD": "value" } }, INVALID, /job_definition\.secrets/],
  ["secrets", "name '../escape'", { secrets: { "../escape": "value" } }, INVALID, /job_definition\.secrets/],
  ["stdin", "2 MB", { stdin: "x".repeat(2 * MB) }, INVALID, /job_definition.*bytes/],
];

describe("bad input, field by field, from a proto-loader client", () => {
  let platform: Platform;
  let jobs: JsonClient;
  const markers = mkdtempSync(join(tmpdir(), "hodei-bad-fields-"));

  before(async () => {
    platform = await startPlatform();
    jobs = jsonClient("JobExecutionService", platform.grpcAddress);
    // An idle worker waits from here on, so a job the server wrongly let through would run at once.
    const warm = await queueJob(platform.client, { command: "true" });
    assert.equal((await waitForJobEnd(platform.client, warm)).statusName, "SUCCEEDED");
  });
  after(async () => {
    jobs?.close();
    await stopCleanly(platform);
    rmSync(markers, { recursive: true, force: true });
  });

  async function totalJobs(): Promise<number> {
    return (await unary(platform.client, JobExecutionService.method.listJobs, { limit: 1 })).totalCount;
  }

  CASES.forEach(([field, what, definition, code, message, todo], i) => {
    test(`${field}: ${what} → ${status[code]}`, todo ? { todo } : {}, async () => {
      const job_definition = {
        name: `case-${i}`,
        command: `touch ${join(markers, String(i))}`,
        ...definition,
      };
      const totalBefore = await totalJobs();
      await assert.rejects(
        callJson(jobs, "QueueJob", { job_definition, queued_by: "bad-input" }),
        (err: ServiceError) => {
          const got = `${status[err.code] ?? err.code}: ${err.details}`;
          assert.equal(err.code, code, got);
          assert.match(err.details, message, `the message names the field (${got})`);
          return true;
        },
      );
      assert.equal(await totalJobs(), totalBefore, "no job was created");
    });
  });

  test("stdin holding a NUL byte is data: it reaches the process intact", async () => {
    const res = await callJson<{ job_id: { value: string } }>(jobs, "QueueJob", {
      job_definition: { command: "od -An -tx1", stdin: "a\0b" },
    });
    const id = res.job_id.value;
    assert.equal((await waitForJobEnd(platform.client, id)).statusName, "SUCCEEDED");
    assert.deepEqual((await logLines(platform.client, id)).slice(1), [" 61 00 62"]);
  });

  test("shapes protobufjs turns into valid values are not refusable: the server gets the valid value", () => {
    // Binary protobuf has no room for a wrong type or an enum name; what the client library makes
    // of them is what the server decodes (with the same function its gRPC handler uses).
    const sent = (definition: Json) =>
      fromBinary(
        QueueJobRequestSchema,
        wireBytes("JobExecutionService", "QueueJob", { job_definition: definition }),
      ).jobDefinition!;
    assert.equal(sent({ command: "true", max_retries: "abc" }).maxRetries, 0);
    assert.equal(sent({ command: 42 }).command, "42");
    assert.deepEqual(sent({ command: "true", environment: { A: 5 } }).environment, { A: "5" });
    assert.equal(
      sent({ command: "true", scheduling: { priority: "PRIORITY_BOGUS" } }).scheduling!.priority,
      Priority.UNSPECIFIED,
    );
  });

  test("REST, where enum names do travel: an unknown priority name is 400 naming the enum and the value", async () => {
    const res = await fetch(`${platform.httpUrl}/api/jobs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ command: "true", scheduling: { priority: "PRIORITY_BOGUS" } }),
    });
    const body = (await res.json()) as { error?: { message: string } };
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.match(body.error?.message ?? "", /Priority.*PRIORITY_BOGUS/);
  });

  const caseName = (i: string) => CASES[Number(i)]!.slice(0, 2).join(": ");
  async function storedCases(): Promise<string[]> {
    const { jobs: listed } = await unary(platform.client, JobExecutionService.method.listJobs, {
      limit: 1000,
    });
    return listed.filter((j) => j.name.startsWith("case-")).map((j) => j.name.slice(5));
  }

  test("no job was stored for any case", async () => {
    assert.deepEqual((await storedCases()).map(caseName), []);
  });

  test("no command ran for a QueueJob that answered an error", async () => {
    // Each case's command leaves a marker; one without a stored job ran behind the caller's back.
    const stored = await storedCases();
    const ran = readdirSync(markers).filter((i) => !stored.includes(i));
    assert.deepEqual(ran.map(caseName), []);
  });

  test("afterwards the server serves and runs jobs", async () => {
    assert.ok(platform.alive(), "the server process is running");
    const check = await unary(platform.client, health.Health.method.check, { service: "" });
    assert.equal(check.status, health.HealthCheckResponse_ServingStatus.SERVING);
    assert.equal((await fetch(`${platform.httpUrl}/healthz`)).status, 200);
    const id = await queueJob(platform.client, { command: "echo ok" });
    assert.equal((await waitForJobEnd(platform.client, id)).statusName, "SUCCEEDED");
    assert.deepEqual(await logLines(platform.client, id), ["$ echo ok", "ok"]);
  });
});
