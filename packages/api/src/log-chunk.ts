// A run of one job's log lines kept as bytes in `hodei.LogEntry` wire format, from the worker's
// batch to storage to every subscriber: the control plane never makes an object per line on the way.
//
// The body is each line as a LogEntry `more` field (tag 6, length, then the line's fields 2–5), so
//   LogEntry(lines i..j) = job_id field + line i's fields + the `more` fields of lines i+1..j
// and a message for a whole chunk is two copies (see `messages`). These are the bytes
// `encodeLogEntry` writes for the same lines, which the codec tests check against protobuf-es.
import { isUtf8 } from "node:buffer";
import {
  checkUint,
  entryBodySize,
  readEntry,
  varintSize,
  writeEntryFields,
  writeVarint,
  type LogLineView,
} from "./log-entry-codec.js";
import { cursor, skipAt, spanEndAt, varintAt } from "./wire-reader.js";

const TAG_MORE = 0x32; // LogEntry.more = 6
const TAG_JOB_ID = 0x0a; // LogEntry.job_id = 1
const TAG_ENTRY_LINE = 0x12; // LogEntry.line = 2
const TAG_ENTRY_SEQUENCE = 0x28; // LogEntry.sequence = 5

/** Where each line's entry starts in a body, its sequence and its text's UTF-8 length. */
interface ChunkIndex {
  /** count + 1 offsets: line i's `more` field is body[starts[i], starts[i + 1]). */
  starts: Uint32Array;
  sequences: Float64Array;
  textBytes: Uint32Array;
}

export class LogChunk {
  private decoded: LogLineView[] | undefined;
  private indexed: ChunkIndex | undefined;

  constructor(
    /** Sequence of the first line and of the last (sequences increase through a chunk). */
    readonly firstSeq: number,
    readonly lastSeq: number,
    readonly count: number,
    /** UTF-8 bytes of the lines' text. */
    readonly textBytes: number,
    /** Each line as a LogEntry `more` field. */
    readonly body: Buffer,
  ) {}

  /** The lines (sequences non-negative integers, increasing) as a chunk. */
  static fromLines(lines: readonly LogLineView[]): LogChunk {
    if (lines.length === 0) throw new RangeError("a log chunk needs at least one line");
    const lineBytes = new Array<number>(lines.length);
    const bodies = new Array<number>(lines.length);
    let total = 0;
    let text = 0;
    for (let i = 0; i < lines.length; i++) {
      const l = lines[i]!;
      checkUint(l.sequence, "sequence");
      checkUint(l.timestampMs, "timestampMs");
      lineBytes[i] = Buffer.byteLength(l.line);
      text += lineBytes[i]!;
      bodies[i] = entryBodySize(0, l, lineBytes[i]!);
      total += 1 + varintSize(bodies[i]!) + bodies[i]!;
    }
    const body = Buffer.allocUnsafe(total);
    let o = 0;
    for (let i = 0; i < lines.length; i++) {
      body[o++] = TAG_MORE;
      o = writeVarint(body, o, bodies[i]!);
      o = writeEntryFields(body, o, "", 0, lines[i]!, lineBytes[i]!);
    }
    const chunk = new LogChunk(
      lines[0]!.sequence,
      lines[lines.length - 1]!.sequence,
      lines.length,
      text,
      body,
    );
    chunk.decoded = lines.slice();
    return chunk;
  }

  /** Chunks whose sequences follow one another, as one (the chunk itself when alone). */
  static concat(parts: readonly LogChunk[]): LogChunk {
    if (parts.length === 1) return parts[0]!;
    if (parts.length === 0) throw new RangeError("a log chunk needs at least one line");
    let count = 0;
    let text = 0;
    for (let i = 0; i < parts.length; i++) {
      if (i > 0 && parts[i]!.firstSeq <= parts[i - 1]!.lastSeq)
        throw new RangeError("log chunks out of order");
      count += parts[i]!.count;
      text += parts[i]!.textBytes;
    }
    const body = Buffer.concat(parts.map((p) => p.body));
    return new LogChunk(parts[0]!.firstSeq, parts[parts.length - 1]!.lastSeq, count, text, body);
  }

  /** The lines as objects (made once, on first call: storage and gRPC never need them). */
  lines(): LogLineView[] {
    if (this.decoded) return this.decoded;
    const out: LogLineView[] = [];
    const body = this.body;
    let at = 0;
    while (at < body.length) {
      cursor.at = at;
      if (varintAt(body, body.length) !== TAG_MORE)
        throw new RangeError("log chunk: expected a `more` field");
      at = spanEndAt(body, body.length);
      readEntry(body, cursor.at, at, out);
    }
    return (this.decoded = out);
  }

