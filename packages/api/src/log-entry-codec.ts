// `hodei.LogEntry` in protobuf wire format, by hand, for the one message that is sent a million
// times when a job prints a million lines. protobuf-es's reflective toBinary/fromBinary spend
// about a microsecond per line on it; this spends a tenth of that. The bytes are the same as
// protobuf-es's (the codec tests check both directions against it), so any gRPC client decodes
// them, and unknown fields are skipped on decode as protobuf requires.

/** One log line as a subscriber sees it. */
export interface LogLineView {
  line: string;
  isStderr: boolean;
  timestampMs: number;
  sequence: number;
}

/** What one LogEntry message carries: its own line, then those in its `more`. */
export interface LogLines {
  jobId: string;
  lines: LogLineView[];
}

import { cursor, skipAt, spanEndAt, varintAt } from "./wire-reader.js";

const TAG_JOB_ID = 0x0a; // 1, length-delimited
const TAG_LINE = 0x12; // 2, length-delimited
const TAG_IS_STDERR = 0x18; // 3, varint
const TAG_TIMESTAMP = 0x22; // 4, length-delimited
const TAG_SEQUENCE = 0x28; // 5, varint
const TAG_MORE = 0x32; // 6, length-delimited
const TAG_TEXT = 0x3a; // 7, length-delimited
const TAG_LINE_COUNT = 0x40; // 8, varint
const LF = 0x0a;
const TAG_SECONDS = 0x08; // Timestamp.seconds, varint
const TAG_NANOS = 0x10; // Timestamp.nanos, varint

/** Bytes of `n` as a protobuf varint. */
export function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    size++;
  }
  return size;
}

