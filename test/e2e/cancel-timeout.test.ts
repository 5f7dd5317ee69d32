// Cancel and timeout end a job's whole process tree: a RUNNING job cancelled (or past its timeout)
// leaves no process behind, a PENDING one never starts, a finished one cannot be cancelled. Through
// gRPC, REST and the CLI, with one worker so a blocker can hold the queue.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status, type ServiceError } from "@grpc/grpc-js";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { JobExecutionService, unary } from "@hodei/api";
import { runCli } from "./support/cli.js";
import { allLogs, logLines, queueJob, waitForJobEnd } from "./support/jobs.js";
import { startPlatform, stopCleanly, type Platform } from "./support/platform.js";
import { isAlive, processesWithEnv, readCmdline } from "./support/processes.js";
import { waitFor } from "./support/wait.js";

describe("cancel and timeout", () => {
  let platform: Platform;
  const scratch = mkdtempSync(join(tmpdir(), "hodei-cancel-"));
  before(async () => {
    platform = await startPlatform({ env: { HODEI_LOCAL_MAX_WORKERS: "1" } });
  });
  after(async () => {
    await stopCleanly(platform);
    rmSync(scratch, { recursive: true, force: true });
  });

  const getJob = async (id: string) =>
    (await unary(platform.client, JobExecutionService.method.getJob, { jobId: { value: id } })).job!;
  const cancel = (id: string, reason: string) =>
    unary(platform.client, JobExecutionService.method.cancelJob, { jobId: { value: id }, reason });
  const waitUntilRunning = (id: string) =>
    waitFor(async () => (await getJob(id)).statusName === "RUNNING", {
      timeoutMs: 20_000,
      what: `job ${id} to be RUNNING`,
    });

  test("cancelling a RUNNING job kills its whole process tree and ends it CANCELLED with the reason", async () => {
    const id = await queueJob(platform.client, { command: "sleep 1000 & sleep 1000; wait" });
    await waitUntilRunning(id);
    // The worker marks every process of a job with HODEI_JOB_ID; children inherit it.
    const jobPids = () => processesWithEnv("HODEI_JOB_ID", id);
    const pids = await waitFor(() => (jobPids().length >= 3 ? jobPids() : undefined), {
      timeoutMs: 10_000,
      what: () => `bash and both sleeps of job ${id} (seen: ${jobPids().map(readCmdline).join(" | ")})`,
    });
    const commands = pids.map(readCmdline);
    assert.equal(commands.filter((c) => c === "sleep 1000").length, 2, commands.join(" | "));
    assert.ok(
      commands.some((c) => c.startsWith("/bin/bash")),
      commands.join(" | "),
    );

    const r = await cancel(id, "e2e: stop the sleepers");
    assert.equal(r.success, true, r.message);
    const end = await waitForJobEnd(platform.client, id, 15_000);
    assert.equal(end.statusName, "CANCELLED");
    assert.match(end.message, /e2e: stop the sleepers/);
    // Checked at once: the job is reported CANCELLED only after its tree is gone.
    const survivors = pids.filter(isAlive);
    assert.deepEqual(
      survivors.map((pid) => `${pid} ${readCmdline(pid)}`),
      [],
      "no process of the cancelled job is alive",
    );
    const job = await getJob(id);
    assert.equal(job.executions.length, 1);
    assert.equal(job.executions[0]!.statusName, "CANCELLED");
  });

  test("a PENDING job cancelled behind a blocker never starts", async () => {
    const blocker = await queueJob(platform.client, { command: "sleep 1000" });
    await waitUntilRunning(blocker);
    const marker = join(scratch, "pending-ran");
    const pending = await queueJob(platform.client, { command: `touch ${marker}; echo started` });
    assert.equal((await getJob(pending)).statusName, "PENDING");

    const r = await cancel(pending, "e2e: not needed");
    assert.equal(r.success, true, r.message);
    const end = await waitForJobEnd(platform.client, pending, 5_000);
    assert.equal(end.statusName, "CANCELLED");
    assert.match(end.message, /e2e: not needed/);

    // Free the worker and run one more job: the cancelled one, queued before it, would have run first.
    await cancel(blocker, "e2e: release");
    assert.equal((await waitForJobEnd(platform.client, blocker, 15_000)).statusName, "CANCELLED");
    const next = await queueJob(platform.client, { command: "echo next" });
    assert.equal((await waitForJobEnd(platform.client, next, 20_000)).statusName, "SUCCEEDED");

    const job = await getJob(pending);
    assert.equal(job.statusName, "CANCELLED");
    assert.deepEqual(job.executions, [], "no execution was recorded");
    assert.equal(job.startedAt, undefined, "no start time");
    assert.deepEqual(await logLines(platform.client, pending), [], "no log line");
    assert.equal(existsSync(marker), false, "the command never ran");
  });

  test("cancelling a finished job is FAILED_PRECONDITION over gRPC and 409 over REST", async () => {
    const id = await queueJob(platform.client, { command: "true" });
    assert.equal((await waitForJobEnd(platform.client, id)).statusName, "SUCCEEDED");

    await assert.rejects(cancel(id, "too late"), (err: ServiceError) => {
      assert.equal(err.code, status.FAILED_PRECONDITION, `${status[err.code]}: ${err.details}`);
      assert.match(err.details, /finished|SUCCEEDED/);
      return true;
    });
    const res = await fetch(`${platform.httpUrl}/api/jobs/${id}/cancel`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ reason: "too late" }),
    });
    const body = (await res.json()) as { error?: { code: string; message: string } };
    assert.equal(res.status, 409, JSON.stringify(body));
    assert.equal(body.error?.code, "FAILED_PRECONDITION");
    assert.equal((await getJob(id)).statusName, "SUCCEEDED", "the job is unchanged");
  });

  test("a 300 ms timeout ends `sleep 10` as TIMEOUT within a second, saying so on stderr", async () => {
    const id = await queueJob(platform.client, {
      command: "sleep 10",
      timeout: { executionTimeout: { seconds: 0n, nanos: 300_000_000 } },
    });
    const end = await waitForJobEnd(platform.client, id, 15_000);
    assert.equal(end.statusName, "TIMEOUT", end.message);
    const job = await getJob(id);
    assert.ok(job.startedAt && job.finishedAt, "start and finish times are recorded");
    const ranMs = timestampMs(job.finishedAt) - timestampMs(job.startedAt);
    // Both times are stamped as the worker's reports arrive, so only the upper bound is sharp.
    assert.ok(ranMs < 1_000, `ran ${ranMs} ms`);
    const stderr = (await allLogs(platform.client, id)).filter((e) => e.isStderr).map((e) => e.line);
    assert.ok(
      stderr.some((l) => /timed out/i.test(l) && /300 ?ms/.test(l)),
      `a stderr line says it timed out: ${JSON.stringify(stderr)}`,
    );
  });

  test("the CLI's `job run --timeout 300ms` exits 124", async () => {
    const started = performance.now();
    const r = await runCli([
      "--server",
      platform.grpcAddress,
      "job",
      "run",
      "--timeout",
      "300ms",
      "--command",
      "sleep 10",
    ]);
    const tookMs = performance.now() - started;
    assert.equal(r.code, 124, `exit code; stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    assert.ok(tookMs < 8_000, `the CLI returned after ${tookMs.toFixed(0)} ms, not after the sleep`);
    assert.match(r.stdout + r.stderr, /timed out/i);
  });
});
