// SubscribeLogs with several lines per message (max_lines_per_message), as `subscribeLogLines`
// asks for it: every line once, in order, live and on resume, in far fewer messages; the default
// stays one line per message for clients that never heard of it.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import {
  LogStreamService,
  connectClient,
  serverStream,
  subscribeLogLines,
  type LogEntry,
  type LogLines,
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
    assert.ok(entries.every((e) => e.more.length === 0));
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
