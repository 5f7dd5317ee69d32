// Log retention: at start-up the control plane deletes finished jobs' logs older than
// HODEI_LOG_RETENTION_DAYS and says how much it freed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LogStreamService, unary } from "@hodei/api";
import { openPglite } from "@hodei/store";
import { startPlatform, stopCleanly, type Platform } from "./support/platform.js";
import { queueJob, waitForJobEnd } from "./support/jobs.js";
import { waitFor } from "./support/wait.js";

test("logs older than the retention are deleted at start-up, with the amount freed in the server log", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "hodei-e2e-retention-"));
  let platform: Platform | undefined;
  try {
    platform = await startPlatform({ dataDir });
    const oldJob = await queueJob(platform.client, { command: "seq 100" });
    await waitForJobEnd(platform.client, oldJob);
    await stopCleanly(platform);

    // Ten days pass for what is stored.
    const db = await openPglite(dataDir);
    await db.query(`UPDATE job_log_chunks SET created_at = now() - interval '10 days'`);
    await db.close();

    platform = await startPlatform({ dataDir, env: { HODEI_LOG_RETENTION_DAYS: "7" } });
    const p = platform;
    const said = await waitFor(() => /log retention: deleted 101 lines/.exec(p.stderr()), {
      timeoutMs: 10_000,
      what: "the retention pass to report",
    });
    assert.ok(said);
    const logs = await unary(platform.client, LogStreamService.method.getLogs, { jobId: oldJob });
    assert.equal(logs.entries.length, 0);
    const fresh = await queueJob(platform.client, { command: "echo kept" });
    await waitForJobEnd(platform.client, fresh);
    const kept = await unary(platform.client, LogStreamService.method.getLogs, { jobId: fresh });
    assert.deepEqual(
      kept.entries.map((e) => e.line),
      ["$ echo kept", "kept"],
    );
  } finally {
    await stopCleanly(platform);
    rmSync(dataDir, { recursive: true, force: true });
  }
});
