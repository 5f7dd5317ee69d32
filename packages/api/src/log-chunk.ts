// A run of one job's log lines kept as bytes in `hodei.LogEntry` wire format, from the worker's
// batch to storage to every subscriber: the control plane never makes an object per line on the way.
//
// The body is a sequence of LogEntry `more` fields (tag 6, length, then fields 2-5, 7, 8), each
// either one line (field 2) or a block of lines of one stream and time (field 7, the lines each
// ending in "\n", and field 8, their number), so
//   LogEntry(entries i..j) = job_id field + entry i's fields + the `more` fields of entries i+1..j
// and a message for a whole chunk is one copy, into scratch space, as grpc-js serializes it (see
// LogEntrySplice), before grpc-js's own copy into its frame. A subscriber that asked for text
// blocks gets the entries as they are; any other gets every block written out as a line per entry.
// These are the bytes `encodeLogEntry` writes for the same lines, which the codec tests check against
// protobuf-es.
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
import { SelfEncoded } from "./self-encoded.js";
import { cursor, skipAt, spanEndAt, varintAt } from "./wire-reader.js";

const TAG_MORE = 0x32; // LogEntry.more = 6
const TAG_JOB_ID = 0x0a; // LogEntry.job_id = 1
const TAG_ENTRY_LINE = 0x12; // LogEntry.line = 2
const TAG_ENTRY_IS_STDERR = 0x18; // LogEntry.is_stderr = 3
const TAG_ENTRY_TIMESTAMP = 0x22; // LogEntry.timestamp = 4
const TAG_ENTRY_SEQUENCE = 0x28; // LogEntry.sequence = 5
const TAG_ENTRY_TEXT = 0x3a; // LogEntry.text = 7
const TAG_ENTRY_LINE_COUNT = 0x40; // LogEntry.line_count = 8
const LF = 0x0a;

/** Each entry of a body: where it starts, its first line's index and sequence, its text. */
interface ChunkIndex {
  entries: number;
  /** entries + 1 offsets: entry e's `more` field is body[starts[e], starts[e + 1]). */
  starts: Uint32Array;
  /** entries + 1: the index among the chunk's lines of entry e's first line (then `count`). */
  firstLine: Uint32Array;
  /** The sequence of entry e's first line. */
  sequences: Float64Array;
  /** UTF-8 bytes of entry e's lines (a block's "\n"s not counted). */
  textBytes: Uint32Array;
  /** A block's text, body[textStart[e], textEnd[e]); -1 for an entry of one line. */
  textStart: Int32Array;
  textEnd: Int32Array;
  /** Entry e's is_stderr, and its timestamp field whole (tag, length, body), or an empty span. */
  stderr: Uint8Array;
  stampStart: Uint32Array;
  stampEnd: Uint32Array;
  /** Whether any entry is a block. */
  blocks: boolean;
}

export class LogChunk {
  private decoded: LogLineView[] | undefined;
  private indexed: ChunkIndex | undefined;
  private lined: LogChunk | undefined;

