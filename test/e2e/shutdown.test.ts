// Stopping the server is bounded: clients still following logs or events do not hold it up; they
// are told the stream ended, with a status.
import { test } from "node:test";
import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import { JobExecutionService, LogStreamService, connectClient, serverStream } from "@hodei/api";
import { queueJob, waitForJobRunning } from "./support/jobs.js";
import { startPlatform } from "./support/platform.js";

test("SIGTERM with clients following events and a running job's logs: the server exits 0 within 5 s, and the followers get a status", async () => {
  const platform = await startPlatform();
  const follower = connectClient(platform.grpcAddress);
  try {
    const id = await queueJob(platform.client, { command: "sleep 60" });
    await waitForJobRunning(platform.client, id);
    const ended = (call: ReturnType<typeof serverStream>) =>
      new Promise<number>((resolve) => {
        call.on("data", () => undefined);
        call.on("error", (err: { code: number }) => resolve(err.code));
        call.on("end", () => resolve(status.OK));
      });
    const events = ended(serverStream(follower, JobExecutionService.method.executionEventStream, {}));
    const logs = ended(
      serverStream(follower, LogStreamService.method.subscribeLogs, { jobId: id, includeHistory: true }),
    );
    await new Promise((resolve) => setTimeout(resolve, 300)); // both subscriptions are open
    const t0 = Date.now();
    const stopped = await platform.stop();
    const tookMs = Date.now() - t0;
    assert.equal(stopped.forced, false, "exited on SIGTERM, not killed");
    assert.equal(stopped.code, 0);
    assert.ok(tookMs < 5_000, `stopped in ${tookMs} ms`);
    const codes = await Promise.all([events, logs]);
    for (const code of codes) assert.notEqual(code, undefined);
    assert.ok(
      codes.every((c) => [status.OK, status.UNAVAILABLE, status.CANCELLED].includes(c)),
      `stream statuses ${JSON.stringify(codes)}`,
    );
  } finally {
    follower.close();
    await platform.stop();
  }
});
