import { test } from "node:test";
import assert from "node:assert/strict";
import { fromBinary } from "@bufbuild/protobuf";
import {
  LogChunk,
  LogEntrySchema,
  WorkerMessageSchema,
  decodeWorkerLogBatch,
  type LogBatch,
  type LogLineView,
} from "@hodei/api";
import { LogBatcher, type LogBatcherOptions } from "../src/log-batcher.js";
import { secretRedactor } from "../src/secret-redaction.js";

/** The batcher writes wire format by hand: protobuf-es must read it back as the message it means. */
function decode(message: Buffer): LogBatch {
  const m = fromBinary(WorkerMessageSchema, message);
  assert.equal(m.payload.case, "logBatch");
  return m.payload.value as LogBatch;
}

function batcher(opts: Partial<LogBatcherOptions>, batches: LogBatch[]): LogBatcher {
  return new LogBatcher({
    jobId: "job-1",
    executionId: "exec-1",
    batchSize: 3,
    flushIntervalMs: 60_000,
    emit: (message, count) => {
      const b = decode(message.bytes);
      message.release();
      assert.equal(b.lines.length, count);
      batches.push(b);
    },
    ...opts,
  });
}

test("a batch is emitted when it reaches the batch size, encoded as WorkerMessage.log_batch", () => {
  const batches: LogBatch[] = [];
  const b = batcher({}, batches);
  const ts = 1_763_900_000_123; // beyond 32 bits: varints must not overflow
  for (let i = 1; i <= 7; i++) b.addText(`line ${i}`, i % 2 === 0, ts + i);
  assert.deepEqual(
    batches.map((x) => x.lines.length),
    [3, 3],
  );
  b.flush();
  assert.deepEqual(
    batches.map((x) => [x.jobId, x.executionId]),
    [
      ["job-1", "exec-1"],
      ["job-1", "exec-1"],
      ["job-1", "exec-1"],
    ],
  );
  assert.deepEqual(
    batches
      .flatMap((x) => x.lines)
      .map((l) => [l.line, l.isStderr, Number(l.sequence), Number(l.timestampMs)]),
    [1, 2, 3, 4, 5, 6, 7].map((i) => [`line ${i}`, i % 2 === 0, i, ts + i]),
  );
  assert.equal(b.lastSequence, 7);
});

test("lines given as byte ranges, empty lines, non-ASCII and a 1 MiB line survive the encoding", () => {
  const batches: LogBatch[] = [];
  const b = batcher({ batchSize: 1000 }, batches);
  const src = Buffer.from("xx año ✓ yy");
  b.addBytes(src, 3, src.length - 3, false, 1);
  b.addText("", true, 2);
  const big = "z".repeat(1024 * 1024);
  b.addText(big, false, 3);
  b.addText("after", false, 4);
  b.flush();
  assert.equal(batches.length, 3, "a 1 MiB line travels in a batch of its own");
  const lines = batches.flatMap((x) => x.lines);
  assert.deepEqual(
    lines.map((l) => [l.line.length > 100 ? `${l.line.length} z` : l.line, l.isStderr, Number(l.sequence)]),
    [
      ["año ✓", false, 1],
      ["", true, 2],
      [`${1024 * 1024} z`, false, 3],
      ["after", false, 4],
    ],
  );
});

/** A batcher with a 20 ms flush interval that records when each batch went and its line count. */
function timedBatcher(emitted: { at: number; n: number }[]): LogBatcher {
  return new LogBatcher({
    jobId: "j",
    executionId: "e",
    batchSize: 100,
    flushIntervalMs: 20,
    emit: (_m, n) => emitted.push({ at: Date.now(), n }),
  });
}

