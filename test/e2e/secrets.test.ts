// A job's secret through the whole platform: it reaches the job (on stdin by default, as files when
// asked), and neither it nor its base64 form shows up in stored logs, streamed logs, API answers,
// the server's log or anything the embedded database keeps on disk.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AuditService,
  JobExecutionService,
  LogStreamService,
  serverStream,
  unary,
  type LogEntry,
} from "@hodei/api";
import { getLogChunks, openPglite } from "@hodei/store";
import { allLogs, queueJob, waitForJobEnd } from "./support/jobs.js";
import { startPlatform, stopCleanly, type Platform } from "./support/platform.js";
import { waitFor, withDeadline } from "./support/wait.js";

const TOKEN = "s3cr3t-value-42";
const TOKEN_SHA256 = createHash("sha256").update(TOKEN).digest("hex");

/**
 * Base64 text that can only come from the secret: the whole encodings (with padding; of the value
 * and of the value plus a newline) and, for each byte alignment inside longer base64 text, the
 * characters that depend on the secret's bytes alone.
 */
function base64Forms(value: string): string[] {
  const bytes = Buffer.from(value);
  const forms = [bytes.toString("base64"), Buffer.from(`${value}\n`).toString("base64")];
  for (let shift = 0; shift < 3; shift++) {
    const encoded = Buffer.concat([Buffer.alloc(shift), bytes]).toString("base64");
    forms.push(encoded.slice(Math.ceil((8 * shift) / 6), Math.floor((8 * (shift + bytes.length)) / 6)));
  }
  return forms;
}
const FORBIDDEN = [TOKEN, ...base64Forms(TOKEN)];

/** The forbidden texts found in `text`, named by where it came from (empty: nothing leaked). */
function leaksIn(where: string, text: string | Buffer): string[] {
  const haystack = typeof text === "string" ? Buffer.from(text) : text;
  return FORBIDDEN.filter((f) => haystack.includes(f)).map((f) => `${where} holds ${JSON.stringify(f)}`);
}

const json = (v: unknown): string =>
  JSON.stringify(v, (_key, x: unknown) => (typeof x === "bigint" ? x.toString() : x));

// Prints the secret plainly, base64-encoded and inside a longer line (stdout and stderr), and its
// hash (to prove the job really had it); waits for the test's go-ahead first, so that the secret's
// lines reach a live SubscribeLogs rather than only its replay of history.
const PRINT_IT = [
  'echo "waiting for $GO"',
  'while [ ! -e "$GO" ]; do sleep 0.02; done',
  'echo "$T"',
  'printf %s "$T" | base64',
  'echo "$T" | base64',
  'echo "Authorization: Bearer $T (sent to api.example.com)"',
  'echo "error: token $T was rejected" >&2',
  'printf %s "$T" | sha256sum | cut -c1-64',
].join("; ");