  constructor(
    /** Sequence of the first line and of the last (sequences increase through a chunk). */
    readonly firstSeq: number,
    readonly lastSeq: number,
    readonly count: number,
    /** UTF-8 bytes of the lines' text. */
    readonly textBytes: number,
    /** Each line, or block of lines, as a LogEntry `more` field. */
    readonly body: Buffer,
    /** Whether any entry is a block, when known (else found by reading the body when asked). */
    private blocks?: boolean,
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
      false,
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
    // Known only when known of every part.
    let blocks: boolean | undefined = false;
    for (const p of parts) {
      if (p.blocks === undefined) {
        blocks = undefined;
        break;
      }
      blocks ||= p.blocks;
    }
    return new LogChunk(parts[0]!.firstSeq, parts[parts.length - 1]!.lastSeq, count, text, body, blocks);
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

  /** Whether some of the lines are held as blocks (one entry, one text, several lines). */
  get hasBlocks(): boolean {
    return (this.blocks ??= this.index().blocks);
  }

  /** How many entries the body holds (a walk over their tags and lengths only). */
  private entryCount(): number {
    if (this.indexed) return this.indexed.entries;
    const body = this.body;
    let n = 0;
    cursor.at = 0;
    while (cursor.at < body.length) {
      if (varintAt(body, body.length) !== TAG_MORE)
        throw new RangeError("log chunk: expected a `more` field");
      cursor.at = spanEndAt(body, body.length);
      n++;
    }
    return n;
  }

  private index(): ChunkIndex {
    if (this.indexed) return this.indexed;
    // Blocks make entries far fewer than lines: the arrays are as long as the entries are many.
    const cap = (this.blocks === false ? this.count : this.entryCount()) + 1;
    const x: ChunkIndex = {
      entries: 0,
      starts: new Uint32Array(cap),
      firstLine: new Uint32Array(cap),
      sequences: new Float64Array(cap),
      textBytes: new Uint32Array(cap),
      textStart: new Int32Array(cap),
      textEnd: new Int32Array(cap),
      stderr: new Uint8Array(cap),
      stampStart: new Uint32Array(cap),
      stampEnd: new Uint32Array(cap),
      blocks: false,
    };
    const body = this.body;
    let e = 0;
    let line = 0;
    cursor.at = 0;
    while (cursor.at < body.length) {
      if (e >= this.count || e + 1 >= cap) throw new RangeError("log chunk: more entries than lines");
      x.starts[e] = cursor.at;
      x.firstLine[e] = line;
      if (varintAt(body, body.length) !== TAG_MORE)
        throw new RangeError("log chunk: expected a `more` field");
      const end = spanEndAt(body, body.length);
      let lines = 1;
      let seq = 0;
      let text = 0;
      let ts = -1;
      let te = -1;
      while (cursor.at < end) {
        const at = cursor.at;
        const tag = varintAt(body, end);
        if (tag === TAG_ENTRY_SEQUENCE) seq = varintAt(body, end);
        else if (tag === TAG_ENTRY_LINE) {
          const le = spanEndAt(body, end);
          text = le - cursor.at;
          cursor.at = le;
        } else if (tag === TAG_ENTRY_TEXT) {
          te = spanEndAt(body, end);
          ts = cursor.at;
          cursor.at = te;
        } else if (tag === TAG_ENTRY_LINE_COUNT) lines = varintAt(body, end);
        else if (tag === TAG_ENTRY_IS_STDERR) x.stderr[e] = varintAt(body, end) !== 0 ? 1 : 0;
        else if (tag === TAG_ENTRY_TIMESTAMP) {
          cursor.at = spanEndAt(body, end);
          x.stampStart[e] = at;
          x.stampEnd[e] = cursor.at;
        } else skipAt(body, end, tag & 7);
      }
      if (ts >= 0 && te > ts) {
        x.blocks = true;
        text = te - ts - lines;
      } else {
        ts = te = -1;
        lines = 1;
      }
      x.textStart[e] = ts;
      x.textEnd[e] = te;
      x.sequences[e] = seq;
      x.textBytes[e] = text;
      line += lines;
      e++;
    }
    x.starts[e] = body.length;
    x.firstLine[e] = line;
    x.entries = e;
    if (line !== this.count) throw new RangeError(`log chunk: ${line} lines, not ${this.count}`);
    return (this.indexed = x);
  }

  /** The entry holding line `line` (an index among the chunk's lines). */
  private entryOf(line: number): number {
    const { firstLine, entries } = this.index();
    let lo = 0;
    let hi = entries - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (firstLine[mid]! <= line) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** How many of the lines have a sequence at most `seq`. */
  private linesThrough(seq: number): number {
    const x = this.index();
    if (x.entries === 0 || x.sequences[0]! > seq) return 0;
    let lo = 0;
    let hi = x.entries - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (x.sequences[mid]! <= seq) lo = mid;
      else hi = mid - 1;
    }
    const inEntry = x.firstLine[lo + 1]! - x.firstLine[lo]!;
    return x.firstLine[lo]! + Math.min(inEntry, seq - x.sequences[lo]! + 1);
  }

  /** The sequence of line `line`. */
  private sequenceOf(line: number): number {
    const e = this.entryOf(line);
    const x = this.index();
    return x.sequences[e]! + (line - x.firstLine[e]!);
  }

  /** Entry e's is_stderr and timestamp fields, and `seq` as the sequence, at `o`; the offset after. */
  private writeShared(out: Buffer, o: number, e: number, seq: number): number {
    const x = this.index();
    if (x.stderr[e]) {
      out[o++] = TAG_ENTRY_IS_STDERR;
      out[o++] = 1;
    }
    o += this.body.copy(out, o, x.stampStart[e]!, x.stampEnd[e]!);
    if (seq) {
      out[o++] = TAG_ENTRY_SEQUENCE;
      o = writeVarint(out, o, seq);
    }
    return o;
  }

  /** Lines k..l-1 of block entry e as a `more` field of their own, and their text's bytes. */
  private cutBlock(e: number, k: number, l: number): { bytes: Buffer; text: number } {
    const x = this.index();
    const body = this.body;
    let from = x.textStart[e]!;
    for (let i = 0; i < k; i++) from = body.indexOf(LF, from) + 1;
    let to = from;
    for (let i = k; i < l; i++) to = body.indexOf(LF, to) + 1;
    const textLen = to - from;
    const count = l - k;
    const seq = x.sequences[e]! + k;
    const inner =
      1 +
      varintSize(textLen) +
      textLen +
      (x.stderr[e] ? 2 : 0) +
      (x.stampEnd[e]! - x.stampStart[e]!) +
      (seq ? 1 + varintSize(seq) : 0) +
      1 +
      varintSize(count);
    const out = Buffer.allocUnsafe(1 + varintSize(inner) + inner);
    out[0] = TAG_MORE;
    let o = writeVarint(out, 1, inner);
    out[o++] = TAG_ENTRY_TEXT;
    o = writeVarint(out, o, textLen);
    o += body.copy(out, o, from, to);
    o = this.writeShared(out, o, e, seq);
    out[o++] = TAG_ENTRY_LINE_COUNT;
    o = writeVarint(out, o, count);
    if (o !== out.length) throw new Error(`log chunk: a cut block wrote ${o} of ${out.length} bytes`);
    return { bytes: out, text: textLen - count };
  }

  /** Lines i..j-1 as a chunk, sharing this one's bytes except where a block is cut. */
  private range(i: number, j: number): LogChunk {
    if (i === 0 && j === this.count) return this;
    const x = this.index();
    const a = this.entryOf(i);
    const b = this.entryOf(j - 1);
    const firstSeq = this.sequenceOf(i);
    const lastSeq = this.sequenceOf(j - 1);
    const cutHead = i > x.firstLine[a]!;
    const cutTail = j < x.firstLine[b + 1]!;
    let part: LogChunk;
    if (a === b && (cutHead || cutTail)) {
      const cut = this.cutBlock(a, i - x.firstLine[a]!, j - x.firstLine[a]!);
      part = new LogChunk(firstSeq, lastSeq, j - i, cut.text, cut.bytes, true);
    } else {
      const pieces: Buffer[] = [];
      let text = 0;
      let from = a;
      let to = b + 1;
      if (cutHead) {
        const cut = this.cutBlock(a, i - x.firstLine[a]!, x.firstLine[a + 1]! - x.firstLine[a]!);
        pieces.push(cut.bytes);
        text += cut.text;
        from = a + 1;
      }
      if (cutTail) to = b;
      if (to > from) {
        pieces.push(this.body.subarray(x.starts[from]!, x.starts[to]!));
        for (let k = from; k < to; k++) text += x.textBytes[k]!;
      }
      if (cutTail) {
        const cut = this.cutBlock(b, 0, j - x.firstLine[b]!);
        pieces.push(cut.bytes);
        text += cut.text;
      }
      const body = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
      part = new LogChunk(firstSeq, lastSeq, j - i, text, body, x.blocks ? undefined : false);
    }
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
    const i = this.linesThrough(after);
    const j = Math.min(this.linesThrough(through), i + limit);
    return j > i ? this.range(i, j) : null;
  }

  /** The chunk with every block written out as an entry per line (itself when it holds no block). */
  lineEntries(): LogChunk {
    if (this.lined) return this.lined;
    if (!this.hasBlocks) return (this.lined = this);
    const x = this.index();
    const body = this.body;
    const entrySize = (e: number, len: number, seq: number): number =>
      (len ? 1 + varintSize(len) + len : 0) +
      (x.stderr[e] ? 2 : 0) +
      (x.stampEnd[e]! - x.stampStart[e]!) +
      (seq ? 1 + varintSize(seq) : 0);
    let size = 0;
    for (let e = 0; e < x.entries; e++) {
      if (x.textStart[e]! < 0) {
        size += x.starts[e + 1]! - x.starts[e]!;
        continue;
      }
      let seq = x.sequences[e]!;
      for (let p = x.textStart[e]!; p < x.textEnd[e]!; seq++) {
        const nl = body.indexOf(LF, p);
        const inner = entrySize(e, nl - p, seq);
        size += 1 + varintSize(inner) + inner;
        p = nl + 1;
      }
    }
    const out = Buffer.allocUnsafe(size);
    let o = 0;
    for (let e = 0; e < x.entries; e++) {
      if (x.textStart[e]! < 0) {
        o += body.copy(out, o, x.starts[e]!, x.starts[e + 1]!);
        continue;
      }
      let seq = x.sequences[e]!;
      for (let p = x.textStart[e]!; p < x.textEnd[e]!; seq++) {
        const nl = body.indexOf(LF, p);
        const len = nl - p;
        out[o++] = TAG_MORE;
        o = writeVarint(out, o, entrySize(e, len, seq));
        if (len) {
          out[o++] = TAG_ENTRY_LINE;
          o = writeVarint(out, o, len);
          if (len < 48) for (let k = 0; k < len; k++) out[o + k] = body[p + k]!;
          else body.copy(out, o, p, nl);
          o += len;
        }
        o = this.writeShared(out, o, e, seq);
        p = nl + 1;
      }
    }
    if (o !== size) throw new Error(`log chunk: writing out blocks wrote ${o} of ${size} bytes`);
    const lined = new LogChunk(this.firstSeq, this.lastSeq, this.count, this.textBytes, out, false);
    if (this.decoded) lined.decoded = this.decoded;
    return (this.lined = lined);
  }

  /**
   * The chunk as LogEntry messages for `jobId`: `perMessage` lines at most in each (1: every line its
   * own message, as a subscriber that reads no `more` expects), cut before `maxTextBytes` of text
   * (a single longer line still goes, alone). With `blocks` (for a subscriber that asked for text
   * blocks) the entries go as they are, `perMessage` entries at most in a message.
   */
  messages(jobId: string, perMessage: number, maxTextBytes: number, blocks = false): Buffer[] {
    return this.splices(jobId, perMessage, maxTextBytes, blocks).map((m) => m.toBuffer());
  }

  /** `messages`, each left as the span of the body it is made of until it is sent (see LogEntrySplice). */
  splices(jobId: string, perMessage: number, maxTextBytes: number, blocks = false): LogEntrySplice[] {
    if (!blocks) {
      const lined = this.lineEntries();
      if (lined !== this) return lined.splices(jobId, perMessage, maxTextBytes, true);
    }
    // Where entry i's fields start: past its `more` tag and length.
    const fieldsOf = (start: number): number => {
      cursor.at = start + 1;
      varintAt(this.body, this.body.length);
      return cursor.at;
    };
    // No more entries than lines: a chunk of no more lines than a message takes is one message.
    const few = this.count <= Math.max(1, perMessage) || (blocks && this.entryCount() <= perMessage);
    if (few && this.textBytes <= maxTextBytes)
      return [new LogEntrySplice(jobId, this.body, fieldsOf(0), this.body.length)];
    const x = this.index();
    const out: LogEntrySplice[] = [];
    for (let i = 0; i < x.entries;) {
      let j = i + 1;
      let text = x.textBytes[i]!;
      while (j < x.entries && j - i < perMessage && text + x.textBytes[j]! <= maxTextBytes)
        text += x.textBytes[j++]!;
      out.push(new LogEntrySplice(jobId, this.body, fieldsOf(x.starts[i]!), x.starts[j]!));
      i = j;
    }
    return out;
  }
}

/** Scratch space LogEntrySplice messages are written into as they are sent (one thread). */
let spliceScratch = Buffer.allocUnsafe(64 * 1024);
/** Scratch is not grown past this: a larger message (a single huge line) gets a buffer of its own. */
const SPLICE_SCRATCH_MAX = 4 << 20;

/**
 * A LogEntry message: the job id's field, then the fields of entries body[from, to) of a chunk
 * (the entries' `more` fields, or one entry's fields, as stored). Written out only when sent.
 */
export class LogEntrySplice extends SelfEncoded {
  /** UTF-8 bytes of the job id. */
  private readonly idLen: number;
  /** Bytes of the message. */
  readonly byteLength: number;

