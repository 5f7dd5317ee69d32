// The hand-written codecs against protobuf-es: the same bytes out, the same values back, for
// lines of every shape (empty, multi-byte, huge), both streams, big sequence numbers and times.
import { test } from "node:test";
import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import {
  LogEntrySchema,
  WorkerMessageSchema,
  decodeLogEntry,
  decodeLogText,
  decodeWorkerLogBatch,
  encodeLogEntry,
  encodeWorkerBatch,
  splitWorkerBatch,
  LogChunk,
  checkLogEntries,
  type LogLineView,
} from "../src/index.js";

const samples: LogLineView[] = [
  { line: "Step 1", isStderr: false, timestampMs: 1_764_859_200_123, sequence: 1 },
  { line: "", isStderr: true, timestampMs: 1_764_859_200_000, sequence: 2 },
  { line: "héllo wörld ✓ 日本語 🎉", isStderr: false, timestampMs: 0, sequence: 0 },
  { line: "x".repeat(300), isStderr: true, timestampMs: 999, sequence: 2 ** 40 },
  { line: "\u0000nul and \ufffd replacement", isStderr: false, timestampMs: 2 ** 45, sequence: 127 },
  { line: "y".repeat(70_000), isStderr: false, timestampMs: 1, sequence: 128 },
];

const viaProtobufEs = (jobId: string, lines: LogLineView[]) =>
  create(LogEntrySchema, {
    jobId,
    line: lines[0]!.line,
    isStderr: lines[0]!.isStderr,
    timestamp: timestampFromMs(lines[0]!.timestampMs),
    sequence: BigInt(lines[0]!.sequence),
    more: lines.slice(1).map((l) => ({
      line: l.line,
      isStderr: l.isStderr,
      timestamp: timestampFromMs(l.timestampMs),
      sequence: BigInt(l.sequence),
    })),
  });

test("encodeLogEntry writes the bytes protobuf-es writes, one line or many", () => {
  for (const l of samples) {
    assert.deepEqual(
      new Uint8Array(encodeLogEntry("job-1", [l])),
      toBinary(LogEntrySchema, viaProtobufEs("job-1", [l])),
      JSON.stringify(l).slice(0, 80),
    );
  }
  assert.deepEqual(
    new Uint8Array(encodeLogEntry("a-much-longer-job-id-ü", samples)),
    toBinary(LogEntrySchema, viaProtobufEs("a-much-longer-job-id-ü", samples)),
  );
});

test("decodeLogEntry reads back what protobuf-es wrote, own line first, then `more` in order", () => {
  const bytes = toBinary(LogEntrySchema, viaProtobufEs("job-2", samples));
  const { jobId, lines } = decodeLogEntry(bytes);
  assert.equal(jobId, "job-2");
  assert.deepEqual(lines, samples);
  // And protobuf-es reads what we wrote.
  const back = fromBinary(LogEntrySchema, encodeLogEntry("job-2", samples));
  assert.equal(back.more.length, samples.length - 1);
  assert.equal(back.more[2]!.sequence, BigInt(2 ** 40));
  assert.equal(timestampMs(back.more[3]!.timestamp!), 2 ** 45);
});

test("decodeLogEntry skips fields it does not know, and a truncated message is an error", () => {
  const known = encodeLogEntry("job-3", [samples[0]!]);
  // Field 15 (varint 300) and field 14 (length-delimited "zz") appended: a newer server's fields.
  const extended = Buffer.concat([known, Buffer.from([0x78, 0xac, 0x02, 0x72, 0x02, 0x7a, 0x7a])]);
  assert.deepEqual(decodeLogEntry(extended).lines, [samples[0]]);
  assert.throws(() => decodeLogEntry(known.subarray(0, known.length - 3)), RangeError);
});

test("encodeLogEntry refuses what LogEntry cannot carry as we encode it", () => {
  assert.throws(() => encodeLogEntry("j", []), /at least one line/);
  assert.throws(() => encodeLogEntry("j", [{ ...samples[0]!, sequence: -1 }]), /sequence/);
  assert.throws(() => encodeLogEntry("j", [{ ...samples[0]!, timestampMs: 1.5 }]), /timestampMs/);
});

/** The samples in increasing sequence order, as a worker numbers them (from 1). */
const numbered: LogLineView[] = samples.map((l, i) => ({ ...l, sequence: i + 1 }));

