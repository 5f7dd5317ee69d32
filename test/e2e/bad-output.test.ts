// Hostile output: invalid UTF-8, binary, one 10 MB line, a million short lines, \r\n endings. Every
// job succeeds, nothing is lost (binary comes back byte for byte where it is valid UTF-8, the 10 MB
// line in pieces of at most 1 MiB that join up to the whole), and the server stays healthy.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { JobExecutionService, LogStreamService, unary, type LogEntry } from "@hodei/api";
import { logLines, queueJob, waitForJobEnd } from "./support/jobs.js";
import { startPlatform, stopCleanly, type Platform } from "./support/platform.js";

/** The worker cuts a longer line into pieces of at most this many bytes (line-splitter.ts). */
const MAX_LINE_BYTES = 1024 * 1024;
const MILLION = 1_000_000;

describe("hostile job output", () => {
  let platform: Platform;
  const scratch = mkdtempSync(join(tmpdir(), "hodei-bad-output-"));
  before(async () => {
    platform = await startPlatform();
  });
  after(async () => {
    await stopCleanly(platform);
    rmSync(scratch, { recursive: true, force: true });
  });

  /** Runs `command` to the end, which must be SUCCEEDED; returns the job id. */
  async function runToSuccess(command: string, timeoutMs = 30_000): Promise<string> {
    const id = await queueJob(platform.client, { command });
    const end = await waitForJobEnd(platform.client, id, timeoutMs);
    assert.equal(end.statusName, "SUCCEEDED", `${command}: ${end.message}`);
    return id;
  }

  /** Every page of a job's log through GetLogs, `limit` entries at a time, until has_more is false. */
  async function forEachPage(id: string, limit: number, onPage: (entries: LogEntry[]) => void) {
    let since = 0n;
    for (;;) {
      const page = await unary(platform.client, LogStreamService.method.getLogs, {
        jobId: id,
        limit,
        sinceSequence: since,
      });
      onPage(page.entries);
      if (!page.hasMore) return;
      assert.ok(page.entries.length > 0, "a page that says has_more holds entries");
      since = page.nextSequence;
    }
  }

  test("invalid UTF-8 becomes U+FFFD, the rest of the line stays", async () => {
    const id = await runToSuccess("printf '\\xff\\xfe ok\\n'");
    assert.deepEqual((await logLines(platform.client, id)).slice(1), ["\uFFFD\uFFFD ok"]);
  });

  test("4 KiB of /dev/urandom comes back line by line, as the bytes decode", async () => {
    const copy = join(scratch, "random.bin");
    const id = await runToSuccess(`head -c 4096 /dev/urandom | tee ${copy}`);
    // What a reader of the bytes sees: lines split at \n, a final \r dropped, invalid UTF-8 as U+FFFD.
    const lines = readFileSync(copy).toString("utf8").split("\n");
    if (lines.at(-1) === "") lines.pop(); // the text after a final \n is no line
    const expected = lines.map((l) => l.replace(/\r$/, ""));
    assert.deepEqual((await logLines(platform.client, id)).slice(1), expected);
  });

  test("a single 10 MB line comes back whole, in pieces of at most 1 MiB", async () => {
    const id = await runToSuccess("head -c 10000000 /dev/zero | tr '\\0' a; echo");
    const pieces: string[] = [];
    await forEachPage(id, 4, (entries) => pieces.push(...entries.map((e) => e.line)));
    const [header, ...line] = pieces;
    assert.equal(header, "$ head -c 10000000 /dev/zero | tr '\\0' a; echo");
    const tooLong = line.filter((p) => Buffer.byteLength(p) > MAX_LINE_BYTES).map((p) => p.length);
    assert.deepEqual(tooLong, [], "no piece is longer than 1 MiB");
    assert.equal(line.length, Math.ceil(10_000_000 / MAX_LINE_BYTES), "as few pieces as the cap allows");
    const joined = line.join("");
    assert.equal(joined.length, 10_000_000);
    assert.ok(/^a*$/.test(joined), "the pieces hold only the job's 'a's");
  });

  test("a million short lines: all of them, in order, through GetLogs pages", async () => {
    const queuedAt = Date.now();
    const id = await runToSuccess("seq 1000000", 60_000);
    const tookMs = Date.now() - queuedAt;
    let count = 0;
    let last = "";
    let expectedSequence = 1n;
    let wrong: string | undefined;
    await forEachPage(id, 10_000, (entries) => {
      for (const e of entries) {
        if (e.sequence !== expectedSequence && !wrong)
          wrong = `sequence ${e.sequence} at ${expectedSequence}`;
        if (count > 0 && e.line !== String(count) && !wrong) wrong = `line ${count} is ${e.line}`;
        expectedSequence++;
        count++;
        last = e.line;
      }
    });
    assert.equal(wrong, undefined);
    assert.equal(count, MILLION + 1, "the header and a million lines");
    assert.equal(last, "1000000");
    const { job } = await unary(platform.client, JobExecutionService.method.getJob, { jobId: { value: id } });
    const ranMs = timestampMs(job!.finishedAt!) - timestampMs(job!.startedAt!);
    assert.ok(tookMs < 30_000, `queued to finished in ${tookMs} ms (ran ${ranMs} ms)`);
  });

  test("\\r\\n line endings are stripped; a bare \\r inside a line is kept", async () => {
    const id = await runToSuccess("printf 'one\\r\\ntwo\\r\\nprogress 1\\rprogress 2\\r\\nlast\\r'");
    assert.deepEqual((await logLines(platform.client, id)).slice(1), [
      "one",
      "two",
      "progress 1\rprogress 2",
      "last",
    ]);
  });

  test("afterwards the server is healthy and runs the next job", async () => {
    assert.ok(platform.alive(), "the server process is running");
    const res = await fetch(`${platform.httpUrl}/healthz`);
    assert.equal(res.status, 200, await res.text());
    const id = await runToSuccess("echo ok");
    assert.deepEqual(await logLines(platform.client, id), ["$ echo ok", "ok"]);
    const errors = platform
      .stderr()
      .split("\n")
      .filter((l) => /"level":(50|60)/.test(l));
    assert.deepEqual(errors, [], "the server logged no error");
  });
});
