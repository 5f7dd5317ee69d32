// graphile-worker on the bench's PostgreSQL server. Settings (its performance guide's): a local
// queue (jobs fetched and locked in batches), batched completion, LISTEN/NOTIFY wake-up (its
// default), bulk add_jobs for many jobs at once.
import { Logger, makeWorkerUtils, run } from "graphile-worker";
import pg from "pg";
import { runCommand } from "./command-runner.mjs";
import { startPeerWorker } from "./peer-process.mjs";
import { pgListener, pgSink, SCHEMA_SQL } from "./pg-sink.mjs";

const TASK = "run_command";
const CRITICAL_PRIORITY = -100; // graphile-worker runs lower numbers first; default 0
const BULK_CHUNK = 5000;
const localQueueSize = (concurrency) => Math.max(concurrency + 1, 50);

// Warnings and errors only: its info lines would interleave with the bench's output.
// While it stops, its local queue logs errors about its own release (graphile-worker 0.17.3) that
// cost nothing and change no figure: those are left out.
let stopping = false;
const quietLogger = new Logger(() => (level, message) => {
  if (stopping) return;
  if (level === "error" || level === "warning") console.error(`graphile-worker ${level}: ${message}`);
});

export function settings(concurrency) {
  return `concurrency ${concurrency}, localQueue.size ${localQueueSize(concurrency)}, completeJobBatchDelay 0, LISTEN/NOTIFY wake-up, addJobs in chunks of ${BULK_CHUNK}`;
}

/** In the worker process. */
export async function startWorker({ url, concurrency }) {
  const pool = new pg.Pool({ connectionString: url, max: concurrency + 1 });
  const runner = await run({
    connectionString: url,
    concurrency,
    noHandleSignals: true,
    logger: quietLogger,
    maxPoolSize: concurrency + 2,
    taskList: {
      [TASK]: async ({ key, command }) => runCommand(command, pgSink(pool, key)),
    },
    preset: { worker: { localQueue: { size: localQueueSize(concurrency) }, completeJobBatchDelay: 0 } },
  });
  return {
    async stop() {
      stopping = true;
      await runner.stop();
      await pool.end();
    },
  };
}

/** In the bench process: the submitting client, with the worker process started. */
export async function startSystem({ url, concurrency, prefix }) {
  const utils = await makeWorkerUtils({ connectionString: url, logger: quietLogger });
  await utils.migrate();
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(SCHEMA_SQL);
  await admin.end();
  const listener = await pgListener(url);
  const worker = await startPeerWorker("graphile", { url, concurrency });
  let seq = 0;
  const nextKey = () => `${prefix}-${seq++}`;
  return {
    name: "graphile-worker",
    settings: settings(concurrency),
    workerPids: () => [worker.pid],
    async queue(command, { critical = false } = {}) {
      const key = nextKey();
      await utils.addJob(TASK, { key, command }, critical ? { priority: CRITICAL_PRIORITY } : {});
      return key;
    },
    async queueMany(n, command) {
      const keys = Array.from({ length: n }, nextKey);
      for (let i = 0; i < n; i += BULK_CHUNK) {
        await utils.addJobs(
          keys.slice(i, i + BULK_CHUNK).map((key) => ({ identifier: TASK, payload: { key, command } })),
        );
      }
      return keys;
    },
    waitDone: listener.waitDone,
    doneCount: listener.doneCount,
    followLogs: listener.followLogs,
    async stop({ abandon = false } = {}) {
      await worker.stop({ abandon });
      await listener.close();
      await utils.release();
    },
  };
}