function workerBatch(jobId: string, lines: LogLineView[]): Buffer {
  const msg = create(WorkerMessageSchema, {
    payload: {
      case: "logBatch",
      value: {
        jobId,
        executionId: "exec-1",
        lines: lines.map((l) => ({
          line: l.line,
          isStderr: l.isStderr,
          timestampMs: BigInt(l.timestampMs),
          sequence: BigInt(l.sequence),
        })),
      },
    },
  });
  return Buffer.from(toBinary(WorkerMessageSchema, msg));
}

test("decodeWorkerLogBatch reads a log batch as protobuf-es wrote it, and leaves other messages alone", () => {
  const batch = decodeWorkerLogBatch(workerBatch("job-4", numbered))!;
  assert.equal(batch.kind, "logBatch");
  assert.equal(batch.jobId, "job-4");
  assert.equal(batch.executionId, "exec-1");
  assert.deepEqual(batch.chunk(0)!.lines(), numbered);
  assert.equal(decodeWorkerLogBatch(workerBatch("job-4", []))!.chunk(0), null);
  const heartbeat = create(WorkerMessageSchema, { payload: { case: "heartbeat", value: {} } });
  assert.equal(decodeWorkerLogBatch(Buffer.from(toBinary(WorkerMessageSchema, heartbeat))), null);
  const result = create(WorkerMessageSchema, {
    payload: { case: "result", value: { jobId: "j", exitCode: 3 } },
  });
  assert.equal(decodeWorkerLogBatch(Buffer.from(toBinary(WorkerMessageSchema, result))), null);
});

test("a worker's batch becomes a chunk whose messages are protobuf-es's bytes, sequences moved up by the base", () => {
  const base = 1000;
  const rebased = numbered.map((l) => ({ ...l, sequence: l.sequence + base }));
  const chunk = decodeWorkerLogBatch(workerBatch("job-5", numbered))!.chunk(base)!;
  assert.deepEqual(
    [chunk.firstSeq, chunk.lastSeq, chunk.count],
    [1001, 1000 + numbered.length, numbered.length],
  );
  assert.equal(
    chunk.textBytes,
    numbered.reduce((n, l) => n + Buffer.byteLength(l.line), 0),
  );
  assert.deepEqual(chunk.body, LogChunk.fromLines(rebased).body);
  const [whole, ...none] = chunk.messages("job-5", 1000, 1 << 20);
  assert.equal(none.length, 0);
  assert.deepEqual(new Uint8Array(whole!), toBinary(LogEntrySchema, viaProtobufEs("job-5", rebased)));
  // One line per message: what a subscriber that reads no `more` gets.
  assert.deepEqual(
    chunk.messages("job-5", 1, 1 << 20).map((m) => new Uint8Array(m)),
    rebased.map((l) => toBinary(LogEntrySchema, viaProtobufEs("job-5", [l]))),
  );
  assert.deepEqual(chunk.lines(), rebased);
});

test("a chunk's messages are cut by line count and by text bytes; a longer line goes alone", () => {
  const chunk = LogChunk.fromLines(numbered);
  const cut = (perMessage: number, bytes: number) =>
    chunk.messages("j", perMessage, bytes).map((m) => decodeLogEntry(m).lines.map((l) => l.sequence));
  assert.deepEqual(cut(2, 1 << 20), [
    [1, 2],
    [3, 4],
    [5, 6],
  ]);
  // Lines 4 (300 bytes) and 6 (70 000 bytes) are each over 200 bytes of text.
  assert.deepEqual(cut(100, 200), [[1, 2, 3], [4], [5], [6]]);
  for (const m of chunk.messages("j", 100, 200)) assert.equal(decodeLogEntry(m).jobId, "j");
});

test("a chunk's splices encode as its messages do, in scratch space the next one reuses", () => {
  const chunk = LogChunk.fromLines(numbered);
  const wanted = chunk.messages("job-é", 2, 1 << 20);
  const splices = chunk.splices("job-é", 2, 1 << 20);
  assert.equal(splices.length, wanted.length);
  const first = splices[0]!.encodeTransient();
  assert.deepEqual(first, wanted[0]);
  assert.equal(splices[0]!.byteLength, wanted[0]!.length);
  const second = splices[1]!.encodeTransient();
  assert.deepEqual(second, wanted[1]);
  assert.equal(first.buffer, second.buffer, "one scratch buffer, written over");
  // A message longer than scratch grows it; one past its cap is a buffer of its own.
  const long = LogChunk.fromLines([
    { sequence: 1, timestampMs: 1, isStderr: false, line: "x".repeat(5 << 20) },
  ]);
  const [huge] = long.splices("j", 10, 8 << 20);
  assert.deepEqual(huge!.encodeTransient(), long.messages("j", 10, 8 << 20)[0]);
  assert.notEqual(huge!.encodeTransient().buffer, second.buffer);
});

