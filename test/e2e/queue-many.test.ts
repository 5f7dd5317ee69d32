// QueueJobs: many jobs in one call, against a real server and local workers. A bad definition or an
// id given twice refuses the whole call and stores nothing; an id already taken fails that one alone;
// a queue without room for all of them takes none.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { status, type ServiceError } from "@grpc/grpc-js";
import { JobExecutionService, Priority, connectClient, unary } from "@hodei/api";
import { startPlatform, stopCleanly, type Platform } from "./support/platform.js";
import { queueJob, waitForJobEnd } from "./support/jobs.js";

describe("QueueJobs", () => {
  let platform: Platform;
  let client: ReturnType<typeof connectClient>;
  before(async () => {
    platform = await startPlatform({ env: { HODEI_MAX_QUEUE_SIZE: "50", HODEI_LOCAL_MAX_WORKERS: "2" } });
    client = connectClient(platform.grpcAddress);
  });
  after(async () => {
    client?.close();
    await stopCleanly(platform);
  });

  const total = async () => (await unary(client, JobExecutionService.method.listJobs, {})).totalCount;
  const refusal = (call: Promise<unknown>) =>
    call.then(
      () => assert.fail("the call was accepted"),
      (err: ServiceError) => err,
    );

  test("every definition is queued and run, answered in order; the id given is kept, the others are made", async () => {
    const res = await unary(
      client,
      JobExecutionService.method.queueJobs,
      {
        jobDefinitions: [
          { command: "echo one" },
          { jobId: { value: "many-given" }, command: "echo two" },
          { command: "exit 4" },
        ],
        queuedBy: "bulk-test",
      },
      { metadata: { "x-user-id": "carol" } },
    );
    assert.equal(res.queued, 3);
    assert.deepEqual(
      res.results.map((r) => r.success),
      [true, true, true],
    );
    const ids = res.results.map((r) => r.jobId!.value);
    assert.equal(ids[1], "many-given");
    assert.equal(new Set(ids).size, 3);
    const ends = await Promise.all(ids.map((id) => waitForJobEnd(client, id, 30_000)));
    assert.deepEqual(
      ends.map((e) => [e.statusName, e.exitCode]),
      [
        ["SUCCEEDED", 0],
        ["SUCCEEDED", 0],
        ["FAILED", 4],
      ],
    );
    const job = await unary(client, JobExecutionService.method.getJob, { jobId: { value: ids[0] } });
    assert.equal(job.job?.queuedBy, "bulk-test");
  });

  test("a bad definition, an id given twice, none or too many refuse the whole call, naming where; nothing is stored", async () => {
    const before = await total();
    const bad = await refusal(
      unary(client, JobExecutionService.method.queueJobs, {
        jobDefinitions: [{ command: "true" }, { command: "true", scheduling: { priority: 9 as Priority } }],
      }),
    );
    assert.equal(bad.code, status.INVALID_ARGUMENT);
    assert.match(bad.details, /^job_definitions\[1\]\.scheduling\.priority: unknown priority 9/);

    const badId = await refusal(
      unary(client, JobExecutionService.method.queueJobs, {
        jobDefinitions: [
          { command: "true" },
          { command: "true" },
          { jobId: { value: "no spaces" }, command: "true" },
        ],
      }),
    );
    assert.equal(badId.code, status.INVALID_ARGUMENT);
    assert.match(badId.details, /^job_definitions\[2\]\.job_id\.value: must be/);

    const twice = await refusal(
      unary(client, JobExecutionService.method.queueJobs, {
        jobDefinitions: [
          { jobId: { value: "twice" }, command: "true" },
          { command: "true" },
          { jobId: { value: "twice" }, command: "true" },
        ],
      }),
    );
    assert.equal(twice.code, status.INVALID_ARGUMENT);
    assert.match(
      twice.details,
      /job_definitions\[2\]\.job_id\.value: "twice" is also job_definitions\[0\]'s id/,
    );

    const none = await refusal(unary(client, JobExecutionService.method.queueJobs, { jobDefinitions: [] }));
    assert.equal(none.code, status.INVALID_ARGUMENT);
    assert.match(none.details, /job_definitions: needs at least one/);

    const many = await refusal(
      unary(client, JobExecutionService.method.queueJobs, {
        jobDefinitions: Array.from({ length: 10_001 }, () => ({ command: "true" })),
      }),
    );
    assert.equal(many.code, status.INVALID_ARGUMENT);
    assert.match(many.details, /10001 definitions, more than the 10000 allowed/);
    assert.equal(await total(), before);
  });

  test("an id already taken fails that definition alone; the others are queued", async () => {
    await queueJob(client, { jobId: { value: "many-taken" }, command: "true" });
    const res = await unary(client, JobExecutionService.method.queueJobs, {
      jobDefinitions: [
        { jobId: { value: "many-fresh-1" }, command: "true" },
        { jobId: { value: "many-taken" }, command: "true" },
        { jobId: { value: "many-fresh-2" }, command: "true" },
      ],
    });
    assert.equal(res.queued, 2);
    assert.deepEqual(
      res.results.map((r) => [r.jobId?.value, r.success]),
      [
        ["many-fresh-1", true],
        ["many-taken", false],
        ["many-fresh-2", true],
      ],
    );
    assert.match(
      res.results[1]!.message,
      /job_definitions\[1\]\.job_id: a job with id "many-taken" already exists/,
    );
    for (const id of ["many-fresh-1", "many-fresh-2"])
      assert.equal((await waitForJobEnd(client, id, 30_000)).statusName, "SUCCEEDED");
  });

  test("a queue without room for all of them takes none (RESOURCE_EXHAUSTED)", async () => {
    const before = await total();
    const full = await refusal(
      unary(client, JobExecutionService.method.queueJobs, {
        jobDefinitions: Array.from({ length: 51 }, () => ({ command: "true" })),
      }),
    );
    assert.equal(full.code, status.RESOURCE_EXHAUSTED);
    assert.match(full.details, /51 more asked for \(HODEI_MAX_QUEUE_SIZE=50\)/);
    assert.equal(await total(), before);
  });
});
