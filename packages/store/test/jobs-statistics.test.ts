// JobsStatistics against real databases (embedded PGlite; PostgreSQL when HODEI_TEST_DATABASE_URL is set):
// after a burst of queued jobs, the claim's plan reads the queue index in order again.
import { test } from "node:test";
import assert from "node:assert/strict";
import { JobsStatistics, type Database } from "../src/index.js";
import { backends } from "./backends.js";

/** The plan of the claim's scan of the queue (the statement the group commit runs, its inner part). */
async function claimPlan(db: Database): Promise<string> {
  const r = await db.query<{ "QUERY PLAN": string }>(
    `EXPLAIN SELECT id, priority, seq FROM jobs
     WHERE lane = 'local' AND status = 'PENDING' AND (run_after IS NULL OR run_after <= now())
       AND (secrets_holder IS NULL OR secrets_holder = 'cp') ORDER BY priority DESC, seq LIMIT 9 FOR UPDATE SKIP LOCKED`,
  );
  return r.rows.map((row) => row["QUERY PLAN"]).join("\n");
}

/** The planner's estimate of the rows its scan of the queue finds (the plan's scan line). */
function estimatedWaiting(plan: string): number {
  const line = plan.split("\n").find((l) => /Scan/.test(l)) ?? "";
  return Number(/rows=(\d+)/.exec(line)?.[1] ?? NaN);
}

async function insertJobs(db: Database, status: string, from: number, count: number): Promise<void> {
  await db.exec(
    `INSERT INTO jobs (id, name, status, priority, spec, lane)
     SELECT 'j' || g, 'n', '${status}', 2, '{"command":"true"}'::jsonb, 'local' FROM generate_series(${from}, ${from + count - 1}) g`,
  );
}

test("a burst of queued jobs refreshes the queue's statistics once it is quiet (the planner then knows how many wait, and the claim reads the queue index in order); a small one does not", async () => {
  for (const { name, open } of backends()) {
    const db = await open();
    try {
      // Only the refresh under test may analyze the table.
      if (db.kind === "postgres") await db.exec("ALTER TABLE jobs SET (autovacuum_enabled = false)");
      // Statistics taken while every job was running (none waiting), as in the backlog bench, where
      // the blockers run while a QueueJobs of thousands comes in.
      await insertJobs(db, "RUNNING", 1, 8);
      await db.exec("ANALYZE jobs");
      await insertJobs(db, "PENDING", 9, 100_000);
      // The planner believes almost nothing waits (in the backlog bench this made PostgreSQL sort all
      // 100 000 waiting jobs for every claim: 106 ms each).
      const stale = estimatedWaiting(await claimPlan(db));
      assert.ok(stale < 1_000, `${name}: estimated ${stale} waiting jobs before the refresh`);

      const errors: unknown[] = [];
      const stats = new JobsStatistics(db, (err) => errors.push(err), 1_000, 20);
      stats.queued(999);
      await stats.idle();
      assert.equal(stats.refreshes, 0, `${name}: 999 jobs are not a burst`);
      for (let i = 0; i < 100; i++) stats.queued(1_000); // a burst in chunks: one refresh after it
      await stats.idle();
      assert.equal(stats.refreshes, 1, `${name}: one refresh after the burst`);
      const fresh = await claimPlan(db);
      assert.ok(estimatedWaiting(fresh) > 50_000, `${name}: after the refresh:\n${fresh}`);
      assert.match(fresh, /Index Scan using jobs_queue_idx/, `${name}:\n${fresh}`);
      assert.doesNotMatch(fresh, /Sort/, `${name}:\n${fresh}`);
      assert.deepEqual(errors, [], `${name}: refreshes failed`);
      stats.stop();
    } finally {
      await db.close();
    }
  }
});
