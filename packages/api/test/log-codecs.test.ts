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
  decodeWorkerLogBatch,
  encodeLogEntry,
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

test("decodeWorkerLogBatch reads a log batch as protobuf-es wrote it, and leaves other messages alone", () => {
  const msg = create(WorkerMessageSchema, {
    payload: {
      case: "logBatch",
      value: {
        jobId: "job-4",
        executionId: "exec-1",
        lines: samples.map((l) => ({
          line: l.line,
          isStderr: l.isStderr,
          timestampMs: BigInt(l.timestampMs),
          sequence: BigInt(l.sequence),
        })),
      },
    },
  });
  const batch = decodeWorkerLogBatch(Buffer.from(toBinary(WorkerMessageSchema, msg)));
  assert.deepEqual(batch, { kind: "logBatch", jobId: "job-4", executionId: "exec-1", lines: samples });
  const heartbeat = create(WorkerMessageSchema, { payload: { case: "heartbeat", value: {} } });
  assert.equal(decodeWorkerLogBatch(Buffer.from(toBinary(WorkerMessageSchema, heartbeat))), null);
  const result = create(WorkerMessageSchema, {
    payload: { case: "result", value: { jobId: "j", exitCode: 3 } },
  });
  assert.equal(decodeWorkerLogBatch(Buffer.from(toBinary(WorkerMessageSchema, result))), null);
});