  constructor(
    readonly jobId: string,
    private readonly body: Buffer,
    private readonly from: number,
    private readonly to: number,
  ) {
    super();
    this.idLen = Buffer.byteLength(jobId);
    this.byteLength = (this.idLen > 0 ? 1 + varintSize(this.idLen) + this.idLen : 0) + to - from;
  }

  private into(buf: Buffer): Buffer {
    let at = 0;
    if (this.idLen > 0) {
      buf[0] = TAG_JOB_ID;
      at = writeVarint(buf, 1, this.idLen);
      at += buf.write(this.jobId, at, this.idLen, "utf8");
    }
    at += this.body.copy(buf, at, this.from, this.to);
    return buf.subarray(0, at);
  }

  /** The message in a buffer of its own. */
  toBuffer(): Buffer {
    return this.into(Buffer.allocUnsafe(this.byteLength));
  }

  /** The message in scratch space that the next one overwrites. */
  encodeTransient(): Buffer {
    const n = this.byteLength;
    if (n > spliceScratch.length) {
      if (n > SPLICE_SCRATCH_MAX) return this.toBuffer();
      spliceScratch = Buffer.allocUnsafe(Math.min(SPLICE_SCRATCH_MAX, Math.max(n, spliceScratch.length * 2)));
    }
    return this.into(spliceScratch);
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
      body[o++] = TAG_ENTRY_IS_STDERR;
      body[o++] = 1;
    }
    body[o++] = TAG_ENTRY_TIMESTAMP;
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
  return new LogChunk(sequence[0]!, sequence[n - 1]!, n, text, body, false);
}

/**
 * Lines a worker sent already as LogEntry `more` fields (LogBatch.entries), checked and taken as they
 * are: no copy, no object per line. Each entry may hold only the line, is_stderr, timestamp and
 * sequence fields, or instead of the line a block (text and line_count: that many lines, each
 * ending in "\n", numbered from the sequence on); sequences above `base` and increasing. A line that
 * is not UTF-8 (never from our worker) has the chunk rebuilt with U+FFFD in its place. Null for no
 * entry; RangeError when malformed.
 */
export function checkLogEntries(bytes: Buffer, start: number, end: number, base: number): LogChunk | null {
  let n = 0;
  let text = 0;
  let first = 0;
  let previous = base;
  let utf8 = true;
  let blocks = false;
  cursor.at = start;
  while (cursor.at < end) {
    if (varintAt(bytes, end) !== TAG_MORE) throw new RangeError("log entries: expected a `more` field");
    const e = spanEndAt(bytes, end);
    let seq = 0;
    let hasLine = false;
    let ts = -1;
    let te = -1;
    let count = -1;
    while (cursor.at < e) {
      const tag = varintAt(bytes, e);
      if (tag === TAG_ENTRY_LINE) {
        const le = spanEndAt(bytes, e);
        text += le - cursor.at;
        hasLine = true;
        if (utf8 && !validUtf8(bytes, cursor.at, le)) utf8 = false;
        cursor.at = le;
      } else if (tag === TAG_ENTRY_TEXT) {
        te = spanEndAt(bytes, e);
        ts = cursor.at;
        cursor.at = te;
      } else if (tag === TAG_ENTRY_LINE_COUNT) count = varintAt(bytes, e);
      else if (tag === TAG_ENTRY_SEQUENCE) seq = varintAt(bytes, e);
      else if (tag === TAG_ENTRY_IS_STDERR) varintAt(bytes, e);
      else if (tag === TAG_ENTRY_TIMESTAMP) cursor.at = spanEndAt(bytes, e);
      else throw new RangeError(`log entries: unexpected field tag ${tag}`);
    }
    let lines = 1;
    if (ts >= 0 || count >= 0) {
      if (hasLine || ts < 0 || te === ts || bytes[te - 1] !== LF)
        throw new RangeError('log entries: a block\'s text must be whole lines, each ending in "\\n"');
      let found = 0;
      for (let k = ts; k < te; k++) if (bytes[k] === LF) found++;
      if (count < 0) throw new RangeError("log entries: a block without its line_count");
      if (found !== count) throw new RangeError(`log entries: a block of ${count} lines holds ${found}`);
      if (utf8 && !isUtf8(bytes.subarray(ts, te))) utf8 = false;
      lines = count;
      text += te - ts - count;
      blocks = true;
    }
    if (!Number.isSafeInteger(seq) || seq <= previous)
      throw new RangeError(`log entries: sequence ${seq} does not follow ${previous}`);
    if (n === 0) first = seq;
    previous = seq + lines - 1;
    if (!Number.isSafeInteger(previous)) throw new RangeError("log entries: sequence out of range");
    n += lines;
  }
  if (n === 0) return null;
  const chunk = new LogChunk(first, previous, n, text, bytes.subarray(start, end), blocks);
  // lines() decodes text with U+FFFD for what is not UTF-8; encoding them again gives valid bytes.
  return utf8 ? chunk : LogChunk.fromLines(chunk.lines());
}
