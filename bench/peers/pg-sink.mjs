// Where the PostgreSQL peers (graphile-worker, pg-boss) keep what a job printed and how it ended, in
// their own database: a row per log batch in bench.log_batches, the exit code in bench.results.
// Each write NOTIFYs in the same statement (delivered at commit), which is how the submitting client
// learns a job is done and how a live subscriber learns there are new lines.
//   worker side  pgSink(pool, key) → { write, finish } for runCommand
//   client side  pgListener(url) → { waitDone, doneCount, followLogs, close }
import { performance } from "node:perf_hooks";
import pg from "pg";

export const SCHEMA_SQL = `
CREATE SCHEMA IF NOT EXISTS bench;
CREATE TABLE IF NOT EXISTS bench.log_batches (
  id bigserial PRIMARY KEY,
  job_key text NOT NULL,
  line_count int NOT NULL,
  out_lines text NOT NULL,
  err_lines text NOT NULL
);
CREATE INDEX IF NOT EXISTS log_batches_job ON bench.log_batches (job_key, id);
CREATE TABLE IF NOT EXISTS bench.results (
  job_key text PRIMARY KEY,
  exit_code int NOT NULL,
  finished_at timestamptz NOT NULL DEFAULT now()
);`;

const WRITE_SQL = `
WITH b AS (
  INSERT INTO bench.log_batches (job_key, line_count, out_lines, err_lines) VALUES ($1, $2, $3, $4)
  RETURNING job_key
)
SELECT pg_notify('bench_logs', job_key) FROM b`;

// The last batch (if any line is left) and the exit code in one statement: one round trip per job.
const FINISH_SQL = `
WITH b AS (
  INSERT INTO bench.log_batches (job_key, line_count, out_lines, err_lines)
  SELECT $1, $2::int, $3, $4 WHERE $2::int > 0
  RETURNING job_key
), r AS (
  INSERT INTO bench.results (job_key, exit_code) VALUES ($1, $5)
  ON CONFLICT (job_key) DO UPDATE SET exit_code = EXCLUDED.exit_code, finished_at = now()
  RETURNING job_key
)
SELECT pg_notify('bench_done', r.job_key), (SELECT count(*) FROM b) AS batches,
       CASE WHEN $2::int > 0 THEN pg_notify('bench_logs', r.job_key) END
FROM r`;

export function pgSink(pool, key) {
  const params = ({ out, err }) => [key, out.length + err.length, out.join("\n"), err.join("\n")];
  return {
    write: (batch) => pool.query({ name: "bench_write", text: WRITE_SQL, values: params(batch) }),
    finish: (batch) =>
      pool.query({ name: "bench_finish", text: FINISH_SQL, values: [...params(batch), batch.exitCode] }),
  };
}

/**
 * The submitting client's view: LISTEN bench_done (job finished, exit code stored) and bench_logs
 * (new batches of a job). `followLogs(key, expected)` is a live subscriber: on each notification it
 * fetches the batches it has not seen (one fetch in flight) and resolves once `expected` lines and
 * the job's end have arrived.
 */
export async function pgListener(url) {
  const listen = new pg.Client({ connectionString: url });
  const fetcher = new pg.Client({ connectionString: url });
  await Promise.all([listen.connect(), fetcher.connect()]);
  await listen.query("LISTEN bench_done; LISTEN bench_logs");
  const done = new Map(); // key → performance.now() of the notification
  const waiters = new Map();
  const followers = new Map();
  let failure;

  listen.on("notification", ({ channel, payload }) => {
    if (channel === "bench_done") {
      const at = performance.now();
      if (!done.has(payload)) done.set(payload, at);
      for (const wake of waiters.get(payload) ?? []) wake(at);
      waiters.delete(payload);
      followers.get(payload)?.poke();
    } else followers.get(payload)?.poke();
  });
  listen.on("error", (err) => (failure = err));

  return {
    doneCount: () => done.size,
    waitDone(key, timeoutMs = 60_000) {
      if (done.has(key)) return Promise.resolve({ at: done.get(key) });
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(key);
          reject(
            new Error(`${key} not done within ${timeoutMs} ms${failure ? ` (${failure.message})` : ""}`),
          );
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
    followLogs(key, expected) {
      let lastId = 0;
      let lines = 0;
      let fetching = false;
      let again = false;
      let settle;
      const finished = new Promise((resolve, reject) => (settle = { resolve, reject }));
      const poke = async () => {
        if (fetching) {
          again = true;
          return;
        }
        fetching = true;
        try {
          do {
            again = false;
            const { rows } = await fetcher.query({
              name: "bench_follow",
              text: "SELECT id, line_count, out_lines, err_lines FROM bench.log_batches WHERE job_key = $1 AND id > $2 ORDER BY id",
              values: [key, lastId],
            });
            for (const row of rows) {
              lines += row.line_count; // the texts came over the wire: that is the delivery
              lastId = Number(row.id);
            }
          } while (again);
          if (lines >= expected && done.has(key)) {
            followers.delete(key);
            settle.resolve({ lines, at: performance.now() });
          }
        } catch (err) {
          settle.reject(err);
        } finally {
          fetching = false;
        }
      };
      followers.set(key, { poke });
      poke();
      return finished;
    },
    async close() {
      await Promise.allSettled([listen.end(), fetcher.end()]);
    },
  };
}
