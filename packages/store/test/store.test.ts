import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LogChunk } from "@hodei/api";
import { commandJobSpec, type JobSpec, type PriorityName } from "@hodei/core";
import {
  GroupCommitWriter,
  auditByCorrelation,
  auditEventCounts,
  claimableByLane,
  countClaimable,
  failJobsOfGoneHolders,
  forgetControlPlanes,
  markControlPlaneAlive,
  listAudit,
  consumeToken,
  createWorker,
  getExecutions,
  getJob,
  getLogChunks,
  getLogs,
  listJobs,
  migrate,
  openPglite,
  tailLogChunks,
  tailLogs,
  countJobsByStatus,
  deleteLogsBefore,
} from "../src/index.js";
import { backends } from "./backends.js";

function spec(id: string, priority: PriorityName = "NORMAL", command = "echo hi"): JobSpec {
  return commandJobSpec(id, command, { name: `job ${id}`, priority });
}

for (const backend of backends()) {
  describe(`store on ${backend.name}`, () => {
    test("batch() runs its statements as one transaction: each one's rows, or none of them when one fails", async () => {
      const db = await backend.open();
      await db.exec("CREATE TABLE batch_probe (id text PRIMARY KEY, n int4 NOT NULL)");
      const rows = await db.batch([
        { sql: "INSERT INTO batch_probe VALUES ($1::text, $2::int4) RETURNING id, n", params: ["a", 1] },
        { sql: "INSERT INTO batch_probe VALUES ($1::text, $2::int4)", params: ["it's", 2] },
        { sql: "SELECT count(*)::int4 AS n FROM batch_probe", params: [] },
      ]);
      assert.deepEqual(rows, [[{ id: "a", n: 1 }], [], [{ n: 2 }]]);
      await assert.rejects(
        db.batch([
          { sql: "INSERT INTO batch_probe VALUES ($1::text, $2::int4)", params: ["b", 3] },
          { sql: "INSERT INTO batch_probe VALUES ($1::text, $2::int4)", params: ["a", 4] },
        ]),
        /duplicate key|unique/,
      );
      // A value with no literal form (text with NUL) takes the statement-by-statement path, as atomic.
      await assert.rejects(
        db.batch([
          { sql: "INSERT INTO batch_probe VALUES ($1::text, $2::int4)", params: ["c", 5] },
          { sql: "INSERT INTO batch_probe VALUES ($1::text, $2::int4)", params: ["nul\0", 6] },
        ]),
      );
      const left = await db.query<{ id: string }>("SELECT id FROM batch_probe ORDER BY id");
      assert.deepEqual(
        left.rows.map((r) => r.id),
        ["a", "it's"],
      );
      await db.close();
    });

    test("a batch run again runs prepared in its session: the same rows, through a failed batch, and texts that cannot be prepared still run", async () => {
      const db = await backend.open();
      await db.exec("CREATE TABLE again_probe (id text PRIMARY KEY, n int4 NOT NULL)");
      const insert = "INSERT INTO again_probe VALUES ($1::text, $2::int4) RETURNING id, n";
      // Listed by the same message, so from the very session (connection) that ran the batch.
      const preparedHere = "SELECT statement FROM pg_prepared_statements WHERE statement LIKE $1::text";
      const run = (id: string, n: number) =>
        db.batch([
          { sql: insert, params: [id, n] },
          { sql: "SELECT count(*)::int4 AS n FROM again_probe WHERE id LIKE $1::text", params: ["a%"] },
          { sql: preparedHere, params: ["%INSERT INTO again_probe%"] },
        ]);
      const first = await run("a1", 1);
      assert.deepEqual(first.slice(0, 2), [[{ id: "a1", n: 1 }], [{ n: 1 }]]);
      assert.equal(first[2]?.length, 0, "a text run once is not prepared");
      await run("a2", 2);
      // A batch that fails after its first statement: rolled back, and what it prepared stays usable.
      await assert.rejects(
        db.batch([
          { sql: insert, params: ["a3", 3] },
          { sql: insert, params: ["a1", 9] },
        ]),
        /duplicate key|unique/,
      );
      const again = await run("a4", 4);
      assert.deepEqual(again.slice(0, 2), [[{ id: "a4", n: 4 }], [{ n: 3 }]]);
      assert.equal(again[2]?.length, 1, "the insert is prepared in the session that ran it");
      // SHOW cannot be prepared: it keeps running as text, every time.
      for (let i = 0; i < 4; i++) {
        const [scs, one] = await db.batch([
          { sql: "SHOW standard_conforming_strings", params: [] },
          { sql: "SELECT $1::int4 AS x", params: [i] },
        ]);
        assert.deepEqual([scs, one], [[{ standard_conforming_strings: "on" }], [{ x: i }]]);
      }
      const { rows } = await db.query<{ id: string }>("SELECT id FROM again_probe ORDER BY id");
      assert.deepEqual(
        rows.map((r) => r.id),
        ["a1", "a2", "a4"],
      );
      await db.close();
    });

    test("a one-statement batch gives the same rows however often its text runs, past the prepared-statement bound, and fails alone", async () => {
      const db = await backend.open();
      await db.exec("CREATE TABLE prep_probe (id text PRIMARY KEY, n int4 NOT NULL)");
      const insert = "INSERT INTO prep_probe VALUES ($1::text, $2::int4) RETURNING id, n";
      for (let i = 0; i < 3; i++)
        assert.deepEqual(await db.batch([{ sql: insert, params: [`x${i}`, i] }]), [[{ id: `x${i}`, n: i }]]);
      // More distinct texts than are ever prepared by name (64): the rest still run.
      for (let i = 0; i < 80; i++) {
        const sql = `SELECT $1::int4 + ${i} AS n`;
        assert.deepEqual(await db.batch([{ sql, params: [1] }]), [[{ n: 1 + i }]]);
      }
      await assert.rejects(db.batch([{ sql: insert, params: ["x0", 9] }]), /duplicate key|unique/);
      assert.deepEqual(await db.batch([{ sql: insert, params: ["x3", 3] }]), [[{ id: "x3", n: 3 }]]);
      const left = await db.query<{ n: number }>("SELECT count(*)::int4 AS n FROM prep_probe");
      assert.equal(left.rows[0]?.n, 4);
      await db.close();
    });

    test("a queued job is stored PENDING with a JobCreated audit event; a duplicate id is refused", async () => {
      const db = await backend.open();
      const w = new GroupCommitWriter(db);
      const [a, b] = await Promise.all([
        w.createJob({ spec: spec("dup"), queuedBy: "alice", actor: "alice" }),
        w.createJob({ spec: spec("dup"), queuedBy: "bob", actor: "bob" }),
      ]);
      assert.deepEqual([a, b], [true, false]);
      assert.equal(await w.createJob({ spec: spec("dup"), queuedBy: "carol", actor: "carol" }), false);
      const job = await getJob(db, "dup");
      assert.equal(job?.status, "PENDING");
      assert.equal(job?.queuedBy, "alice");
      const audit = await auditByCorrelation(db, "dup");
      assert.deepEqual(
        audit.map((e) => [e.eventType, e.actor]),
        [["JobCreated", "alice"]],
      );
      await db.close();
    });

    test("a job with secrets is claimed only by their holder, and fails once that holder is gone", async () => {
      const db = await backend.open();
      const w = new GroupCommitWriter(db);
      await markControlPlaneAlive(db, "cp-b");
      await w.createJob({ spec: spec("held"), queuedBy: "t", actor: "t", secretsHolder: "cp-b" });
      await w.createJob({ spec: spec("plain"), queuedBy: "t", actor: "t" });
      await w.createJob({ spec: spec("mine"), queuedBy: "t", actor: "t", secretsHolder: "cp-a" });
      assert.equal(await countClaimable(db, 10, "local", "cp-a"), 2);
      assert.deepEqual([...(await claimableByLane(db, 10, "cp-b"))], [["local", 2]]);
      const a = await w.claim({
        workerIds: ["w1", "w2", "w3"],
        executionIds: ["e1", "e2", "e3"],
        holder: "cp-a",
      });
      assert.deepEqual(
        a.jobs.map((j) => j.id),
        ["plain", "mine"],
      );
      // cp-b is alive: its job waits for it. cp-a's own held jobs are never failed by cp-a.
      assert.deepEqual(await failJobsOfGoneHolders(db, "cp-a", 30_000), []);
      await db.query(
        `UPDATE control_planes SET last_seen_at = now() - interval '1 minute' WHERE id = 'cp-b'`,
      );
      const failed = await failJobsOfGoneHolders(db, "cp-a", 30_000);
      assert.deepEqual(
        failed.map((f) => f.id),
        ["held"],
      );
      assert.match(failed[0]!.message, /secrets were held in the memory of control plane cp-b/);
      const job = await getJob(db, "held");
      assert.equal(job?.status, "FAILED");
      assert.equal(job?.attempt, 0, "it never ran");
      assert.deepEqual(
        (await auditByCorrelation(db, "held")).map((e) => [e.eventType, e.payload]),
        [
          ["JobCreated", { name: "job held", priority: "NORMAL", queued_by: "t" }],
          ["JobStatusChanged", { from: "PENDING", to: "FAILED", reason: "secrets_lost" }],
        ],
      );
      // A stopped holder is gone at once, not after the silence.
      await w.createJob({ spec: spec("held-2"), queuedBy: "t", actor: "t", secretsHolder: "cp-c" });
      await markControlPlaneAlive(db, "cp-c");
      assert.deepEqual(await failJobsOfGoneHolders(db, "cp-a", 30_000), []);
      await forgetControlPlanes(db, { id: "cp-c" });
      assert.deepEqual(
        (await failJobsOfGoneHolders(db, "cp-a", 30_000)).map((f) => f.id),
        ["held-2"],
      );
      // A control plane silent for a day is forgotten; the live ones are kept.
      await markControlPlaneAlive(db, "cp-a");
      await db.query(`UPDATE control_planes SET last_seen_at = now() - interval '2 days' WHERE id = 'cp-b'`);
      await failJobsOfGoneHolders(db, "cp-a", 30_000);
      assert.deepEqual(
        (await db.query<{ id: string }>("SELECT id FROM control_planes ORDER BY id")).rows.map((r) => r.id),
        ["cp-a"],
      );
      await db.close();
    });

    test("claims take priority first, then age, and never hand one job to two workers", async () => {
      const db = await backend.open();
      const w = new GroupCommitWriter(db);
      await w.createJob({ spec: spec("n1"), queuedBy: "t", actor: "t" });
      await w.createJob({ spec: spec("n2"), queuedBy: "t", actor: "t" });
      await w.createJob({ spec: spec("low", "LOW"), queuedBy: "t", actor: "t" });
      await w.createJob({ spec: spec("crit", "CRITICAL"), queuedBy: "t", actor: "t" });
      const [c1, c2] = await Promise.all([
        w.claim({ workerIds: ["w1", "w2"], executionIds: ["e1", "e2"] }),
        w.claim({ workerIds: ["w3", "w4", "w5"], executionIds: ["e3", "e4", "e5"] }),
      ]);
      const order = [...c1.jobs, ...c2.jobs].map((j) => j.id);
      assert.deepEqual(order, ["crit", "n1", "n2", "low"]);
      assert.deepEqual(
        [...c1.jobs, ...c2.jobs].map((j) => [j.workerId, j.status, j.attempt]),
        [
          ["w1", "ASSIGNED", 1],
          ["w2", "ASSIGNED", 1],
          ["w3", "ASSIGNED", 1],
          ["w4", "ASSIGNED", 1],
        ],
      );
      assert.equal(c1.more, false, "nothing is left after claiming every job");
      const again = await w.claim({ workerIds: ["w6"], executionIds: ["e6"] });
      assert.equal(again.jobs.length, 0);
      await w.createJob({ spec: spec("m1"), queuedBy: "t", actor: "t" });
      await w.createJob({ spec: spec("m2"), queuedBy: "t", actor: "t" });
      const one = await w.claim({ workerIds: ["w7"], executionIds: ["e7"] });
      assert.deepEqual([one.jobs.map((j) => j.id), one.more], [["m1"], true]);
      const last = await w.claim({ workerIds: ["w8"], executionIds: ["e8"] });
      assert.deepEqual([last.jobs.map((j) => j.id), last.more], [["m2"], false]);
      await db.close();
    });

    test("running then finished records the outcome, the execution and the audit trail in order", async () => {
      const db = await backend.open();
      const w = new GroupCommitWriter(db);
      await w.createJob({ spec: spec("j"), queuedBy: "t", actor: "t" });
      const { jobs } = await w.claim({ workerIds: ["w1"], executionIds: ["x1"] });
      assert.equal(jobs[0]?.id, "j");
      assert.equal(await w.markRunning({ jobId: "j", executionId: "x1", atMs: Date.now() }), true);
      const [running] = await getExecutions(db, "j");
      assert.deepEqual(
        [running?.status, running?.workerId, running?.startedAt instanceof Date],
        ["RUNNING", "w1", true],
      );
      const done = await w.finish({
        jobId: "j",
        executionId: "x1",
        status: "FAILED",
        exitCode: 3,
        message: "",
        atMs: Date.now(),
        actor: "worker:w1",
      });
      assert.equal(done?.status, "FAILED");
      assert.equal(done?.exitCode, 3);
      // A second result for the same execution changes nothing.
      assert.equal(
        await w.finish({
          jobId: "j",
          executionId: "x1",
          status: "SUCCEEDED",
          exitCode: 0,
          message: "",
          atMs: Date.now(),
          actor: "x",
        }),
        null,
      );
      const [ended] = await getExecutions(db, "j");
      assert.deepEqual(
        [ended?.status, ended?.exitCode, ended?.startedAt instanceof Date],
        ["FAILED", 3, true],
      );
      const events = (await auditByCorrelation(db, "j")).map(
        (e) => `${e.eventType}:${String(e.payload.to ?? "")}`,
      );
      assert.deepEqual(events, [
        "JobCreated:",
        "JobAssigned:",
        "JobStatusChanged:RUNNING",
        "JobStatusChanged:FAILED",
      ]);
      await db.close();
    });

    test("a new job handed straight to a worker is stored ASSIGNED with its attempt, and no claim can take it", async () => {
      const db = await backend.open();
      const w = new GroupCommitWriter(db);
      const epoch = w.epoch;
      const assign = { workerId: "w1", executionId: "x1" };
      assert.equal(await w.createJob({ spec: spec("direct"), queuedBy: "t", actor: "t", assign }), true);
      assert.equal(w.epoch, epoch, "nothing claimable was added");
      const job = await getJob(db, "direct");
      assert.deepEqual(
        [job?.status, job?.workerId, job?.executionId, job?.attempt],
        ["ASSIGNED", "w1", "x1", 1],
      );
      assert.equal((await w.claim({ workerIds: ["w2"], executionIds: ["x2"] })).jobs.length, 0);
      const [execution] = await getExecutions(db, "direct");
      assert.deepEqual([execution?.id, execution?.workerId, execution?.attempt], ["x1", "w1", 1]);
      const events = (await auditByCorrelation(db, "direct")).map((e) => e.eventType);
      assert.deepEqual(events, ["JobCreated", "JobAssigned"]);
      await db.close();
    });

    test("a start and an end that share a transaction are written together, keeping the start time and both events", async () => {
      const db = await backend.open();
      const w = new GroupCommitWriter(db);
      await w.createJob({ spec: spec("quick"), queuedBy: "t", actor: "t" });
      await w.claim({ workerIds: ["w1"], executionIds: ["q1"] });
      const startedAt = Date.now() - 5_000;
      const [started, ended] = await Promise.all([
        w.markRunning({ jobId: "quick", executionId: "q1", atMs: startedAt }),
        w.finish({
          jobId: "quick",
          executionId: "q1",
          status: "SUCCEEDED",
          exitCode: 0,
          message: "",
          atMs: Date.now(),
          actor: "worker:w1",
        }),
      ]);
      assert.equal(started, true);
      assert.equal(ended?.status, "SUCCEEDED");
      const job = await getJob(db, "quick");
      assert.equal(job?.startedAt?.getTime(), startedAt);
      const [execution] = await getExecutions(db, "quick");
      assert.equal(execution?.startedAt?.getTime(), startedAt);
      const trail = (await auditByCorrelation(db, "quick")).map(
        (e) => `${e.eventType}:${String(e.payload.to ?? "")}`,
      );
      assert.deepEqual(trail, [
        "JobCreated:",
        "JobAssigned:",
        "JobStatusChanged:RUNNING",
        "JobStatusChanged:SUCCEEDED",
      ]);
      await db.close();
    });

    test("an end that says how long the process ran moves a start that arrived with it back by that much; a start known earlier stays", async () => {
      const db = await backend.open();
      const w = new GroupCommitWriter(db);
      for (const id of ["together", "apart"])
        await w.createJob({ spec: spec(id), queuedBy: "t", actor: "t" });
      await w.claim({ workerIds: ["w1", "w2"], executionIds: ["t1", "a1"] });
      const endAt = Date.now();
      // A short job: the worker's acceptance and result arrive in one batch, at the same moment.
      await Promise.all([
        w.markRunning({ jobId: "together", executionId: "t1", atMs: endAt }),
        w.finish({
          ...{ jobId: "together", executionId: "t1", status: "SUCCEEDED", exitCode: 0, message: "" },
          ...{ atMs: endAt, actor: "worker:w1", ranMs: 8 },
        }),
      ]);
      const together = await getJob(db, "together");
      assert.equal(together?.startedAt?.getTime(), endAt - 8);
      assert.equal(together?.finishedAt?.getTime(), endAt);
      assert.equal((await getExecutions(db, "together"))[0]?.startedAt?.getTime(), endAt - 8);

      // The start was recorded long before: a shorter run by the worker's clock does not move it.
      const startedAt = endAt - 5_000;
      await w.markRunning({ jobId: "apart", executionId: "a1", atMs: startedAt });
      await w.finish({
        ...{ jobId: "apart", executionId: "a1", status: "FAILED", exitCode: 1, message: "" },
        ...{ atMs: endAt, actor: "worker:w2", ranMs: 4_000 },
      });
      assert.equal((await getJob(db, "apart"))?.startedAt?.getTime(), startedAt);
      assert.equal((await getExecutions(db, "apart"))[0]?.startedAt?.getTime(), startedAt);
      await db.close();
    });

    test("a pending job can be cancelled; a claimed one is not cancelled as pending", async () => {
      const db = await backend.open();
      const w = new GroupCommitWriter(db);
      await w.createJob({ spec: spec("p"), queuedBy: "t", actor: "t" });
      await w.createJob({ spec: spec("q"), queuedBy: "t", actor: "t" });
      assert.equal(
        (await w.cancelPending({ jobId: "p", reason: "no longer needed", actor: "t" }))?.status,
        "CANCELLED",
      );
      await w.claim({ workerIds: ["w"], executionIds: ["e"] });
      assert.equal(await w.cancelPending({ jobId: "q", reason: "x", actor: "t" }), null);
      assert.equal((await countJobsByStatus(db)).CANCELLED, 1);
      await db.close();
    });

    test("the audit log filters by type, correlation and time, pages, and counts by type", async () => {
      const db = await backend.open();
      const w = new GroupCommitWriter(db);
      for (const id of ["a1", "a2", "a3"])
        await w.createJob({ spec: spec(id), queuedBy: "t", actor: "alice" });
      await w.claim({ workerIds: ["w1"], executionIds: ["x1"] });
      const created = await listAudit(db, { eventType: "JobCreated", limit: 2, offset: 0 });
      assert.deepEqual([created.total, created.logs.map((l) => l.correlationId)], [3, ["a1", "a2"]]);
      const a1 = await listAudit(db, { correlationId: "a1", limit: 10, offset: 0 });
      assert.deepEqual(
        a1.logs.map((l) => l.eventType),
        ["JobCreated", "JobAssigned"],
      );
      assert.equal((await listAudit(db, { sinceMs: Date.now() + 60_000, limit: 10, offset: 0 })).total, 0);
      assert.deepEqual(await auditEventCounts(db), { JobCreated: 3, JobAssigned: 1 });
      await db.close();
    });

    test("one bad write does not fail the others that shared its transaction", async () => {
      const db = await backend.open();
      const w = new GroupCommitWriter(db);
      // A sequence no column can hold: the database refuses the row.
      const bad = new LogChunk(
        Number.NaN,
        1,
        1,
        1,
        LogChunk.fromLines([{ sequence: 1, timestampMs: 1, isStderr: false, line: "x" }]).body,
      );
      const [created, logged] = await Promise.allSettled([
        w.createJob({ spec: spec("survivor"), queuedBy: "t", actor: "t" }),
        w.appendLogs({ jobId: "survivor", chunk: bad }),
      ]);
      assert.deepEqual(created, { status: "fulfilled", value: true });
      assert.equal(logged.status, "rejected");
      assert.equal((await getJob(db, "survivor"))?.status, "PENDING");
      await db.close();
    });

    test("NUL is data on stdin and in output, and harmless in a reason", async () => {
      const db = await backend.open();
      const w = new GroupCommitWriter(db);
      await w.createJob({ spec: { ...spec("nul"), stdin: "a\0b" }, queuedBy: "t", actor: "t" });
      assert.equal((await getJob(db, "nul"))?.spec.stdin, "a\0b");
      const cancelled = await w.cancelPending({ jobId: "nul", reason: "bad\0reason", actor: "t" });
      assert.equal(cancelled?.message, "bad\uFFFDreason");
      // A job's output may hold NUL (binary output): the line is stored and read back as it was.
      await w.appendLogs({
        jobId: "nul",
        chunk: LogChunk.fromLines([
          { sequence: 1, timestampMs: 1, isStderr: false, line: "x\0y \\u0000 'q'" },
        ]),
      });
      assert.deepEqual(
        (await getLogs(db, "nul", 0, 10)).lines.map((l) => l.line),
        ["x\0y \\u0000 'q'"],
      );
      await db.close();
    });

    test("log chunks page by sequence and tail the last lines", async () => {
      const db = await backend.open();
      const w = new GroupCommitWriter(db);
      const mk = (from: number, n: number) =>
        Array.from({ length: n }, (_, i) => ({
          sequence: from + i,
          timestampMs: 1,
          isStderr: i % 2 === 1,
          line: `line ${from + i} ✓ 'quoted' "x"`,
        }));
      await Promise.all([
        w.appendLogs({ jobId: "L", chunk: LogChunk.fromLines(mk(1, 10)) }),
        w.appendLogs({ jobId: "L", chunk: LogChunk.fromLines(mk(11, 10)) }),
      ]);
      await w.appendLogs({ jobId: "L", chunk: LogChunk.fromLines(mk(21, 5)) });
      // A chunk too big to write into the statement's text goes as a parameter, in the same commit.
      await Promise.all([
        w.appendLogs({ jobId: "big", chunk: LogChunk.fromLines(mk(1, 20_000)) }),
        w.createJob({ spec: spec("beside-big"), queuedBy: "t", actor: "t" }),
      ]);
      const big = await getLogs(db, "big", 19_990, 100);
      assert.deepEqual(big.lines.at(-1), {
        sequence: 20_000,
        timestampMs: 1,
        isStderr: true,
        line: `line 20000 ✓ 'quoted' "x"`,
      });
      assert.equal(big.lines.length, 10);
      assert.equal((await getJob(db, "beside-big"))?.status, "PENDING");
      // And alone: one statement, its chunk a parameter sent from the chunk's own buffer.
      await w.appendLogs({ jobId: "big", chunk: LogChunk.fromLines(mk(20_001, 30_000)) });
      const alone = await getLogs(db, "big", 49_998, 100);
      assert.deepEqual(
        alone.lines.map((l) => [l.sequence, l.line]),
        [
          [49_999, `line 49999 ✓ 'quoted' "x"`],
          [50_000, `line 50000 ✓ 'quoted' "x"`],
        ],
      );
      const p1 = await getLogs(db, "L", 0, 8);
      assert.deepEqual(
        p1.lines.map((l) => l.sequence),
        [1, 2, 3, 4, 5, 6, 7, 8],
      );
      assert.equal(p1.hasMore, true);
      const p2 = await getLogs(db, "L", 8, 100);
      assert.equal(p2.lines.length, 17);
      assert.equal(p2.hasMore, false);
      assert.equal(p2.lines[0]?.line, `line 9 ✓ 'quoted' "x"`);
      assert.equal(p2.lines[0]?.isStderr, false);
      assert.deepEqual(
        (await tailLogs(db, "L", 3)).map((l) => l.sequence),
        [23, 24, 25],
      );
      await db.close();
    });

    test("chunks stored before lines were bytes (JSON text) read back beside new ones", async () => {
      const db = await backend.open();
      const w = new GroupCommitWriter(db);
      await db.query(
        `INSERT INTO job_log_chunks (job_id, first_seq, last_seq, line_count, bytes, lines)
         VALUES ('old', 1, 2, 2, 6, $1)`,
        [
          JSON.stringify([
            [1, 5000, 0, "one ✓"],
            [2, 6000, 1, "two"],
          ]),
        ],
      );
      await w.appendLogs({
        jobId: "old",
        chunk: LogChunk.fromLines([{ sequence: 3, timestampMs: 7000, isStderr: false, line: "three" }]),
      });
      assert.deepEqual((await getLogs(db, "old", 1, 10)).lines, [
        { sequence: 2, timestampMs: 6000, isStderr: true, line: "two" },
        { sequence: 3, timestampMs: 7000, isStderr: false, line: "three" },
      ]);
      const { chunks } = await getLogChunks(db, "old", 0, 10);
      assert.deepEqual(
        chunks.map((c) => [c.firstSeq, c.lastSeq, c.count]),
        [
          [1, 2, 2],
          [3, 3, 1],
        ],
      );
      assert.deepEqual(
        (await tailLogChunks(db, "old", 2)).flatMap((c) => c.lines().map((l) => l.line)),
        ["two", "three"],
      );
      await db.close();
    });

    test("log retention deletes old lines of finished jobs, keeps running jobs' and recent ones, and counts", async () => {
      const db = await backend.open();
      const w = new GroupCommitWriter(db);
      const line = (n: number) => ({ sequence: n, timestampMs: 1, isStderr: false, line: "0123456789" });
      await w.createJob({ spec: spec("old-done"), queuedBy: "t", actor: "t" });
      await w.createJob({ spec: spec("old-running"), queuedBy: "t", actor: "t" });
      const { jobs } = await w.claim({ workerIds: ["w1", "w2"], executionIds: ["x1", "x2"] });
      const done = jobs.find((j) => j.id === "old-done")!;
      await w.finish({
        jobId: done.id,
        executionId: done.executionId!,
        status: "SUCCEEDED",
        exitCode: 0,
        message: "",
        atMs: Date.now(),
        actor: "t",
      });
      for (const id of ["old-done", "old-running", "recent"])
        await w.appendLogs({ jobId: id, chunk: LogChunk.fromLines([line(1), line(2), line(3)]) });
      await db.query(
        `UPDATE job_log_chunks SET created_at = now() - interval '10 days' WHERE job_id <> 'recent'`,
      );
      const freed = await deleteLogsBefore(db, Date.now() - 7 * 86_400_000);
      assert.deepEqual(freed, { chunks: 1, lines: 3, bytes: 30 });
      assert.equal((await getLogs(db, "old-done", 0, 10)).lines.length, 0);
      assert.equal((await getLogs(db, "old-running", 0, 10)).lines.length, 3);
      assert.equal((await getLogs(db, "recent", 0, 10)).lines.length, 3);
      await db.close();
    });

    test("list filters by status and search term and pages", async () => {
      const db = await backend.open();
      const w = new GroupCommitWriter(db);
      for (let i = 0; i < 5; i++)
        await w.createJob({
          spec: spec(`build-${i}`, "NORMAL", `make target${i}`),
          queuedBy: "t",
          actor: "t",
        });
      await w.createJob({ spec: spec("deploy", "NORMAL", "kubectl apply"), queuedBy: "t", actor: "t" });
      await w.cancelPending({ jobId: "build-0", reason: "x", actor: "t" });
      const builds = await listJobs(db, { search: "build", limit: 2, offset: 0 });
      assert.equal(builds.total, 5);
      assert.deepEqual(
        builds.jobs.map((j) => j.id),
        ["build-4", "build-3"],
      );
      assert.deepEqual(
        (await listJobs(db, { search: "KUBECTL", limit: 10, offset: 0 })).jobs.map((j) => j.id),
        ["deploy"],
      );
      assert.deepEqual(
        (await listJobs(db, { status: "CANCELLED", limit: 10, offset: 0 })).jobs.map((j) => j.id),
        ["build-0"],
      );
      assert.equal((await listJobs(db, { search: "100%_", limit: 10, offset: 0 })).total, 0);
      await db.close();
    });

    test("a one-time token works once, for its worker, before it expires", async () => {
      const db = await backend.open();
      await createWorker(db, { id: "w1", provider: "local", token: "secret-1", ttlMs: 60_000 });
      await createWorker(db, { id: "w2", provider: "local", token: "secret-2", ttlMs: -1 });
      assert.equal(await consumeToken(db, "secret-1", "other"), "wrong_worker");
      assert.equal(await consumeToken(db, "secret-1", "w1"), "ok");
      assert.equal(await consumeToken(db, "secret-1", "w1"), "used");
      assert.equal(await consumeToken(db, "secret-2", "w2"), "expired");
      assert.equal(await consumeToken(db, "nope", "w1"), "unknown");
      await db.close();
    });
  });
}

test("the embedded database keeps its jobs across a restart", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hodei-store-"));
  try {
    let db = await openPglite(dir);
    await migrate(db);
    await new GroupCommitWriter(db).createJob({ spec: spec("persisted"), queuedBy: "t", actor: "t" });
    await db.close();
    db = await openPglite(dir);
    assert.deepEqual(await migrate(db), []);
    assert.equal((await getJob(db, "persisted"))?.status, "PENDING");
    await db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the writer refuses a result that the job state machine does not allow", async () => {
  const db = await openPglite(null);
  await migrate(db);
  const w = new GroupCommitWriter(db);
  await assert.rejects(
    w.finish({
      jobId: "x",
      executionId: "e",
      status: "PENDING",
      exitCode: null,
      message: "",
      atMs: 0,
      actor: "t",
    }),
    /can only finish in SUCCEEDED, FAILED, CANCELLED, TIMEOUT, not PENDING/,
  );
  await db.close();
});
