// A job's own timeout.heartbeat_timeout and timeout.cleanup_timeout: a job that asks for a shorter
// heartbeat timeout than the server's has its silent worker declared lost sooner; a job's cleanup
// timeout is the grace its processes get between SIGTERM and SIGKILL after a cancel.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { JobExecutionService, unary } from "@hodei/api";
import { jobStatus, logLines, queueJob, waitForJobEnd } from "./support/jobs.js";
import { startPlatform, stopCleanly, type Platform } from "./support/platform.js";
import { descendantsOf, environOf, isAlive, kill } from "./support/processes.js";
import { waitFor } from "./support/wait.js";

const seconds = (s: number) => ({ seconds: BigInt(Math.floor(s)), nanos: Math.round((s % 1) * 1e9) });

describe("per-job heartbeat and cleanup timeouts", () => {
  let platform: Platform;
  before(async () => {
    // The server's own heartbeat timeout is a minute: only the job's can explain a quick verdict.
    platform = await startPlatform({
      env: {
        HODEI_HEARTBEAT_TIMEOUT: "60000",
        HODEI_HEARTBEAT_INTERVAL: "500",
        HODEI_LOCAL_MAX_WORKERS: "2",
      },
    });
  });
  after(() => stopCleanly(platform));

  const runningOn = (id: string) =>
    waitFor(
      async () => {
        const st = await jobStatus(platform.client, id);
        return st.statusName === "RUNNING" && st.workerId ? st.workerId : undefined;
      },
      { timeoutMs: 30_000, what: `job ${id} to be RUNNING` },
    );

  test("timeout.heartbeat_timeout of 2 s: a frozen worker's job FAILED in seconds, not after the server's minute", async () => {
    const id = await queueJob(platform.client, {
      command: "sleep 60",
      timeout: { heartbeatTimeout: seconds(2) },
    });
    const workerId = await runningOn(id);
    const pid = descendantsOf(platform.pid).find((p) => environOf(p)?.get("HODEI_WORKER_ID") === workerId);
    assert.ok(pid, `the process of worker ${workerId}`);
    kill(pid, "SIGSTOP");
    const frozenAt = Date.now();
    try {
      const end = await waitForJobEnd(platform.client, id, 20_000);
      assert.equal(end.statusName, "FAILED");
      assert.match(end.message, /heartbeat/);
      assert.ok(Date.now() - frozenAt < 10_000, `noticed after ${Date.now() - frozenAt} ms`);
    } finally {
      kill(pid, "SIGCONT");
    }
  });

  test("timeout.cleanup_timeout of 5 s: a job ignoring SIGTERM still runs 3 s after its cancel, and is killed after 5 s", async () => {
    const id = await queueJob(platform.client, {
      command: "trap '' TERM; echo pid $$; sleep 60",
      timeout: { cleanupTimeout: seconds(5) },
    });
    await runningOn(id);
    const line = await waitFor(
      async () => (await logLines(platform.client, id)).find((l) => l.startsWith("pid ")),
      {
        timeoutMs: 10_000,
        what: "the job's pid line",
      },
    );
    const pid = Number(line.slice(4));
    await unary(platform.client, JobExecutionService.method.cancelJob, {
      jobId: { value: id },
      reason: "enough",
    });
    const cancelledAt = Date.now();
    await new Promise((r) => setTimeout(r, 3_000));
    assert.ok(isAlive(pid), "still alive 3 s after the cancel: SIGTERM is ignored and the grace is 5 s");
    await waitFor(() => !isAlive(pid), { timeoutMs: 10_000, what: `process ${pid} to be killed` });
    const tookMs = Date.now() - cancelledAt;
    assert.ok(tookMs >= 4_500, `killed after ${tookMs} ms, not before the 5 s grace`);
    assert.equal((await waitForJobEnd(platform.client, id, 10_000)).statusName, "CANCELLED");
  });
});
