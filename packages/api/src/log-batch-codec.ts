// `WorkerMessage { log_batch: LogBatch }` decoded by hand: the message a worker sends most. Only the
// batch's ids are read here; its lines stay bytes until the control plane knows the job's sequence
// base, and then become a LogChunk: `entries` (LogEntry fields, as our worker sends them) are checked
// and taken as they are, `lines` (a LogLine each) are rewritten in one pass (log-chunk.ts).
// protobuf-es's fromBinary would make a message object and two BigInts per line. Any other
// WorkerMessage is left to protobuf-es (the caller's fallback).
import { checkLogEntries, transcodeLogLines, type LogChunk } from "./log-chunk.js";
import { WireReader } from "./wire-reader.js";

/** A worker's log batch. */
export interface WireLogBatch {
  readonly kind: "logBatch";
  jobId: string;
  executionId: string;
  /**
   * The lines, their sequences (the worker's own, per attempt, from 1) moved up by `base`; null when
   * the batch has none. Throws RangeError on malformed lines.
   */
  chunk(base: number): LogChunk | null;
}

const TAG_WORKER_LOG_BATCH = 0x1a; // WorkerMessage.log_batch = 3
const TAG_JOB_ID = 0x0a; // LogBatch.job_id = 1
const TAG_EXECUTION_ID = 0x12; // LogBatch.execution_id = 2
const TAG_LINES = 0x1a; // LogBatch.lines = 3
const TAG_ENTRIES = 0x22; // LogBatch.entries = 4

/** The log batch in `bytes` when it is a WorkerMessage holding one; null for any other message. */
export function decodeWorkerLogBatch(bytes: Buffer): WireLogBatch | null {
  if (bytes.length === 0 || bytes[0] !== TAG_WORKER_LOG_BATCH) return null;
  const outer = new WireReader(bytes, 1, bytes.length);
  const [start, end] = outer.span();
  if (end !== bytes.length) return null; // more fields follow: protobuf-es decides
  const r = new WireReader(bytes, start, end);
  let jobId = "";
  let executionId = "";
  let entries: [number, number] | undefined;
  while (r.o < end) {
    const tag = r.varint();
    if (tag === TAG_JOB_ID) {
      const [s, e] = r.span();
      jobId = bytes.toString("utf8", s, e);
    } else if (tag === TAG_EXECUTION_ID) {
      const [s, e] = r.span();
      executionId = bytes.toString("utf8", s, e);
    } else if (tag === TAG_ENTRIES) entries = r.span();
    else r.skip(tag & 7);
  }
  return {
    kind: "logBatch",
    jobId,
    executionId,
    // A worker sends entries (numbered by the base it was given) or lines (numbered from 1), not both.
    chunk: (base) =>
      entries
        ? checkLogEntries(bytes, entries[0], entries[1], base)
        : transcodeLogLines(bytes, start, end, TAG_LINES, base),
  };
}