  private index(): ChunkIndex {
    if (this.indexed) return this.indexed;
    const starts = new Uint32Array(this.count + 1);
    const sequences = new Float64Array(this.count);
    const textBytes = new Uint32Array(this.count);
    const body = this.body;
    cursor.at = 0;
    for (let i = 0; i < this.count; i++) {
      starts[i] = cursor.at;
      if (varintAt(body, body.length) !== TAG_MORE)
        throw new RangeError("log chunk: expected a `more` field");
      const e = spanEndAt(body, body.length);
      while (cursor.at < e) {
        const tag = varintAt(body, e);
        if (tag === TAG_ENTRY_SEQUENCE) sequences[i] = varintAt(body, e);
        else if (tag === TAG_ENTRY_LINE) {
          const le = spanEndAt(body, e);
          textBytes[i] = le - cursor.at;
          cursor.at = le;
        } else skipAt(body, e, tag & 7);
      }
    }
    starts[this.count] = cursor.at;
    if (cursor.at !== body.length) throw new RangeError("log chunk: more bytes than lines");
    return (this.indexed = { starts, sequences, textBytes });
  }

  /** Lines i..j-1 as a chunk sharing this one's bytes. */
  private range(i: number, j: number): LogChunk {
    if (i === 0 && j === this.count) return this;
    const x = this.index();
    let text = 0;
    for (let k = i; k < j; k++) text += x.textBytes[k]!;
    const part = new LogChunk(
      x.sequences[i]!,
      x.sequences[j - 1]!,
      j - i,
      text,
      this.body.subarray(x.starts[i]!, x.starts[j]!),
    );
    if (this.decoded) part.decoded = this.decoded.slice(i, j);
    return part;
  }

  /** The lines after the first `k`; null if none. */
  skip(k: number): LogChunk | null {
    return k <= 0 ? this : k >= this.count ? null : this.range(k, this.count);
  }

  /** The lines with a sequence above `after` and at most `through`, no more than `limit`; null if none. */
  select(after: number, through = Number.MAX_SAFE_INTEGER, limit = Number.MAX_SAFE_INTEGER): LogChunk | null {
    if (this.firstSeq > after && this.lastSeq <= through && this.count <= limit) return this;
    if (this.lastSeq <= after || this.firstSeq > through || limit <= 0) return null;
    const seq = this.index().sequences;
    let i = 0;
    while (i < this.count && seq[i]! <= after) i++;
    let j = i;
    while (j < this.count && seq[j]! <= through && j - i < limit) j++;
    return j > i ? this.range(i, j) : null;
  }

  /**
   * The chunk as LogEntry messages for `jobId`: `perMessage` lines at most in each (1: every line its
   * own message, as a subscriber that reads no `more` expects), cut before `maxTextBytes` of text
   * (a single longer line still goes, alone).
   */
  messages(jobId: string, perMessage: number, maxTextBytes: number): Buffer[] {
    const idLen = Buffer.byteLength(jobId);
    const head = idLen > 0 ? 1 + varintSize(idLen) + idLen : 0;
    const message = (fieldsAt: number, to: number): Buffer => {
      const buf = Buffer.allocUnsafe(head + to - fieldsAt);
      if (idLen > 0) {
        buf[0] = TAG_JOB_ID;
        buf.write(jobId, writeVarint(buf, 1, idLen), idLen, "utf8");
      }
      this.body.copy(buf, head, fieldsAt, to);
      return buf;
    };
    // Where line i's fields start: past its `more` tag and length.
    const fieldsOf = (start: number): number => {
      cursor.at = start + 1;
      varintAt(this.body, this.body.length);
      return cursor.at;
    };
    if (this.count <= Math.max(1, perMessage) && this.textBytes <= maxTextBytes) {
      return [message(fieldsOf(0), this.body.length)];
    }
    const x = this.index();
    const out: Buffer[] = [];
    for (let i = 0; i < this.count;) {
      let j = i + 1;
      let text = x.textBytes[i]!;
      while (j < this.count && j - i < perMessage && text + x.textBytes[j]! <= maxTextBytes)
        text += x.textBytes[j++]!;
      out.push(message(fieldsOf(x.starts[i]!), x.starts[j]!));
      i = j;
    }
    return out;
  }
}

/** Scratch space for `transcodeLogLines`, grown as batches need (one control plane thread). */
let scratch = {
  lineStart: new Uint32Array(1024),
  lineEnd: new Uint32Array(1024),
  stamp: new Float64Array(1024),
  sequence: new Float64Array(1024),
  stderr: new Uint8Array(1024),
};