test("a chunk selects lines by sequence and count, sharing its bytes", () => {
  const chunk = LogChunk.fromLines(numbered.map((l) => ({ ...l, sequence: l.sequence * 10 })));
  assert.equal(chunk.select(0), chunk);
  assert.equal(chunk.select(60), null);
  const mid = chunk.select(15, 45)!;
  assert.deepEqual(
    mid.lines().map((l) => l.sequence),
    [20, 30, 40],
  );
  assert.deepEqual([mid.firstSeq, mid.lastSeq, mid.count], [20, 40, 3]);
  assert.equal(
    mid.textBytes,
    [1, 2, 3].reduce((n, i) => n + Buffer.byteLength(numbered[i]!.line), 0),
  );
  assert.equal(mid.body.buffer, chunk.body.buffer);
  assert.deepEqual(
    chunk
      .select(0, Number.MAX_SAFE_INTEGER, 2)!
      .lines()
      .map((l) => l.sequence),
    [10, 20],
  );
  // From bytes alone (as read from storage), without the lines it was made from.
  const stored = new LogChunk(
    chunk.firstSeq,
    chunk.lastSeq,
    chunk.count,
    chunk.textBytes,
    Buffer.from(chunk.body),
  );
  assert.deepEqual(stored.select(25)!.lines(), chunk.lines().slice(2));
  assert.deepEqual(stored.skip(4)!.lines(), chunk.lines().slice(4));
  assert.equal(stored.skip(6), null);
});

test("a malformed or out-of-order worker batch is a RangeError, not a chunk", () => {
  const good = workerBatch("j", numbered);
  const backwards = workerBatch("j", [numbered[1]!, numbered[0]!]);
  assert.throws(() => decodeWorkerLogBatch(backwards)!.chunk(0), /must increase/);
  // Cut inside the last line: the outer length still claims the whole batch.
  const truncated = Buffer.from(good);
  truncated[truncated.length - 1] = 0xff;
  assert.throws(() => decodeWorkerLogBatch(truncated)!.chunk(0), RangeError);
  assert.throws(() => decodeWorkerLogBatch(good)!.chunk(-1), /sequence base/);
});

test("chunks that follow one another concatenate into one; out of order is refused", () => {
  const a = LogChunk.fromLines(numbered.slice(0, 2));
  const b = LogChunk.fromLines(numbered.slice(2));
  const ab = LogChunk.concat([a, b]);
  assert.deepEqual([ab.firstSeq, ab.lastSeq, ab.count, ab.textBytes], [1, 6, 6, a.textBytes + b.textBytes]);
  assert.deepEqual(ab.body, LogChunk.fromLines(numbered).body);
  assert.equal(LogChunk.concat([a]), a);
  assert.throws(() => LogChunk.concat([b, a]), /out of order/);
});

test("a batch line that is not UTF-8 arrives with U+FFFD, so that every protobuf client can decode it", () => {
  // protobuf-es refuses to write invalid UTF-8 into a string: patch the bytes of a valid line instead.
  const lines = [
    { line: "ok", isStderr: false, timestampMs: 5, sequence: 1 },
    { line: "bad XX here", isStderr: true, timestampMs: 5, sequence: 2 },
    { line: "long " + "é".repeat(40) + " XX", isStderr: false, timestampMs: 6, sequence: 3 },
  ];
  const bytes = workerBatch("j", lines);
  for (let i = bytes.indexOf("XX"); i >= 0; i = bytes.indexOf("XX", i + 2)) bytes.fill(0xff, i, i + 2);
  const chunk = decodeWorkerLogBatch(bytes)!.chunk(0)!;
  assert.deepEqual(
    chunk.lines().map((l) => l.line),
    ["ok", "bad \ufffd\ufffd here", "long " + "é".repeat(40) + " \ufffd\ufffd"],
  );
  const decoded = fromBinary(LogEntrySchema, chunk.messages("j", 10, 1 << 20)[0]!);
  assert.equal(decoded.more[0]!.line, "bad \ufffd\ufffd here");
  assert.equal(decoded.more[0]!.isStderr, true);
  assert.equal(
    chunk.textBytes,
    chunk.lines().reduce((n, l) => n + Buffer.byteLength(l.line), 0),
  );
});

