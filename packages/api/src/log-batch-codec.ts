// `WorkerMessage { log_batch: LogBatch }` decoded by hand: the message a worker sends most, with a
// line per LogLine. protobuf-es's fromBinary makes a message object and two BigInts per line; this
// makes one plain object. Any other WorkerMessage is left to protobuf-es (the caller's fallback).
import type { LogLineView } from "./log-entry-codec.js";
import { WireReader } from "./wire-reader.js";

/** A worker's log batch; sequences are the worker's own (per attempt, from 1). */
export interface WireLogBatch {
  readonly kind: "logBatch";
  jobId: string;
  executionId: string;
  lines: LogLineView[];
}

const TAG_WORKER_LOG_BATCH = 0x1a; // WorkerMessage.log_batch = 3
const TAG_JOB_ID = 0x0a; // LogBatch.job_id = 1
const TAG_EXECUTION_ID = 0x12; // LogBatch.execution_id = 2
const TAG_LINES = 0x1a; // LogBatch.lines = 3
const TAG_LINE = 0x0a; // LogLine.line = 1
const TAG_IS_STDERR = 0x10; // LogLine.is_stderr = 2
const TAG_TIMESTAMP_MS = 0x18; // LogLine.timestamp_ms = 3
const TAG_SEQUENCE = 0x20; // LogLine.sequence = 4

function readLine(buf: Buffer, start: number, end: number): LogLineView {
  const r = new WireReader(buf, start, end);
  const l: LogLineView = { line: "", isStderr: false, timestampMs: 0, sequence: 0 };
  while (r.o < end) {
    const tag = r.varint();
    if (tag === TAG_LINE) {
      const [s, e] = r.span();
      l.line = buf.toString("utf8", s, e);
    } else if (tag === TAG_IS_STDERR) l.isStderr = r.varint() !== 0;
    else if (tag === TAG_TIMESTAMP_MS) l.timestampMs = r.varint();
    else if (tag === TAG_SEQUENCE) l.sequence = r.varint();
    else r.skip(tag & 7);
  }
  return l;
}

/** The log batch in `bytes` when it is a WorkerMessage holding one; null for any other message. */
export function decodeWorkerLogBatch(bytes: Buffer): WireLogBatch | null {
  if (bytes.length === 0 || bytes[0] !== TAG_WORKER_LOG_BATCH) return null;
  const outer = new WireReader(bytes, 1, bytes.length);
  const [start, end] = outer.span();
  if (end !== bytes.length) return null; // more fields follow: protobuf-es decides
  const r = new WireReader(bytes, start, end);
  const batch: WireLogBatch = { kind: "logBatch", jobId: "", executionId: "", lines: [] };
  while (r.o < end) {
    const tag = r.varint();
    if (tag === TAG_JOB_ID) {
      const [s, e] = r.span();
      batch.jobId = bytes.toString("utf8", s, e);
    } else if (tag === TAG_EXECUTION_ID) {
      const [s, e] = r.span();
      batch.executionId = bytes.toString("utf8", s, e);
    } else if (tag === TAG_LINES) {
      const [s, e] = r.span();
      batch.lines.push(readLine(bytes, s, e));
    } else r.skip(tag & 7);
  }
  return batch;
}