test("a partial batch is emitted the flush interval after its first line", async () => {
  const emitted: { at: number; n: number }[] = [];
  const b = timedBatcher(emitted);
  const start = Date.now();
  b.addText("a", false, start);
  b.addText("b", false, start);
  await new Promise<void>((resolve) => {
    const check = setInterval(() => {
      if (emitted.length > 0 || Date.now() - start > 2000) resolve(clearInterval(check));
    }, 1);
  });
  assert.equal(emitted.length, 1);
  assert.equal(emitted[0]!.n, 2);
  assert.ok(emitted[0]!.at - start >= 15, `flushed after ${emitted[0]!.at - start}ms`);
});

test("a held line waits its hold for company; the first ordinary line after it brings the batch back to the flush interval", async () => {
  const emitted: { at: number; n: number }[] = [];
  const b = timedBatcher(emitted);
  const waitFor = (n: number) =>
    new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (emitted.length >= n) resolve(clearInterval(check));
      }, 1);
    });
  // Held alone: it goes when its hold ends, not at the flush interval.
  let start = Date.now();
  b.addText("$ sleep 1", false, start, 300);
  await waitFor(1);
  assert.equal(emitted[0]!.n, 1);
  assert.ok(emitted[0]!.at - start >= 280, `a held line went after ${emitted[0]!.at - start} ms`);
  // Held, then an ordinary line: both go together, a flush interval after the ordinary one.
  start = Date.now();
  b.addText("$ echo hi", false, start, 5_000);
  b.addText("hi", false, start);
  await waitFor(2);
  assert.equal(emitted[1]!.n, 2);
  assert.ok(emitted[1]!.at - start < 2_000, `the batch went after ${emitted[1]!.at - start} ms`);
  // An explicit flush (the job's end) sends a held line at once.
  b.addText("$ true", false, Date.now(), 5_000);
  b.flush();
  assert.equal(emitted.length, 3);
});

test("secret values are redacted, longest first, in text and byte lines", () => {
  const redact = secretRedactor({ A: "hunter2", B: "hunter2-extended", C: "" })!;
  assert.equal(redact("pw=hunter2-extended and hunter2"), "pw=*** and ***");
  assert.equal(secretRedactor({}), undefined);
  const batches: LogBatch[] = [];
  const b = batcher({ batchSize: 1, redact }, batches);
  b.addText("token hunter2", false, 0);
  b.addBytes(Buffer.from("bytes hunter2!"), 0, 14, false, 0);
  b.addBytes(Buffer.from("clean"), 0, 5, false, 0);
  assert.deepEqual(
    batches.map((x) => x.lines[0]!.line),
    ["token ***", "bytes ***!", "clean"],
  );
});

/** A batcher in entries mode (a sequence base), keeping each batch's bytes and line count. */
function entriesBatcher(sequenceBase: number, batchSize: number) {
  const messages: Buffer[] = [];
  const counts: number[] = [];
  const b = new LogBatcher({
    jobId: "job-1",
    executionId: "exec-1",
    batchSize,
    flushIntervalMs: 60_000,
    sequenceBase,
    emit: (message, count) => {
      messages.push(Buffer.from(message.bytes));
      counts.push(count);
      message.release();
    },
  });
  return { b, messages, counts };
}

