// The start-up rehearsal of a job's statements leaves nothing behind, and what it prepared stays
// prepared for the first real job.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { commandJobSpec } from "@hodei/core";
import { GroupCommitWriter, getJob, rehearseJobWrites, type Database } from "../src/index.js";
import { backends } from "./backends.js";

/** Rows in every table of the public schema, by table. */
async function rowCounts(db: Database): Promise<Record<string, number>> {
  const tables = await db.query<{ name: string }>(
    "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
  );
  const counts: Record<string, number> = {};
  for (const { name } of tables.rows) {
    const r = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM "${name}"`);
    counts[name] = Number(r.rows[0]?.n);
  }
  return counts;
}

const waiting = commandJobSpec("waiting", "echo hi", { priority: "CRITICAL" });

for (const backend of backends()) {
  describe(`rehearsal on ${backend.name}`, () => {
    test("a rehearsed job leaves no row in any table, and its statements stay prepared", async () => {
      const db = await backend.open();
      try {
        const before = await rowCounts(db);
        assert.ok(Object.keys(before).includes("jobs"), `tables: ${Object.keys(before).join(", ")}`);
        await rehearseJobWrites(db, 3);
        if (db.kind === "pglite") {
          // One session: what the rolled-back transaction prepared is there for the next statement
          // (asked before counting rows again, whose statements would be prepared on that second run).
          const prepared = await db.query<{ n: string }>(
            "SELECT count(*)::text AS n FROM pg_prepared_statements",
          );
          assert.ok(Number(prepared.rows[0]?.n) >= 5, `prepared: ${prepared.rows[0]?.n}`);
        }
        assert.deepEqual(await rowCounts(db), before);
      } finally {
        await db.close();
      }
    });

    test("a job already waiting (CRITICAL, older) is neither claimed nor changed by a rehearsal", async () => {
      const db = await backend.open();
      try {
        await new GroupCommitWriter(db).createJob({ spec: waiting, queuedBy: "t", actor: "t" });
        const before = await getJob(db, "waiting");
        await rehearseJobWrites(db, 2);
        assert.equal(before?.status, "PENDING");
        assert.deepEqual(await getJob(db, "waiting"), before);
      } finally {
        await db.close();
      }
    });
  });
}
