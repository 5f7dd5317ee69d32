// Secrets are never stored: a job with secrets can run only through the control plane process that
// queued it, which holds them in memory. No other process may claim it (it would run the job without
// them), and once that process is gone the job cannot get them any more: it ends FAILED, saying why.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jobStatus, logLines, queueJob, waitForJobEnd, waitForJobRunning } from "./support/jobs.js";
import { startPlatform, stopCleanly, type Platform } from "./support/platform.js";
import { scratchDatabase, type ScratchDatabase } from "./support/scratch-database.js";

const SECRET = { TOKEN: "held-secret-value-9f3" };
const adminUrl = process.env.HODEI_TEST_DATABASE_URL;

describe("a job whose secrets only one control plane holds", () => {
  test("restarted on its embedded database, the control plane fails the waiting job whose secrets it lost instead of running it without them", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "hodei-e2e-holder-"));
    const env = { HODEI_LOCAL_MAX_WORKERS: "1" };
    let platform: Platform | undefined = await startPlatform({ dataDir, env });
    try {
      const blocker = await queueJob(platform.client, { command: "sleep 60" });
      await waitForJobRunning(platform.client, blocker);
      const held = await queueJob(platform.client, { command: "echo ran", secrets: SECRET });
      assert.equal((await jobStatus(platform.client, held)).statusName, "PENDING");
      await stopCleanly(platform);
      platform = await startPlatform({ dataDir, env });
      const end = await waitForJobEnd(platform.client, held, 15_000);
      assert.equal(end.statusName, "FAILED");
      assert.match(end.message, /its secrets were held in the memory of control plane .*queue the job again/);
      assert.equal(end.attempt, 0, "it never ran");
      assert.deepEqual(await logLines(platform.client, held), []);
      // The restarted control plane runs jobs as usual.
      const next = await queueJob(platform.client, { command: "true", secrets: SECRET });
      assert.equal((await waitForJobEnd(platform.client, next)).statusName, "SUCCEEDED");
    } finally {
      await stopCleanly(platform);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  describe(
    "two control planes on one PostgreSQL database",
    { skip: adminUrl ? false : "HODEI_TEST_DATABASE_URL is not set (npm test provides it)" },
    () => {
      // The sweep is off (ten minutes): what happens here is the claims' and the holder check's doing.
      const env = { HODEI_SWEEP_INTERVAL: "600000", HODEI_LOCAL_MAX_WORKERS: "1" };
      let db: ScratchDatabase;
      let a: Platform;
      let b: Platform | undefined;
      let workerOfA: string;

      before(async () => {
        db = await scratchDatabase(adminUrl!, "hodei_e2e_holder");
        a = await startPlatform({ databaseUrl: db.url, env });
        // A's one worker, started and left idle before B exists.
        const warm = await queueJob(a.client, { command: "true" });
        workerOfA = (await waitForJobEnd(a.client, warm)).workerId;
        assert.ok(workerOfA);
        b = await startPlatform({ databaseUrl: db.url, env });
      });

      after(async () => {
        await stopCleanly(b);
        await stopCleanly(a);
        await db.drop();
      });

      test("the other one's idle worker passes over the held job, and the holder's stop fails it", async () => {
        // B's one worker is busy with a job only B may run (its secrets are B's), so B's next one waits.
        const blocker = await queueJob(b!.client, { command: "sleep 60", secrets: SECRET });
        const running = await waitForJobRunning(b!.client, blocker);
        assert.notEqual(running.workerId, workerOfA, "a held job ran on the other control plane's worker");
        const held = await queueJob(b!.client, { command: "echo ran", secrets: SECRET });
        // A job queued after it through A: A's idle worker takes it, not the older held job.
        const plain = await queueJob(a.client, { command: "true" });
        const plainEnd = await waitForJobEnd(a.client, plain);
        assert.equal(plainEnd.statusName, "SUCCEEDED");
        assert.equal(plainEnd.workerId, workerOfA);
        const waiting = await jobStatus(a.client, held);
        assert.equal(waiting.statusName, "PENDING");
        assert.equal(waiting.attempt, 0);

        // B stops: the secrets are gone with it, and A fails the job at its next check (every 5 s).
        await stopCleanly(b);
        b = undefined;
        const end = await waitForJobEnd(a.client, held, 15_000);
        assert.equal(end.statusName, "FAILED");
        assert.match(end.message, /its secrets were held in the memory of control plane /);
        assert.equal(end.attempt, 0, "it never ran");
        assert.deepEqual(await logLines(a.client, held), []);
      });
    },
  );
});