test("entries a worker sends as LogEntry fields are taken as they are, once checked", () => {
  const body = LogChunk.fromLines(numbered.map((l) => ({ ...l, sequence: l.sequence + 10 }))).body;
  const chunk = checkLogEntries(body, 0, body.length, 10)!;
  assert.equal(chunk.body.buffer, body.buffer, "no copy");
  assert.deepEqual([chunk.firstSeq, chunk.lastSeq, chunk.count], [11, 16, 6]);
  assert.equal(chunk.textBytes, LogChunk.fromLines(numbered).textBytes);
  assert.equal(checkLogEntries(body, 0, 0, 10), null);
  // Only the fields a LogEntry line has; a job id (field 1) inside an entry is refused.
  const withJobId = Buffer.concat([Buffer.from([0x32, 0x03, 0x0a, 0x01, 0x78]), body]);
  assert.throws(() => checkLogEntries(withJobId, 0, withJobId.length, 0), /unexpected field/);
  assert.throws(() => checkLogEntries(body, 0, body.length - 1, 10), RangeError);
  // Text that is not UTF-8 comes out with U+FFFD.
  const bad = Buffer.from(
    LogChunk.fromLines([{ line: "a XX b", isStderr: false, timestampMs: 1, sequence: 1 }]).body,
  );
  bad.fill(0xfe, bad.indexOf("XX"), bad.indexOf("XX") + 2);
  assert.deepEqual(
    checkLogEntries(bad, 0, bad.length, 0)!
      .lines()
      .map((l) => l.line),
    ["a \ufffd\ufffd b"],
  );
});

// Blocks: a worker's lines of one stream and time as one LogEntry text (field 7) and line_count (8).
interface BlockSpec {
  lines: string[];
  isStderr: boolean;
  timestampMs: number;
  sequence: number;
}

/** Block or line entries as `more` fields, encoded by protobuf-es (not by the code under test). */
function entriesBody(specs: (BlockSpec | LogLineView)[]): Buffer {
  const more = specs.map((s) =>
    "lines" in s
      ? {
          text: s.lines.map((l) => l + "\n").join(""),
          lineCount: s.lines.length,
          isStderr: s.isStderr,
          timestamp: timestampFromMs(s.timestampMs),
          sequence: BigInt(s.sequence),
        }
      : {
          line: s.line,
          isStderr: s.isStderr,
          timestamp: timestampFromMs(s.timestampMs),
          sequence: BigInt(s.sequence),
        },
  );
  // A LogEntry of only `more` fields is exactly those fields, one after the other.
  return Buffer.from(toBinary(LogEntrySchema, create(LogEntrySchema, { more })));
}

/** The lines a list of blocks and lines stands for, one by one. */
function linesOfSpecs(specs: (BlockSpec | LogLineView)[]): LogLineView[] {
  return specs.flatMap((s) =>
    "lines" in s
      ? s.lines.map((line, i) => ({
          line,
          isStderr: s.isStderr,
          timestampMs: s.timestampMs,
          sequence: s.sequence + i,
        }))
      : [s],
  );
}

const mixed: (BlockSpec | LogLineView)[] = [
  { line: "$ seq 1 9", isStderr: false, timestampMs: 1_764_859_200_001, sequence: 11 },
  { lines: ["1", "2", "", "4 ü"], isStderr: false, timestampMs: 1_764_859_200_002, sequence: 12 },
  { lines: ["warn"], isStderr: true, timestampMs: 1_764_859_200_002, sequence: 16 },
  { line: "partial joined", isStderr: false, timestampMs: 1_764_859_200_003, sequence: 17 },
  { lines: ["6", "7", "日本語 8", "9"], isStderr: false, timestampMs: 1_764_859_201_000, sequence: 18 },
];