test("given a sequence base, lines go as LogBatch.entries: the LogEntry bytes the control plane stores and sends on", () => {
  const { b, messages, counts } = entriesBatcher(40, 3);
  const ts = 1_763_900_000_123;
  const expected: LogLineView[] = [];
  for (let i = 1; i <= 4; i++) {
    const line = i === 2 ? "" : `line ${i} ✓`;
    b.addText(line, i % 2 === 0, ts + i);
    expected.push({ line, isStderr: i % 2 === 0, timestampMs: ts + i, sequence: 40 + i });
  }
  b.addBytes(Buffer.from("xx año yy"), 3, 7, false, ts);
  expected.push({ line: "año", isStderr: false, timestampMs: ts, sequence: 45 });
  b.flush();
  assert.deepEqual(counts, [3, 2]);
  // protobuf-es reads the message; the entries are exactly what LogChunk.fromLines makes of the lines.
  const batches = messages.map(decode);
  assert.deepEqual(
    batches.map((x) => [x.jobId, x.executionId, x.lines.length]),
    [
      ["job-1", "exec-1", 0],
      ["job-1", "exec-1", 0],
    ],
  );
  const entries = Buffer.concat(batches.map((x) => x.entries));
  assert.deepEqual(entries, LogChunk.fromLines(expected).body);
  // And the control plane takes them as they are, numbered on from its base.
  const chunks = messages.map((m) => decodeWorkerLogBatch(m)!.chunk(40)!);
  assert.deepEqual(
    chunks.flatMap((c) => c.lines()),
    expected,
  );
  assert.deepEqual(
    chunks.map((c) => [c.firstSeq, c.lastSeq, c.count]),
    [
      [41, 43, 3],
      [44, 45, 2],
    ],
  );
  assert.equal(b.lastSequence, 5);
  // Sequences at or below the base are refused: they would belong to an earlier attempt.
  assert.throws(() => decodeWorkerLogBatch(messages[0]!)!.chunk(41), /does not follow/);
});

test("blocks of lines go among the entries as LogEntry text, numbered on with the lines around them", () => {
  const { b, messages, counts } = entriesBatcher(7, 5);
  const ts = 1_763_900_000_123;
  const expected: LogLineView[] = [];
  const line = (text: string, isStderr: boolean, at: number): void => {
    b.addText(text, isStderr, at);
    expected.push({ line: text, isStderr, timestampMs: at, sequence: 7 + expected.length + 1 });
  };
  const block = (lines: string[], isStderr: boolean, at: number): void => {
    const src = Buffer.from("junk" + lines.map((l) => l + "\n").join("") + "junk");
    b.addBlock(src, 4, src.length - 4, lines.length, isStderr, at);
    for (const l of lines)
      expected.push({ line: l, isStderr, timestampMs: at, sequence: 7 + expected.length + 1 });
  };
  line("$ seq 3", false, ts);
  block(["1", "", "3 ü"], false, ts + 1);
  block(["oops"], true, ts + 1);
  line("tail", false, ts + 2);
  block(["x", "y", "z", "w", "v", "u"], false, ts + 3);
  b.flush();
  // A batch goes once it holds 5 lines or more: a block is never split.
  assert.deepEqual(counts, [5, 7]);
  const chunks = messages.map((m) => decodeWorkerLogBatch(m)!.chunk(7)!);
  assert.deepEqual(
    chunks.flatMap((c) => c.lines()),
    expected,
  );
  assert.deepEqual(
    chunks.map((c) => [c.firstSeq, c.lastSeq, c.count, c.hasBlocks]),
    [
      [8, 12, 5, true],
      [13, 19, 7, true],
    ],
  );
  assert.equal(b.lastSequence, 12);
  // protobuf-es reads each block as one entry: its text, line count and first sequence.
  const blocks = messages
    .map(decode)
    .flatMap(
      (x) => fromBinary(LogEntrySchema, Buffer.concat([Buffer.from([0x0a, 0x01, 0x6a]), x.entries])).more,
    )
    .filter((e) => e.text !== "");
  assert.deepEqual(
    blocks.map((e) => [e.text, e.lineCount, Number(e.sequence), e.isStderr]),
    [
      ["1\n\n3 ü\n", 3, 9, false],
      ["oops\n", 1, 12, true],
      ["x\ny\nz\nw\nv\nu\n", 6, 14, false],
    ],
  );
  // Without a sequence base there are no entries, so no blocks either.
  const plain = new LogBatcher({
    jobId: "j",
    executionId: "e",
    batchSize: 5,
    flushIntervalMs: 1,
    emit: () => {},
  });
  assert.throws(() => plain.addBlock(Buffer.from("a\n"), 0, 2, 1, false, ts), /sequence base/);
});
