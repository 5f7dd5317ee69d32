// Storage end to end: the embedded database keeps jobs and logs across a server restart, and the
// same platform runs on a real PostgreSQL when the test runner provides one.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { JobExecutionService, unary } from "@hodei/api";
import { logLines, queueJob, waitForJobEnd } from "./support/jobs.js";
import { startPlatform, stopCleanly, type Platform } from "./support/platform.js";

async function runOneJob(platform: Platform, id: string): Promise<void> {
  await queueJob(platform.client, { jobId: { value: id }, name: id, command: `echo stored by ${id}` });
  const done = await waitForJobEnd(platform.client, id);
  assert.equal(done.statusName, "SUCCEEDED", done.message);
  assert.deepEqual(await logLines(platform.client, id), [`$ echo stored by ${id}`, `stored by ${id}`]);
}

describe("storage", () => {
  test("the embedded database survives a restart: the job and its log are still there", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "hodei-e2e-restart-"));
    let platform: Platform | undefined;
    try {
      platform = await startPlatform({ dataDir });
      await runOneJob(platform, "survivor");
      await stopCleanly(platform);

      platform = await startPlatform({ dataDir });
      const { job } = await unary(platform.client, JobExecutionService.method.getJob, {
        jobId: { value: "survivor" },
      });
      assert.equal(job?.statusName, "SUCCEEDED");
      assert.equal(job?.exitCode, 0);
      assert.equal(job?.definition?.command, "echo stored by survivor");
      assert.deepEqual(await logLines(platform.client, "survivor"), [
        "$ echo stored by survivor",
        "stored by survivor",
      ]);

      // And the restarted server still runs new work.
      await runOneJob(platform, "after-restart");
      const listed = await unary(platform.client, JobExecutionService.method.listJobs, {});
      assert.deepEqual(listed.jobs.map((j) => j.jobId?.value).sort(), ["after-restart", "survivor"]);
      await stopCleanly(platform);
    } finally {
      await platform?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  const adminUrl = process.env.HODEI_TEST_DATABASE_URL;
  test(
    "on PostgreSQL (HODEI_DATABASE_URL) a job runs to SUCCEEDED",
    {
      skip: adminUrl
        ? false
        : "HODEI_TEST_DATABASE_URL is not set (npm test provides it when PostgreSQL is installed)",
    },
    async () => {
      const dbName = `hodei_e2e_${randomBytes(6).toString("hex")}`;
      const admin = new pg.Client({ connectionString: adminUrl });
      await admin.connect();
      let platform: Platform | undefined;
      try {
        await admin.query(`CREATE DATABASE ${dbName}`);
        const url = new URL(adminUrl!);
        url.pathname = `/${dbName}`;
        platform = await startPlatform({ databaseUrl: url.toString() });
        const ready = (await (await fetch(`${platform.httpUrl}/readyz`)).json()) as { database?: string };
        assert.notEqual(ready.database, "pglite", `readyz: ${JSON.stringify(ready)}`);
        await runOneJob(platform, "on-postgres");

        // The rows are in that database, where the user guide's SQL looks for them.
        const direct = new pg.Client({ connectionString: url.toString() });
        await direct.connect();
        try {
          const { rows } = await direct.query(
            "SELECT count(*)::int AS n FROM audit_logs WHERE correlation_id = $1",
            ["on-postgres"],
          );
          assert.ok(rows[0].n > 0, "audit_logs has the job's events");
        } finally {
          await direct.end();
        }
        await stopCleanly(platform);
      } finally {
        await platform?.stop();
        await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
        await admin.end();
      }
    },
  );
});
