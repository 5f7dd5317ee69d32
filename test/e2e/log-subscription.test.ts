// SubscribeLogs with several lines per message (max_lines_per_message), as `subscribeLogLines`
// asks for it, and with text blocks (`subscribeLogText`): every line once, in order, live and on
// resume, in far fewer messages; the default stays one line per message for clients that never
// heard of either.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import {
  LogStreamService,
  connectClient,
  serverStream,
  subscribeLogLines,
  subscribeLogText,
  unary,
  type LogEntry,
  type LogLines,
  type LogText,
} from "@hodei/api";
import { queueJob, waitForJobEnd } from "./support/jobs.js";
import { startPlatform, stopCleanly, type Platform } from "./support/platform.js";
import { withDeadline } from "./support/wait.js";

const LINES = 20_000;

function collect<T>(stream: NodeJS.ReadableStream): Promise<T[]> {
  const out: T[] = [];
  return withDeadline(
    new Promise<T[]>((resolve, reject) => {
      stream.on("data", (m: T) => out.push(m));
      stream.on("error", reject);
      stream.on("end", () => resolve(out));
    }),
    30_000,
    "the log subscription to end",
  );
}

describe("SubscribeLogs, several lines per message", () => {
  let platform: Platform;
  let client: ReturnType<typeof connectClient>;
  let jobId: string;
  before(async () => {
    platform = await startPlatform();
    client = connectClient(platform.grpcAddress);
  });
  after(async () => {
    client?.close();
    await stopCleanly(platform);
  });

  test(`a live subscriber gets all ${LINES} lines of seq, in order, in far fewer messages`, async () => {
    jobId = await queueJob(client, { command: `seq ${LINES}` });
    const messages = await collect<LogLines>(subscribeLogLines(client, { jobId, includeHistory: true }));
    const lines = messages.flatMap((m) => m.lines);
    assert.equal(lines[0]!.line, `$ seq ${LINES}`);
    assert.deepEqual(
      lines.slice(1).map((l) => l.line),
      Array.from({ length: LINES }, (_, i) => String(i + 1)),
    );
    lines.forEach((l, i) => assert.equal(l.sequence, i + 1, `line ${i} has sequence ${l.sequence}`));
    assert.ok(messages.every((m) => m.jobId === jobId));
    assert.ok(lines.every((l) => l.timestampMs > Date.now() - 60_000 && !l.isStderr));
    assert.ok(messages.length <= LINES / 10, `${messages.length} messages for ${LINES + 1} lines`);
    assert.equal((await waitForJobEnd(client, jobId)).statusName, "SUCCEEDED");
  });

  test("resuming after a sequence gives exactly the lines after it, at most N per message", async () => {
    const messages = await collect<LogLines>(
      subscribeLogLines(client, {
        jobId,
        includeHistory: true,
        sinceSequence: 15_000n,
        maxLinesPerMessage: 500,
      }),
    );
    const lines = messages.flatMap((m) => m.lines);
    assert.equal(lines.length, LINES + 1 - 15_000);
    assert.equal(lines[0]!.sequence, 15_001);
    assert.equal(lines.at(-1)!.line, String(LINES));
    assert.ok(messages.every((m) => m.lines.length <= 500));
  });

  test("a client that does not ask gets one line per message, nothing in `more`", async () => {
    const id = await queueJob(client, { command: "printf 'a\\nb\\nc\\n'" });
    await waitForJobEnd(client, id);
    const entries = await collect<LogEntry>(
      serverStream(client, LogStreamService.method.subscribeLogs, { jobId: id, includeHistory: true }),
    );
    assert.deepEqual(
      entries.map((e) => e.line),
      ["$ printf 'a\\nb\\nc\\n'", "a", "b", "c"],
    );
    assert.ok(entries.every((e) => e.more.length === 0 && e.text === ""));
    // Asking for text blocks but one line per message: lines still, since blocks need `more`.
    const asked = await collect<LogEntry>(
      serverStream(client, LogStreamService.method.subscribeLogs, {
        jobId: id,
        includeHistory: true,
        textBlocks: true,
      }),
    );
    assert.deepEqual(
      asked.map((e) => [e.line, e.text]),
      entries.map((e) => [e.line, ""]),
    );
  });

  test("text blocks: the same lines as the worker read them, a block of many lines per entry", async () => {
    const messages = await collect<LogText>(subscribeLogText(client, { jobId, includeHistory: true }));
    const parts = messages.flatMap((m) => m.parts);
    const text = parts.map((p) => p.text).join("");
    const want = [`$ seq ${LINES}`, ...Array.from({ length: LINES }, (_, i) => String(i + 1))];
    assert.equal(text, want.map((l) => l + "\n").join(""));
    // Each part numbers its lines on from the last: no gap, no repeat.
    let next = 1;
    for (const p of parts) {
      assert.equal(p.firstSequence, next);
      next += p.lineCount;
    }
    assert.equal(next, LINES + 2);
    assert.ok(parts.length <= LINES / 100, `${parts.length} parts for ${LINES + 1} lines`);
    assert.ok(messages.every((m) => m.jobId === jobId));
  });

  test("text blocks resumed mid-block, and GetLogs pages that cut blocks, give each line once", async () => {
    const messages = await collect<LogText>(
      subscribeLogText(client, { jobId, includeHistory: true, sinceSequence: 12_345n }),
    );
    const parts = messages.flatMap((m) => m.parts);
    assert.equal(parts[0]!.firstSequence, 12_346);
    assert.equal(
      parts.reduce((n, p) => n + p.lineCount, 0),
      LINES + 1 - 12_345,
    );
    assert.ok(
      parts
        .map((p) => p.text)
        .join("")
        .startsWith("12345\n12346\n"),
    );
    const lines: string[] = [];
    let since = 0n;
    for (let pages = 0; ; pages++) {
      assert.ok(pages < 100);
      const page = await unary(client, LogStreamService.method.getLogs, {
        jobId,
        limit: 777,
        sinceSequence: since,
      });
      lines.push(...page.entries.map((e) => e.line));
      page.entries.forEach((e, i) => assert.equal(e.sequence, since + BigInt(i + 1)));
      assert.ok(page.entries.every((e) => e.text === "" && e.more.length === 0));
      since = page.nextSequence;
      if (!page.hasMore) break;
    }
    assert.deepEqual(
      lines.slice(1),
      Array.from({ length: LINES }, (_, i) => String(i + 1)),
    );
  });

  test("a negative max_lines_per_message is INVALID_ARGUMENT naming the field", async () => {
    await assert.rejects(
      collect(subscribeLogLines(client, { jobId, maxLinesPerMessage: -1 })),
      (err: { code: number; details: string }) =>
        err.code === status.INVALID_ARGUMENT && /max_lines_per_message/.test(err.details),
    );
  });

  test("a job that does not exist is NOT_FOUND, and the stream ends with that status", async () => {
    await assert.rejects(
      collect(subscribeLogLines(client, { jobId: "no-such-job" })),
      (err: { code: number; details: string }) =>
        err.code === status.NOT_FOUND && /no-such-job/.test(err.details),
    );
  });
});