function grow(n: number): void {
  if (n <= scratch.lineStart.length) return;
  const size = Math.max(n, scratch.lineStart.length * 2);
  const copy = <T extends Uint32Array | Float64Array | Uint8Array>(a: T, make: (n: number) => T): T => {
    const b = make(size);
    b.set(a);
    return b;
  };
  scratch = {
    lineStart: copy(scratch.lineStart, (k) => new Uint32Array(k)),
    lineEnd: copy(scratch.lineEnd, (k) => new Uint32Array(k)),
    stamp: copy(scratch.stamp, (k) => new Float64Array(k)),
    sequence: copy(scratch.sequence, (k) => new Float64Array(k)),
    stderr: copy(scratch.stderr, (k) => new Uint8Array(k)),
  };
}

const TAG_LOGLINE_LINE = 0x0a; // LogLine.line = 1
const TAG_LOGLINE_IS_STDERR = 0x10; // LogLine.is_stderr = 2
const TAG_LOGLINE_TIMESTAMP_MS = 0x18; // LogLine.timestamp_ms = 3
const TAG_LOGLINE_SEQUENCE = 0x20; // LogLine.sequence = 4
const TAG_TIMESTAMP = 0x22; // LogEntry.timestamp = 4
const TAG_IS_STDERR = 0x18; // LogEntry.is_stderr = 3
const TAG_SECONDS = 0x08;
const TAG_NANOS = 0x10;

/** Whether bytes[start, end) is UTF-8; short ASCII lines (most lines) are checked without a call. */
function validUtf8(bytes: Buffer, start: number, end: number): boolean {
  if (end - start < 48) {
    let any = 0;
    for (let k = start; k < end; k++) any |= bytes[k]!;
    if (any < 0x80) return true;
  }
  return isUtf8(bytes.subarray(start, end));
}

/** `n` as a varint at `o` in buf; the offset after it. */
function putVarint(buf: Buffer, o: number, n: number): number {
  if (n < 0x80) {
    buf[o] = n;
    return o + 1;
  }
  return writeVarint(buf, o, n);
}

/**
 * The `LogLine`s among the fields of the LogBatch in bytes[start, end) (field `linesTag`), their
 * sequences moved up by `base`, as a chunk; null when the batch holds no line. One pass reads the
 * lines' fields, one writes the entries; a line's text is copied as bytes, never decoded. Throws
 * RangeError on a malformed batch.
 */
export function transcodeLogLines(
  bytes: Buffer,
  start: number,
  end: number,
  linesTag: number,
  base: number,
): LogChunk | null {
  checkUint(base, "sequence base");
  let n = 0;
  let size = 0;
  let text = 0;
  // The Timestamp of the last time seen: a batch's lines mostly share a millisecond.
  let lastMs = -1;
  let tsSize = 0;
  let previous = -1;
  let replaced: Map<number, Buffer> | undefined;
  cursor.at = start;
  while (cursor.at < end) {
    const tag = varintAt(bytes, end);
    if (tag !== linesTag) {
      skipAt(bytes, end, tag & 7);
      continue;
    }
    const e = spanEndAt(bytes, end);
    if (n === scratch.lineStart.length) grow(n + 1);
    let ls = 0;
    let le = 0;
    let err = 0;
    let ms = 0;
    let seq = 0;
    while (cursor.at < e) {
      const t = varintAt(bytes, e);
      if (t === TAG_LOGLINE_LINE) {
        le = spanEndAt(bytes, e);
        ls = cursor.at;
        cursor.at = le;
      } else if (t === TAG_LOGLINE_IS_STDERR) err = varintAt(bytes, e) !== 0 ? 1 : 0;
      else if (t === TAG_LOGLINE_TIMESTAMP_MS) ms = varintAt(bytes, e);
      else if (t === TAG_LOGLINE_SEQUENCE) seq = varintAt(bytes, e);
      else skipAt(bytes, e, t & 7);
    }
    seq += base;
    if (!Number.isSafeInteger(seq)) throw new RangeError(`log line sequence out of range: ${seq}`);
    if (seq <= previous) throw new RangeError("log line sequences must increase");
    previous = seq;
    if (ms !== lastMs) {
      lastMs = ms;
      const seconds = Math.floor(ms / 1000);
      const nanos = (ms - seconds * 1000) * 1_000_000;
      tsSize = (seconds ? 1 + varintSize(seconds) : 0) + (nanos ? 1 + varintSize(nanos) : 0);
    }
    if (!validUtf8(bytes, ls, le)) {
      // Not from our worker, which sends UTF-8 only: what does not decode becomes U+FFFD, as
      // protobuf clients require of a string field.
      const fixed = Buffer.from(bytes.toString("utf8", ls, le));
      (replaced ??= new Map()).set(n, fixed);
      ls = 0;
      le = fixed.length;
    }
    const len = le - ls;
    const entry =
      (len ? 1 + (len < 0x80 ? 1 : varintSize(len)) + len : 0) +
      (err ? 2 : 0) +
      2 +
      tsSize +
      (seq ? 1 + varintSize(seq) : 0);
    size += 1 + (entry < 0x80 ? 1 : varintSize(entry)) + entry;
    text += len;
    scratch.lineStart[n] = ls;
    scratch.lineEnd[n] = le;
    scratch.stamp[n] = ms;
    scratch.sequence[n] = seq;
    scratch.stderr[n] = err;
    n++;
  }
  if (n === 0) return null;
  const { lineStart, lineEnd, stamp, sequence, stderr } = scratch;
  const body = Buffer.allocUnsafe(size);
  let o = 0;
  lastMs = -1;
  let seconds = 0;
  let nanos = 0;
  for (let i = 0; i < n; i++) {
    const ls = lineStart[i]!;
    const len = lineEnd[i]! - ls;
    const seq = sequence[i]!;
    const ms = stamp[i]!;
    if (ms !== lastMs) {
      lastMs = ms;
      seconds = Math.floor(ms / 1000);
      nanos = (ms - seconds * 1000) * 1_000_000;
      tsSize = (seconds ? 1 + varintSize(seconds) : 0) + (nanos ? 1 + varintSize(nanos) : 0);
    }
    const entry =
      (len ? 1 + (len < 0x80 ? 1 : varintSize(len)) + len : 0) +
      (stderr[i] ? 2 : 0) +
      2 +
      tsSize +
      (seq ? 1 + varintSize(seq) : 0);
    body[o++] = TAG_MORE;
    o = putVarint(body, o, entry);
    if (len) {
      const src = replaced?.get(i) ?? bytes;
      body[o++] = TAG_ENTRY_LINE;
      o = putVarint(body, o, len);
      if (len < 48) for (let k = 0; k < len; k++) body[o + k] = src[ls + k]!;
      else src.copy(body, o, ls, ls + len);
      o += len;
    }
    if (stderr[i]) {
      body[o++] = TAG_IS_STDERR;
      body[o++] = 1;
    }
    body[o++] = TAG_TIMESTAMP;
    body[o++] = tsSize; // at most 12 bytes: one byte of length
    if (seconds) {
      body[o++] = TAG_SECONDS;
      o = putVarint(body, o, seconds);
    }
    if (nanos) {
      body[o++] = TAG_NANOS;
      o = putVarint(body, o, nanos);
    }
    if (seq) {
      body[o++] = TAG_ENTRY_SEQUENCE;
      o = putVarint(body, o, seq);
    }
  }
  if (o !== size) throw new Error(`log chunk transcoding wrote ${o} of ${size} bytes`);
  return new LogChunk(sequence[0]!, sequence[n - 1]!, n, text, body);
}