test("entries with blocks are checked and taken as they are; read as lines they are the lines one by one", () => {
  const body = entriesBody(mixed);
  const chunk = checkLogEntries(body, 0, body.length, 10)!;
  const expected = linesOfSpecs(mixed);
  assert.equal(chunk.body.buffer, body.buffer, "no copy");
  assert.deepEqual([chunk.firstSeq, chunk.lastSeq, chunk.count], [11, 21, 11]);
  assert.equal(chunk.textBytes, LogChunk.fromLines(expected).textBytes);
  assert.equal(chunk.hasBlocks, true);
  assert.deepEqual(chunk.lines(), expected);
  // Written out a line per entry, the bytes are those of the same lines given one by one.
  assert.deepEqual(chunk.lineEntries().body, LogChunk.fromLines(expected).body);
  assert.equal(LogChunk.fromLines(expected).hasBlocks, false);
});

test("a malformed block is a RangeError: count, last newline, line and text together, overlapping sequences", () => {
  const block = (fields: Record<string, unknown>): Buffer =>
    Buffer.from(toBinary(LogEntrySchema, create(LogEntrySchema, { more: [fields] })));
  const ok = { text: "a\nb\n", lineCount: 2, sequence: 1n, timestamp: timestampFromMs(5) };
  assert.equal(checkLogEntries(block(ok), 0, block(ok).length, 0)!.count, 2);
  for (const [bad, why] of [
    [{ ...ok, lineCount: 3 }, /a block of 3 lines holds 2/],
    [{ ...ok, lineCount: 0 }, /a block without its line_count/],
    [{ ...ok, text: "a\nb", lineCount: 1 }, /whole lines/],
    [{ ...ok, line: "c" }, /whole lines/],
    [{ sequence: 1n, lineCount: 1 }, /whole lines/],
  ] as const) {
    const b = block(bad);
    assert.throws(
      () => checkLogEntries(b, 0, b.length, 0),
      why,
      JSON.stringify(bad, (_, v) => (typeof v === "bigint" ? `${v}` : v)),
    );
  }
  // A block of lines 5-7, then a line numbered 7: sequences must go on increasing line by line.
  const overlap = entriesBody([
    { lines: ["a", "b", "c"], isStderr: false, timestampMs: 1, sequence: 5 },
    { line: "d", isStderr: false, timestampMs: 1, sequence: 7 },
  ]);
  assert.throws(() => checkLogEntries(overlap, 0, overlap.length, 0), /sequence 7 does not follow 7/);
  // A block that is not UTF-8 comes out as lines with U+FFFD.
  const bad = block({ ...ok, text: "a XX\nb\n" });
  bad.fill(0xfe, bad.indexOf("XX"), bad.indexOf("XX") + 2);
  assert.deepEqual(
    checkLogEntries(bad, 0, bad.length, 0)!
      .lines()
      .map((l) => l.line),
    ["a \ufffd\ufffd", "b"],
  );
});

test("selecting lines from a chunk with blocks cuts blocks where needed, and agrees with the lines one by one", () => {
  const body = entriesBody(mixed);
  const chunk = checkLogEntries(body, 0, body.length, 10)!;
  const expected = linesOfSpecs(mixed);
  for (let after = 9; after <= 22; after++) {
    for (let through = after; through <= 22; through++) {
      for (const limit of [1, 2, 3, 5, 100]) {
        const want = expected.filter((l) => l.sequence > after && l.sequence <= through).slice(0, limit);
        const got = chunk.select(after, through, limit);
        const where = `after ${after}, through ${through}, limit ${limit}`;
        if (want.length === 0) {
          assert.equal(got, null, where);
          continue;
        }
        assert.ok(got, where);
        assert.deepEqual(
          [got.firstSeq, got.lastSeq, got.count, got.textBytes],
          [want[0]!.sequence, want.at(-1)!.sequence, want.length, LogChunk.fromLines(want).textBytes],
          where,
        );
        assert.deepEqual(got.lines(), want, where);
        // The part's own bytes read back the same (a cut block is rewritten, not just referred to).
        assert.deepEqual(
          new LogChunk(got.firstSeq, got.lastSeq, got.count, got.textBytes, got.body).lines(),
          want,
          where,
        );
        assert.deepEqual(got.lineEntries().body, LogChunk.fromLines(want).body, where);
      }
    }
  }
  for (let k = 0; k <= 11; k++)
    assert.deepEqual(chunk.skip(k)?.lines() ?? [], expected.slice(k), `skip ${k}`);
});

