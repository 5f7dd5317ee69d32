// pg-boss on the bench's PostgreSQL server. pg-boss polls (it has no cross-process wake-up), so
// it gets its shortest polling interval (0.5 s, the least it accepts); concurrency N is N work()
// loops (pg-boss 10's way: no team options), each fetching a batch and running it in order; bulk
// insert() for many jobs at once.
import PgBoss from "pg-boss";
import pg from "pg";
import { runCommand } from "./command-runner.mjs";
import { startPeerWorker } from "./peer-process.mjs";
import { pgListener, pgSink, SCHEMA_SQL } from "./pg-sink.mjs";

const QUEUE = "run_command";
const BATCH_SIZE = 100;
const POLLING_INTERVAL_SECONDS = 0.5;
const CRITICAL_PRIORITY = 100; // pg-boss runs higher numbers first; default 0
const BULK_CHUNK = 5000;

export function settings(concurrency) {
  return `${concurrency} work() loop${concurrency > 1 ? "s" : ""} × batchSize ${BATCH_SIZE}, pollingIntervalSeconds ${POLLING_INTERVAL_SECONDS} (its minimum), priority on, insert() in chunks of ${BULK_CHUNK}`;
}

function logErrors(boss) {
  boss.on("error", (err) => console.error(`pg-boss error: ${err.message}`));
  return boss;
}

/** In the worker process. */
export async function startWorker({ url, concurrency }) {
  const pool = new pg.Pool({ connectionString: url, max: concurrency + 1 });
  const boss = logErrors(new PgBoss({ connectionString: url, max: concurrency + 2, schedule: false }));
  await boss.start();
  for (let i = 0; i < concurrency; i++) {
    await boss.work(
      QUEUE,
      { batchSize: BATCH_SIZE, pollingIntervalSeconds: POLLING_INTERVAL_SECONDS },
      async (jobs) => {
        for (const { data } of jobs) await runCommand(data.command, pgSink(pool, data.key));
      },
    );
  }
  return {
    async stop() {
      await boss.stop({ graceful: true, wait: true, timeout: 10_000 });
      await pool.end();
    },
  };
}

/** In the bench process: the submitting client, with the worker process started. */
export async function startSystem({ url, concurrency, prefix }) {
  const boss = logErrors(new PgBoss({ connectionString: url, max: 4, supervise: false, schedule: false }));
  await boss.start();
  await boss.createQueue(QUEUE);
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(SCHEMA_SQL);
  await admin.end();
  const listener = await pgListener(url);
  const worker = await startPeerWorker("pg-boss", { url, concurrency });
  let seq = 0;
  const nextKey = () => `${prefix}-${seq++}`;
  return {
    name: "pg-boss",
    settings: settings(concurrency),
    workerPids: () => [worker.pid],
    async queue(command, { critical = false } = {}) {
      const key = nextKey();
      const id = await boss.send(QUEUE, { key, command }, critical ? { priority: CRITICAL_PRIORITY } : {});
      if (!id) throw new Error(`pg-boss did not queue ${key}`);
      return key;
    },
    async queueMany(n, command) {
      const keys = Array.from({ length: n }, nextKey);
      for (let i = 0; i < n; i += BULK_CHUNK) {
        await boss.insert(
          keys.slice(i, i + BULK_CHUNK).map((key) => ({ name: QUEUE, data: { key, command } })),
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
      await boss.stop({ graceful: false, wait: true });
    },
  };
}