const TAG_ENTRY_IS_STDERR = 0x18; // LogEntry.is_stderr = 3
const TAG_ENTRY_TIMESTAMP = 0x22; // LogEntry.timestamp = 4

/**
 * Lines a worker sent already as LogEntry `more` fields (LogBatch.entries), checked and taken as they
 * are: no copy, no object per line. Each entry may hold only the line, is_stderr, timestamp and
 * sequence fields, sequences above `base` and increasing. A line that is not UTF-8 (never from our
 * worker) has the chunk rebuilt with U+FFFD in its place. Null for no entry; RangeError when malformed.
 */
export function checkLogEntries(bytes: Buffer, start: number, end: number, base: number): LogChunk | null {
  let n = 0;
  let text = 0;
  let first = 0;
  let previous = base;
  let utf8 = true;
  cursor.at = start;
  while (cursor.at < end) {
    if (varintAt(bytes, end) !== TAG_MORE) throw new RangeError("log entries: expected a `more` field");
    const e = spanEndAt(bytes, end);
    let seq = 0;
    while (cursor.at < e) {
      const tag = varintAt(bytes, e);
      if (tag === TAG_ENTRY_LINE) {
        const le = spanEndAt(bytes, e);
        text += le - cursor.at;
        if (utf8 && !validUtf8(bytes, cursor.at, le)) utf8 = false;
        cursor.at = le;
      } else if (tag === TAG_ENTRY_SEQUENCE) seq = varintAt(bytes, e);
      else if (tag === TAG_ENTRY_IS_STDERR) varintAt(bytes, e);
      else if (tag === TAG_ENTRY_TIMESTAMP) cursor.at = spanEndAt(bytes, e);
      else throw new RangeError(`log entries: unexpected field tag ${tag}`);
    }
    if (!Number.isSafeInteger(seq) || seq <= previous)
      throw new RangeError(`log entries: sequence ${seq} does not follow ${previous}`);
    if (n === 0) first = seq;
    previous = seq;
    n++;
  }
  if (n === 0) return null;
  const chunk = new LogChunk(first, previous, n, text, bytes.subarray(start, end));
  // lines() decodes text with U+FFFD for what is not UTF-8; encoding them again gives valid bytes.
  return utf8 ? chunk : LogChunk.fromLines(chunk.lines());
}
