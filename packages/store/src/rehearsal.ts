import { randomUUID } from "node:crypto";
import { LogChunk } from "@hodei/api";
import { commandJobSpec } from "@hodei/core";
import type { Database, Queryable } from "./database.js";
import { GroupCommitWriter } from "./group-commit.js";
import { runEach } from "./sql-literal.js";
import { consumeToken, createWorker, getJob, getLogChunks, updateWorker } from "./queries.js";

const ROLLED_BACK = Symbol("rehearsal rolled back");

/** A lane of its own: the rehearsal claims its own job, never one of the jobs already waiting. */
const LANE = "rehearsal";

/** `db` as seen from inside one of its transactions: everything runs in `tx`, in order. */
function within(db: Database, tx: Queryable): Database {
  return {
    kind: db.kind,
    query: (sql, params) => tx.query(sql, params),
    transaction: (fn) => fn(tx),
    batch: (statements) => runEach(tx, statements),
    exec: () => Promise.reject(new Error("exec is not rehearsed")),
    close: () => Promise.resolve(),
  };
}

/** One job's writes and reads as a cold start makes them: queued, a worker made and registered, claimed, run, logged, ended. */
async function oneJob(db: Database): Promise<void> {
  const suffix = randomUUID();
  const jobId = `rehearsal-${suffix}`;
  const workerId = `rehearsal-worker-${suffix}`;
  const executionId = `rehearsal-execution-${suffix}`;
  const token = `rehearsal-token-${suffix}`;
  const writer = new GroupCommitWriter(db);
  await writer.createJob({
    spec: commandJobSpec(jobId, "true", { executionTimeoutMs: 60_000 }),
    queuedBy: "rehearsal",
    actor: "rehearsal",
    lane: LANE,
  });
  await createWorker(db, { id: workerId, provider: "local", token, ttlMs: 60_000, lane: LANE });
  await consumeToken(db, token, workerId);
  await updateWorker(db, workerId, { state: "READY", hostname: "rehearsal", labels: {} });
  const claimed = await writer.claim({ workerIds: [workerId], executionIds: [executionId], lane: LANE });
  if (claimed.jobs[0]?.id !== jobId)
    throw new Error(`the rehearsal claimed ${claimed.jobs[0]?.id ?? "nothing"}`);
  await writer.markRunning({ jobId, executionId, atMs: Date.now() });
  await writer.appendLogs({
    jobId,
    chunk: LogChunk.fromLines([{ sequence: 1, timestampMs: Date.now(), isStderr: false, line: "$ true" }]),
  });
  await writer.finish({
    jobId,
    executionId,
    status: "SUCCEEDED",
    exitCode: 0,
    message: "",
    atMs: Date.now(),
    actor: `worker:${workerId}`,
  });
  await getJob(db, jobId);
  await getLogChunks(db, jobId, 0, 100);
}

/**
 * Runs a cold start's statements `times` times in one transaction that is then rolled back, so that
 * nothing is left of them, before the control plane serves its first job. The database's first runs
 * of them are then not the first jobs': an embedded database compiles its WebAssembly function by
 * function as statements first reach them, and recompiles the hot ones with V8's optimizing tier
 * only after they have run a while; a statement text is prepared on its second run (a prepared
 * statement outlives the rollback); a backend loads its catalog entries on first use.
 */
export async function rehearseJobWrites(db: Database, times: number): Promise<void> {
  try {
    await db.transaction(async (tx) => {
      const inside = within(db, tx);
      for (let i = 0; i < times; i++) await oneJob(inside);
      throw ROLLED_BACK;
    });
  } catch (err) {
    if (err !== ROLLED_BACK) throw err;
  }
}