/** Writes `n` as a protobuf varint at `o`; the offset after it. */
export function writeVarint(buf: Buffer, o: number, n: number): number {
  while (n >= 0x80) {
    buf[o++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  buf[o++] = n;
  return o;
}

export function checkUint(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${what} must be a non-negative integer: ${n}`);
}

/** Body size of a line's Timestamp {seconds, nanos}. */
function timestampBody(ms: number): { seconds: number; nanos: number; size: number } {
  const seconds = Math.floor(ms / 1000);
  const nanos = (ms - seconds * 1000) * 1_000_000;
  const size = (seconds ? 1 + varintSize(seconds) : 0) + (nanos ? 1 + varintSize(nanos) : 0);
  return { seconds, nanos, size };
}

/** Sizes of one entry's body (without its own tag and length), given its line's UTF-8 length. */
export function entryBodySize(jobIdBytes: number, l: LogLineView, lineBytes: number): number {
  const ts = timestampBody(l.timestampMs);
  return (
    (jobIdBytes ? 1 + varintSize(jobIdBytes) + jobIdBytes : 0) +
    (lineBytes ? 1 + varintSize(lineBytes) + lineBytes : 0) +
    (l.isStderr ? 2 : 0) +
    1 +
    varintSize(ts.size) +
    ts.size +
    (l.sequence ? 1 + varintSize(l.sequence) : 0)
  );
}

/** One entry's fields (job_id only when `jobIdBytes`), from `o`; the offset after them. */
export function writeEntryFields(
  buf: Buffer,
  o: number,
  jobId: string,
  jobIdBytes: number,
  l: LogLineView,
  lineBytes: number,
): number {
  if (jobIdBytes) {
    buf[o++] = TAG_JOB_ID;
    o = writeVarint(buf, o, jobIdBytes);
    o += buf.write(jobId, o, jobIdBytes, "utf8");
  }
  if (lineBytes) {
    buf[o++] = TAG_LINE;
    o = writeVarint(buf, o, lineBytes);
    o += buf.write(l.line, o, lineBytes, "utf8");
  }
  if (l.isStderr) {
    buf[o++] = TAG_IS_STDERR;
    buf[o++] = 1;
  }
  const ts = timestampBody(l.timestampMs);
  buf[o++] = TAG_TIMESTAMP;
  o = writeVarint(buf, o, ts.size);
  if (ts.seconds) {
    buf[o++] = TAG_SECONDS;
    o = writeVarint(buf, o, ts.seconds);
  }
  if (ts.nanos) {
    buf[o++] = TAG_NANOS;
    o = writeVarint(buf, o, ts.nanos);
  }
  if (l.sequence) {
    buf[o++] = TAG_SEQUENCE;
    o = writeVarint(buf, o, l.sequence);
  }
  return o;
}

/**
 * One LogEntry holding `lines` (at least one): the first in the entry's own fields, the rest in
 * `more`. Sequences and times must be non-negative integers.
 */
export function encodeLogEntry(jobId: string, lines: readonly LogLineView[]): Buffer {
  if (lines.length === 0) throw new RangeError("a LogEntry needs at least one line");
  const jobIdBytes = Buffer.byteLength(jobId);
  const lineBytes = new Array<number>(lines.length);
  const bodies = new Array<number>(lines.length);
  let total = 0;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    checkUint(l.sequence, "sequence");
    checkUint(l.timestampMs, "timestampMs");
    lineBytes[i] = Buffer.byteLength(l.line);
    bodies[i] = entryBodySize(i === 0 ? jobIdBytes : 0, l, lineBytes[i]!);
    total += i === 0 ? bodies[i]! : 1 + varintSize(bodies[i]!) + bodies[i]!;
  }
  const buf = Buffer.allocUnsafe(total);
  let o = writeEntryFields(buf, 0, jobId, jobIdBytes, lines[0]!, lineBytes[0]!);
  for (let i = 1; i < lines.length; i++) {
    buf[o++] = TAG_MORE;
    o = writeVarint(buf, o, bodies[i]!);
    o = writeEntryFields(buf, o, "", 0, lines[i]!, lineBytes[i]!);
  }
  if (o !== total) throw new Error(`LogEntry encoding wrote ${o} of ${total} bytes`);
  return buf;
}

/** The Timestamp from `cursor.at` to `end`, in ms; the cursor ends at `end`. */
function readTimestampMs(buf: Buffer, end: number): number {
  let seconds = 0;
  let nanos = 0;
  while (cursor.at < end) {
    const tag = varintAt(buf, end);
    if (tag === TAG_SECONDS) seconds = varintAt(buf, end);
    else if (tag === TAG_NANOS) nanos = varintAt(buf, end);
    else skipAt(buf, end, tag & 7);
  }
  return seconds * 1000 + Math.floor(nanos / 1_000_000);
}

/** Splits a block's text (lines each ending in "\n") onto `out`, numbered from `sequence`. */
function pushBlockLines(
  out: LogLineView[],
  text: string,
  isStderr: boolean,
  timestampMs: number,
  sequence: number,
): void {
  let from = 0;
  for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n", from)) {
    out.push({ line: text.slice(from, nl), isStderr, timestampMs, sequence: sequence++ });
    from = nl + 1;
  }
  if (from < text.length) out.push({ line: text.slice(from), isStderr, timestampMs, sequence });
}

/** The fields of one LogEntry, its `more` left out. */
interface EntryFields {
  jobId: string;
  /** The span of `line` (a line entry) or of `text` (a block), -1 when absent. */
  lineStart: number;
  lineEnd: number;
  textStart: number;
  textEnd: number;
  isStderr: boolean;
  timestampMs: number;
  sequence: number;
  lineCount: number;
  hasMore: boolean;
}

/** Reused by every read (a read allocates nothing); valid until the next. */
const fields: EntryFields = {
  jobId: "",
  lineStart: -1,
  lineEnd: -1,
  textStart: -1,
  textEnd: -1,
  isStderr: false,
  timestampMs: 0,
  sequence: 0,
  lineCount: 0,
  hasMore: false,
};

function readOwnFields(buf: Buffer, start: number, end: number): EntryFields {
  const f = fields;
  f.jobId = "";
  f.lineStart = f.lineEnd = f.textStart = f.textEnd = -1;
  f.isStderr = false;
  f.timestampMs = f.sequence = f.lineCount = 0;
  f.hasMore = false;
  cursor.at = start;
  while (cursor.at < end) {
    const tag = varintAt(buf, end);
    switch (tag) {
      case TAG_JOB_ID: {
        const e = spanEndAt(buf, end);
        f.jobId = buf.toString("utf8", cursor.at, e);
        cursor.at = e;
        break;
      }
      case TAG_LINE:
        f.lineEnd = spanEndAt(buf, end);
        f.lineStart = cursor.at;
        cursor.at = f.lineEnd;
        break;
      case TAG_TEXT:
        f.textEnd = spanEndAt(buf, end);
        f.textStart = cursor.at;
        cursor.at = f.textEnd;
        break;
      case TAG_IS_STDERR:
        f.isStderr = varintAt(buf, end) !== 0;
        break;
      case TAG_TIMESTAMP:
        f.timestampMs = readTimestampMs(buf, spanEndAt(buf, end));
        break;
      case TAG_SEQUENCE:
        f.sequence = varintAt(buf, end);
        break;
      case TAG_LINE_COUNT:
        f.lineCount = varintAt(buf, end);
        break;
      case TAG_MORE:
        f.hasMore = true;
        cursor.at = spanEndAt(buf, end);
        break;
      default:
        skipAt(buf, end, tag & 7);
    }
  }
  return f;
}

/** Calls `each` with the span of every `more` field of the LogEntry in [start, end), in order. */
function forEachMore(buf: Buffer, start: number, end: number, each: (s: number, e: number) => void): void {
  cursor.at = start;
  while (cursor.at < end) {
    const tag = varintAt(buf, end);
    if (tag !== TAG_MORE) {
      skipAt(buf, end, tag & 7);
      continue;
    }
    const e = spanEndAt(buf, end);
    each(cursor.at, e);
    cursor.at = e;
  }
}

/**
 * The lines of the LogEntry in [start, end) onto `out` (its own, a block's split into lines, then
 * its `more`); its job id.
 */
export function readEntry(buf: Buffer, start: number, end: number, out: LogLineView[]): string {
  const f = readOwnFields(buf, start, end);
  if (f.textStart >= 0 && f.textEnd > f.textStart) {
    const text = buf.toString("utf8", f.textStart, f.textEnd);
    pushBlockLines(out, text, f.isStderr, f.timestampMs, f.sequence);
  } else {
    const line = f.lineStart >= 0 ? buf.toString("utf8", f.lineStart, f.lineEnd) : "";
    out.push({ line, isStderr: f.isStderr, timestampMs: f.timestampMs, sequence: f.sequence });
  }
  const jobId = f.jobId;
  if (f.hasMore) forEachMore(buf, start, end, (s, e) => readEntry(buf, s, e, out));
  return jobId;
}

/** Lines of one stream and time, numbered from `firstSequence`, as one text (each line ends in "\n"). */
export interface LogTextPart {
  text: string;
  lineCount: number;
  firstSequence: number;
  isStderr: boolean;
  timestampMs: number;
}

/** What one LogEntry carries, read as text: a part per entry (a block, or a line as a block of one). */
export interface LogText {
  jobId: string;
  parts: LogTextPart[];
  /** The lines in all parts. */
  lineCount: number;
}

function readTextParts(buf: Buffer, start: number, end: number, out: LogText): void {
  const f = readOwnFields(buf, start, end);
  let text: string;
  let lineCount: number;
  if (f.textStart >= 0 && f.textEnd > f.textStart) {
    text = buf.toString("utf8", f.textStart, f.textEnd);
    if (buf[f.textEnd - 1] !== LF) text += "\n"; // not from our server: its last line unterminated
    // Our server checked line_count against the text; from any other, count.
    lineCount = f.lineCount;
    if (lineCount <= 0) {
      for (let i = f.textStart; i < f.textEnd; i++) if (buf[i] === LF) lineCount++;
      if (buf[f.textEnd - 1] !== LF) lineCount++;
    }
  } else {
    text = (f.lineStart >= 0 ? buf.toString("utf8", f.lineStart, f.lineEnd) : "") + "\n";
    lineCount = 1;
  }
  if (f.jobId) out.jobId = f.jobId;
  out.parts.push({
    text,
    lineCount,
    firstSequence: f.sequence,
    isStderr: f.isStderr,
    timestampMs: f.timestampMs,
  });
  out.lineCount += lineCount;
  if (f.hasMore) forEachMore(buf, start, end, (s, e) => readTextParts(buf, s, e, out));
}

/**
 * A LogEntry read as text: each entry (its own fields, then each `more`) one part, a block's lines
 * left as the one string they came in. For subscribers that asked for text_blocks and print or
 * store text: no object per line.
 */
export function decodeLogText(bytes: Uint8Array): LogText {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: LogText = { jobId: "", parts: [], lineCount: 0 };
  readTextParts(buf, 0, buf.length, out);
  return out;
}

/** A LogEntry's lines: its own, then those of its `more`, in order. */
export function decodeLogEntry(bytes: Uint8Array): LogLines {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lines: LogLineView[] = [];
  const jobId = readEntry(buf, 0, buf.length, lines);
  return { jobId, lines };
}