test("a chunk's messages: blocks as they are for a text-block subscriber, a line per entry for any other", () => {
  const body = entriesBody(mixed);
  const chunk = checkLogEntries(body, 0, body.length, 10)!;
  const expected = linesOfSpecs(mixed);
  // Any other subscriber: protobuf-es reads exactly the lines, none of them a block.
  for (const perMessage of [1, 3, 100]) {
    const messages = chunk.messages("job-b", perMessage, 1 << 20).map((m) => fromBinary(LogEntrySchema, m));
    const lines = messages.flatMap((m) => [m, ...m.more]);
    assert.ok(
      lines.every((l) => l.text === "" && l.lineCount === 0),
      "no block",
    );
    assert.deepEqual(
      lines.map((l) => [l.line, l.isStderr, timestampMs(l.timestamp!), Number(l.sequence)]),
      expected.map((l) => [l.line, l.isStderr, l.timestampMs, l.sequence]),
    );
    assert.ok(messages.every((m) => 1 + m.more.length <= perMessage) && messages[0]!.jobId === "job-b");
  }
  // A text-block subscriber: five entries, two per message at most, read as text or as lines.
  const messages = chunk.messages("job-b", 2, 1 << 20, true);
  assert.equal(messages.length, 3);
  const parts = messages.flatMap((m) => decodeLogText(m).parts);
  assert.deepEqual(
    parts.map((p) => [p.text, p.lineCount, p.firstSequence, p.isStderr, p.timestampMs]),
    mixed.map((s) =>
      "lines" in s
        ? [s.lines.map((l) => l + "\n").join(""), s.lines.length, s.sequence, s.isStderr, s.timestampMs]
        : [s.line + "\n", 1, s.sequence, s.isStderr, s.timestampMs],
    ),
  );
  assert.deepEqual(
    messages.flatMap((m) => decodeLogEntry(m).lines),
    expected,
  );
  assert.equal(decodeLogText(messages[0]!).jobId, "job-b");
  const viaEs = fromBinary(LogEntrySchema, messages[0]!);
  assert.deepEqual([viaEs.text, viaEs.lineCount], ["", 0]);
  assert.deepEqual([viaEs.more[0]!.text, viaEs.more[0]!.lineCount], ["1\n2\n\n4 ü\n", 4]);
});

test("chunks with blocks concatenate, and a stored chunk finds its blocks from its bytes", () => {
  const a = entriesBody(mixed.slice(0, 2));
  const b = entriesBody(mixed.slice(2));
  const both = LogChunk.concat([checkLogEntries(a, 0, a.length, 10)!, checkLogEntries(b, 0, b.length, 15)!]);
  assert.deepEqual(both.lines(), linesOfSpecs(mixed));
  assert.equal(both.hasBlocks, true);
  const stored = new LogChunk(both.firstSeq, both.lastSeq, both.count, both.textBytes, both.body);
  assert.equal(stored.hasBlocks, true);
  assert.deepEqual(stored.select(13, 19)!.lines(), linesOfSpecs(mixed).slice(3, 9));
  // A body whose line count does not add up is refused when read.
  const wrong = new LogChunk(both.firstSeq, both.lastSeq, both.count + 1, both.textBytes, both.body);
  assert.throws(() => wrong.select(13, 19), /11 lines, not 12/);
});

test("a worker batch splits back into its encoded messages; a malformed one is a RangeError", () => {
  const ack = create(WorkerMessageSchema, {
    payload: { case: "ack", value: { jobId: "j", executionId: "e", accepted: true } },
  });
  const parts = [toBinary(WorkerMessageSchema, ack), new Uint8Array(300).fill(0x12), new Uint8Array(0)];
  const frame = encodeWorkerBatch(parts);
  const back = splitWorkerBatch(frame)!;
  assert.deepEqual(
    back.map((b) => Buffer.from(b)),
    parts.map((p) => Buffer.from(p)),
  );
  const viaProtobufEs = fromBinary(WorkerMessageSchema, encodeWorkerBatch([parts[0]!]));
  assert.equal(viaProtobufEs.payload.case, "batch");
  assert.deepEqual(viaProtobufEs.payload.value.messages, [ack]);
  assert.equal(splitWorkerBatch(Buffer.from(toBinary(WorkerMessageSchema, ack))), null, "not a batch");
  assert.throws(() => splitWorkerBatch(frame.subarray(0, frame.length - 10)), RangeError);
});
