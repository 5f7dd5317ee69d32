// BullMQ on a Redis server of the bench's own. Settings: one Worker with concurrency N (it fetches
// the next job in the same call that completes one), addBulk for many jobs at once, completion
// seen through QueueEvents, the exit code stored as the job's return value (kept: no
// removeOnComplete). A job's lines go to a Redis stream per job, a batch per entry (XADD): stored,
// and read live with XREAD BLOCK, resumable like SubscribeLogs. A CRITICAL job is added `lifo`
// (next in line): a BullMQ job with a priority runs after every job without one.
import { performance } from "node:perf_hooks";
import { Queue, QueueEvents, Worker } from "bullmq";
import { Redis } from "ioredis";
import { runCommand } from "./command-runner.mjs";
import { startPeerWorker } from "./peer-process.mjs";

const QUEUE = "run_command";
const BULK_CHUNK = 5000;
const logKey = (key) => `bench:logs:${key}`;

export function settings(concurrency) {
  return `Worker concurrency ${concurrency}, addBulk in chunks of ${BULK_CHUNK}, QueueEvents for completion, lines via XADD per batch, CRITICAL as lifo`;
}

const connectionOf = ({ host, port }) => ({ host, port, maxRetriesPerRequest: null });

function redisSink(redis, key) {
  const add = ({ out, err }) =>
    redis.xadd(
      logKey(key),
      "*",
      "n",
      String(out.length + err.length),
      "o",
      out.join("\n"),
      "e",
      err.join("\n"),
    );
  return {
    write: add,
    finish: async (batch) => {
      if (batch.out.length + batch.err.length) await add(batch);
    },
  };
}

/** In the worker process. */
export async function startWorker({ redis, concurrency }) {
  const logs = new Redis(connectionOf(redis));
  const worker = new Worker(QUEUE, (job) => runCommand(job.data.command, redisSink(logs, job.id)), {
    connection: connectionOf(redis),
    concurrency,
  });
  worker.on("error", (err) => console.error(`bullmq worker error: ${err.message}`));
  await worker.waitUntilReady();
  return {
    async stop() {
      await worker.close();
      logs.disconnect();
    },
  };
}

/** In the bench process: the submitting client, with the worker process started. */
export async function startSystem({ redis, concurrency, prefix }) {
  const admin = new Redis(connectionOf(redis));
  await admin.flushall();
  const queue = new Queue(QUEUE, { connection: connectionOf(redis) });
  const events = new QueueEvents(QUEUE, { connection: connectionOf(redis) });
  await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
  const done = new Map();
  const waiters = new Map();
  const onEnd = ({ jobId }) => {
    const at = performance.now();
    if (!done.has(jobId)) done.set(jobId, at);
    for (const wake of waiters.get(jobId) ?? []) wake(at);
    waiters.delete(jobId);
  };
  events.on("completed", onEnd);
  events.on("failed", onEnd);
  const worker = await startPeerWorker("bullmq", {
    redis: { host: redis.host, port: redis.port },
    concurrency,
  });
  const readers = new Set();
  let seq = 0;
  const nextKey = () => `${prefix}-${seq++}`;
  return {
    name: "BullMQ",
    settings: settings(concurrency),
    workerPids: () => [worker.pid],
    async queue(command, { critical = false } = {}) {
      const key = nextKey();
      await queue.add(QUEUE, { key, command }, { jobId: key, ...(critical ? { lifo: true } : {}) });
      return key;
    },
    async queueMany(n, command) {
      const keys = Array.from({ length: n }, nextKey);
      for (let i = 0; i < n; i += BULK_CHUNK) {
        await queue.addBulk(
          keys
            .slice(i, i + BULK_CHUNK)
            .map((key) => ({ name: QUEUE, data: { key, command }, opts: { jobId: key } })),
        );
      }
      return keys;
    },
    waitDone(key, timeoutMs = 60_000) {
      if (done.has(key)) return Promise.resolve({ at: done.get(key) });
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(key);
          reject(new Error(`${key} not done within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.set(key, [
          ...(waiters.get(key) ?? []),
          (at) => {
            clearTimeout(timer);
            resolve({ at });
          },
        ]);
      });
    },
    doneCount: () => done.size,
    async followLogs(key, expected) {
      const reader = new Redis(connectionOf(redis));
      readers.add(reader);
      let lastId = "0";
      let lines = 0;
      try {
        let at = performance.now();
        while (lines < expected) {
          const res = await reader.xread("COUNT", 1000, "BLOCK", 5000, "STREAMS", logKey(key), lastId);
          at = performance.now();
          for (const [, entries] of res ?? []) {
            for (const [id, fields] of entries) {
              lines += Number(fields[1]); // fields: n, <count>, o, <stdout>, e, <stderr>
              lastId = id;
            }
          }
        }
        const end = await this.waitDone(key, 60_000);
        return { lines, at: Math.max(at, end.at) };
      } finally {
        reader.disconnect();
        readers.delete(reader);
      }
    },
    async stop({ abandon = false } = {}) {
      await worker.stop({ abandon });
      for (const r of readers) r.disconnect();
      await events.close();
      await queue.close();
      admin.disconnect();
    },
  };
}