describe("secrets end to end", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "hodei-e2e-secrets-"));
  const scratch = mkdtempSync(join(tmpdir(), "hodei-e2e-secrets-go-"));
  let platform: Platform;
  const leaks: string[] = [];

  before(async () => {
    platform = await startPlatform({ dataDir, env: { LOG_LEVEL: "trace" } });
  });
  after(async () => {
    await platform?.stop();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(scratch, { recursive: true, force: true });
  });

  /** Queues a job printing the secret, follows its log live, and checks every answer about it. */
  async function runPrinter(
    id: string,
    readSecret: string,
    environment: Record<string, string>,
  ): Promise<string[]> {
    const go = join(scratch, id);
    await queueJob(platform.client, {
      jobId: { value: id },
      name: id,
      command: `${readSecret}; ${PRINT_IT}`,
      environment: { ...environment, GO: go },
      secrets: { TOKEN },
    });
    const streamed: LogEntry[] = [];
    const stream = serverStream(platform.client, LogStreamService.method.subscribeLogs, {
      jobId: id,
      includeHistory: true,
    });
    const ended = new Promise<void>((resolve, reject) => {
      stream.on("data", (e: LogEntry) => streamed.push(e));
      stream.on("end", resolve);
      stream.on("error", reject);
    });
    await waitFor(() => streamed.some((e) => e.line.startsWith("waiting for")), {
      timeoutMs: 30_000,
      what: `${id} to start and say it waits`,
    });
    writeFileSync(go, "");
    const done = await waitForJobEnd(platform.client, id);
    await withDeadline(ended, 15_000, `SubscribeLogs of ${id} to end`);
    assert.equal(done.statusName, "SUCCEEDED", done.message);

    const stored = await allLogs(platform.client, id);
    // Recorded before any assertion, so that the final scan reports them even when one fails.
    leaks.push(
      ...leaksIn(`GetLogs(${id})`, json(stored)),
      ...leaksIn(`SubscribeLogs(${id})`, json(streamed)),
    );
    const lines = stored.map((e) => e.line);
    assert.deepEqual(
      streamed.map((e) => [Number(e.sequence), e.line]),
      stored.map((e) => [Number(e.sequence), e.line]),
      "the stream shows what is stored",
    );
    const printed = stored.slice(lines.findIndex((l) => l.startsWith("waiting for")) + 1);
    assert.deepEqual(
      printed.filter((e) => !e.isStderr).map((e) => e.line),
      ["***", "***", "***", "Authorization: Bearer *** (sent to api.example.com)", TOKEN_SHA256],
    );
    assert.deepEqual(
      printed.filter((e) => e.isStderr).map((e) => e.line),
      ["error: token *** was rejected"],
    );

    const job = await unary(platform.client, JobExecutionService.method.getJob, { jobId: { value: id } });
    leaks.push(...leaksIn(`GetJob(${id})`, json(job)));
    const listed = await unary(platform.client, JobExecutionService.method.listJobs, {});
    leaks.push(...leaksIn("ListJobs", json(listed)));
    const audit = await unary(platform.client, AuditService.method.getAuditLogsByCorrelation, {
      correlationId: id,
    });
    assert.ok(audit.logs.length > 0);
    leaks.push(...leaksIn(`GetAuditLogsByCorrelation(${id})`, json(audit)));
    for (const path of [`/api/jobs/${id}`, `/api/jobs/${id}/logs`, `/api/audit-logs?correlation_id=${id}`]) {
      const res = await fetch(`${platform.httpUrl}${path}`);
      assert.equal(res.status, 200, path);
      leaks.push(...leaksIn(`GET ${path}`, await res.text()));
    }
    return lines;
  }

  test("on stdin (the default): the job reads the JSON, and its output shows only ***", async () => {
    const lines = await runPrinter(
      "secret-on-stdin",
      `T=$(sed -n 's/.*"TOKEN":"\\([^"]*\\)".*/\\1/p'); echo "via=$HODEI_SECRETS_VIA_STDIN"`,
      {},
    );
    assert.ok(lines.includes("via=1"), lines.join("\n"));
  });

  test("as files (HODEI_SECRETS_DELIVERY=files): a 0400 file, gone after the job", async () => {
    const lines = await runPrinter(
      "secret-as-files",
      'T=$(cat "$HODEI_SECRETS_DIR/TOKEN"); echo "dir=$HODEI_SECRETS_DIR"; stat -c %a "$HODEI_SECRETS_DIR/TOKEN"',
      { HODEI_SECRETS_DELIVERY: "files" },
    );
    const dir = lines.find((l) => l.startsWith("dir="))!.slice(4);
    assert.ok(lines.includes("400"), lines.join("\n"));
    assert.equal(existsSync(dir), false, "the secrets directory is removed after the job");
  });

  test("a bad secret name is refused at queue time, naming the field; the value appears nowhere", async () => {
    await assert.rejects(
      queueJob(platform.client, {
        jobId: { value: "bad-secret-name" },
        command: "echo never",
        secrets: { "NOT-A-NAME": TOKEN },
      }),
      (err: { code: number; details: string }) => {
        assert.equal(err.code, status.INVALID_ARGUMENT);
        assert.match(err.details, /job_definition\.secrets: invalid secret name "NOT-A-NAME"/);
        assert.ok(!err.details.includes(TOKEN));
        return true;
      },
    );
    await assert.rejects(
      unary(platform.client, JobExecutionService.method.getJob, { jobId: { value: "bad-secret-name" } }),
      (err: { code: number }) => err.code === status.NOT_FOUND,
    );
  });

  test("after a clean stop: the server's log and every row and file of the database hold no trace of it", async () => {
    await stopCleanly(platform);
    leaks.push(...leaksIn("the server's stderr", platform.stderr()));
    assert.ok(platform.stderr().length > 0, "the server logged something to scan");

    const db = await openPglite(dataDir);
    try {
      const tables = await db.query<{ table_name: string }>(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
      );
      const names = tables.rows.map((r) => r.table_name);
      for (const t of ["jobs", "job_executions", "job_log_chunks", "audit_logs"])
        assert.ok(names.includes(t), t);
      let rowCount = 0;
      for (const name of names) {
        const rows = await db.query<{ row: string }>(`SELECT row_to_json(t)::text AS row FROM "${name}" t`);
        rowCount += rows.rows.length;
        for (const r of rows.rows) leaks.push(...leaksIn(`a row of ${name}`, r.row));
      }
      // Log lines are stored as bytes (hex in row_to_json, maybe compressed on disk): scan them decoded.
      const { chunks } = await getLogChunks(db, "secret-on-stdin", 0, 100_000);
      const stored = chunks.flatMap((c) => c.lines().map((l) => l.line));
      const all = await db.query<{ job_id: string }>("SELECT DISTINCT job_id FROM job_log_chunks");
      for (const { job_id } of all.rows) {
        for (const c of (await getLogChunks(db, job_id, 0, 100_000)).chunks)
          for (const l of c.lines()) leaks.push(...leaksIn(`a log line of ${job_id}`, l.line));
      }
      // The scan sees the jobs: their stored log lines (redacted) are there.
      assert.ok(stored.some((line) => line.includes("Authorization: Bearer ***")));
      assert.ok(rowCount > 10, `${rowCount} rows scanned`);
    } finally {
      await db.close();
    }
    // Raw bytes too: heap pages, WAL, anything PGlite wrote, including rows since deleted.
    const walk = (dir: string): string[] =>
      readdirSync(dir).flatMap((n) => {
        const p = join(dir, n);
        return statSync(p).isDirectory() ? walk(p) : [p];
      });
    for (const file of walk(dataDir)) leaks.push(...leaksIn(file, readFileSync(file)));

    assert.deepEqual(leaks, []);
  });
});
