import { BufferPool, type EncodedMessage } from "./encoded-message.js";

export interface LogBatcherOptions {
  jobId: string;
  executionId: string;
  /** A batch is emitted as soon as it holds this many lines. */
  batchSize: number;
  /** ...or this long after its first line was buffered, whichever comes first. */
  flushIntervalMs: number;
  /** Receives each batch as an encoded `WorkerMessage{log_batch}` and its number of lines. */
  emit: (message: EncodedMessage, lineCount: number) => void;
  /** Replaces secret values in a line before it leaves the worker. */
  redact?: (line: string) => string;
  /**
   * Given by a control plane that takes `LogBatch.entries`: lines are then numbered from it + 1 and
   * written as the LogEntry fields it stores and sends on as they are. Absent: `LogBatch.lines`,
   * numbered from 1.
   */
  sequenceBase?: number;
}

/**
 * A batch is also sent once it holds this many bytes (a longer line travels alone): batches fit the
 * pooled buffers, and messages stay far below gRPC's 4 MiB default limit.
 */
export const MAX_BATCH_BYTES = 64 * 1024;
const POOLED_BUFFERS = 32;
/** Tag of WorkerMessage.log_batch (field 3, length-delimited) and room for its length as a 5-byte varint. */
const PREFIX_BYTES = 6;

function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Writes a non-negative integer below 2^53 as a protobuf varint; returns the new offset. */
function writeVarint(buf: Buffer, offset: number, n: number): number {
  while (n >= 128) {
    buf[offset++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[offset++] = n;
  return offset;
}

/**
 * Writes `n` (below 2^35) as a varint of exactly 5 bytes. Over-long varints are valid protobuf (every
 * parser must accept them), and a fixed size lets the batch length be filled in after the lines.
 */
function writePaddedVarint5(buf: Buffer, offset: number, n: number): void {
  for (let i = 0; i < 4; i++) {
    buf[offset + i] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[offset + 4] = n;
}

/** A line's text `src[start, end)` as field `tag` at `o` (nothing when empty); the offset after it. */
function writeText(b: Buffer, o: number, tag: number, src: Buffer, start: number, end: number): number {
  const len = end - start;
  if (len === 0) return o;
  b[o++] = tag;
  o = writeVarint(b, o, len);
  if (len < 64) for (let i = start; i < end; i++) b[o++] = src[i]!;
  else o += src.copy(b, o, start, end);
  return o;
}

function stringField(tag: number, value: string): Buffer {
  if (value === "") return Buffer.alloc(0);
  const bytes = Buffer.from(value);
  const out = Buffer.allocUnsafe(1 + varintSize(bytes.length) + bytes.length);
  out[0] = tag;
  bytes.copy(out, writeVarint(out, 1, bytes.length));
  return out;
}

/**
 * Stamps lines with a per-execution sequence (1, 2, 3… across stdout and stderr) and groups them
 * into batches by count, bytes or time. Lines are encoded straight into the protobuf wire format of
 * `WorkerMessage { log_batch: LogBatch { job_id, execution_id, lines: LogLine[] } }` as they come,
 * and the buffer is handed on as is: a line costs no object, string or bigint, and a batch one
 * allocation. This is the hot path of the worker.
 */
export class LogBatcher {
  private readonly pool = new BufferPool(MAX_BATCH_BYTES, POOLED_BUFFERS);
  private body: Buffer;
  private used = 0;
  private count = 0;
  private sequence = 0;
  private timer: NodeJS.Timeout | undefined;
  /** The timer is a hold (see addText's `holdMs`): the next ordinary line replaces it. */
  private holding = false;
  /** LogBatch fields 1 and 2, the same in every batch. */
  private readonly header: Buffer;
  /** The Timestamp fields of the last line's time (entries mode). */
  private stamp = { ms: -1, seconds: 0, nanos: 0, size: 0 };
  /** Entries mode: where LogBatch.entries' 5-byte length goes, and where its bytes start. */
  private readonly entriesLengthAt: number = -1;
  private readonly entriesStart: number = -1;
  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.holding = false;
    this.flush();
  };

  constructor(private readonly opts: LogBatcherOptions) {
    this.header = Buffer.concat([stringField(0x0a, opts.jobId), stringField(0x12, opts.executionId)]);
    if (opts.sequenceBase !== undefined) {
      this.entriesLengthAt = PREFIX_BYTES + this.header.length + 1;
      this.entriesStart = this.entriesLengthAt + 5;
    }
    this.body = this.newBody();
  }

  /** The sequence of the last line added (0 before any). */
  get lastSequence(): number {
    return this.sequence;
  }

  /** A line given as valid UTF-8 bytes `src[start, end)`. */
  addBytes(src: Buffer, start: number, end: number, isStderr: boolean, timestampMs: number): void {
    const redact = this.opts.redact;
    if (redact) {
      const text = src.toString("utf8", start, end);
      const clean = redact(text);
      if (clean !== text) return this.addText(clean, isStderr, timestampMs);
    }
    this.append(src, start, end, isStderr, timestampMs);
  }

  /**
   * A line given as text. With `holdMs`, a batch holding only such lines waits that long instead of
   * the flush interval: the line can go with whatever comes next (the job's own first lines, or its
   * end), and goes at the latest then.
   */
  addText(line: string, isStderr: boolean, timestampMs = Date.now(), holdMs?: number): void {
    const clean = this.opts.redact ? this.opts.redact(line) : line;
    const bytes = Buffer.from(clean);
    this.append(bytes, 0, bytes.length, isStderr, timestampMs, holdMs);
  }

  /** Emits whatever is buffered now. */
  flush(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.holding = false;
    if (this.count === 0) return;
    const body = this.body;
    const pool = this.pool;
    writePaddedVarint5(body, 1, this.used - PREFIX_BYTES);
    if (this.entriesStart > 0) writePaddedVarint5(body, this.entriesLengthAt, this.used - this.entriesStart);
    const message: EncodedMessage = { bytes: body.subarray(0, this.used), release: () => pool.release(body) };
    const lines = this.count;
    this.body = this.newBody();
    this.count = 0;
    this.opts.emit(message, lines);
  }

  private newBody(): Buffer {
    const body = this.pool.acquire();
    body[0] = 0x1a; // WorkerMessage.log_batch = 3; bytes 1-5: its length, written at flush
    this.used = PREFIX_BYTES + this.header.copy(body, PREFIX_BYTES);
    if (this.entriesStart > 0) {
      body[this.used] = 0x22; // LogBatch.entries = 4; then its length, written at flush
      this.used = this.entriesStart;
    }
    return body;
  }

  private append(
    src: Buffer,
    start: number,
    end: number,
    isStderr: boolean,
    ts: number,
    holdMs?: number,
  ): void {
    if (this.entriesStart > 0) return this.appendEntry(src, start, end, isStderr, ts, holdMs);
    const len = end - start;
    const inner =
      (len > 0 ? 1 + varintSize(len) + len : 0) +
      (isStderr ? 2 : 0) +
      2 +
      varintSize(ts) +
      varintSize(this.sequence + 1);
    const seq = ++this.sequence;
    const b = this.room(1 + varintSize(inner) + inner);
    let o = this.used;
    b[o++] = 0x1a; // LogBatch.lines = 3
    o = writeVarint(b, o, inner);
    o = writeText(b, o, 0x0a, src, start, end); // LogLine.line = 1
    if (isStderr) {
      b[o++] = 0x10; // LogLine.is_stderr = 2
      b[o++] = 1;
    }
    b[o++] = 0x18; // LogLine.timestamp_ms = 3
    o = writeVarint(b, o, ts);
    b[o++] = 0x20; // LogLine.sequence = 4
    this.added(writeVarint(b, o, seq), 1, holdMs);
  }

  /** The body with room for a line of `size` bytes at `used` (the batch sent first if it would overflow). */
  private room(size: number): Buffer {
    if (this.count > 0 && this.used + size > MAX_BATCH_BYTES) this.flush();
    this.reserve(size);
    return this.body;
  }

  /**
   * `lines` lines were written up to `end`: the batch goes when full, or its flush timer starts (a
   * hold of `holdMs` for a held line, see addText).
   */
  private added(end: number, lines = 1, holdMs?: number): void {
    this.used = end;
    this.count += lines;
    if (this.count >= this.opts.batchSize || end >= MAX_BATCH_BYTES) this.flush();
    else if (holdMs !== undefined) {
      if (this.timer === undefined) {
        this.timer = setTimeout(this.onTimer, holdMs);
        this.holding = true;
      }
    } else if (this.timer === undefined || this.holding) {
      clearTimeout(this.timer);
      this.timer = setTimeout(this.onTimer, this.opts.flushIntervalMs);
      this.holding = false;
    }
  }

  /**
   * `count` lines given as valid UTF-8 bytes `src[start, end)`, each ending in `\n`, as one LogEntry
   * block: tag 6, length, is_stderr (3), timestamp (4), the first line's sequence (5), text (7),
   * line_count (8). Only for a control plane that said it takes them (RunJob.log_text_blocks).
   */
  addBlock(src: Buffer, start: number, end: number, count: number, isStderr: boolean, ts: number): void {
    if (this.entriesStart < 0) throw new Error("text blocks need a sequence base");
    const len = end - start;
    const tsSize = this.stampOf(ts);
    const seq = this.opts.sequenceBase! + this.sequence + 1;
    const inner =
      1 +
      varintSize(len) +
      len +
      (isStderr ? 2 : 0) +
      2 +
      tsSize +
      1 +
      varintSize(seq) +
      1 +
      varintSize(count);
    this.sequence += count;
    const b = this.room(1 + varintSize(inner) + inner);
    let o = this.used;
    b[o++] = 0x32; // LogEntry.more = 6
    o = writeVarint(b, o, inner);
    if (isStderr) {
      b[o++] = 0x18; // LogEntry.is_stderr = 3
      b[o++] = 1;
    }
    o = this.writeStamp(b, o);
    b[o++] = 0x28; // LogEntry.sequence = 5
    o = writeVarint(b, o, seq);
    b[o++] = 0x3a; // LogEntry.text = 7
    o = writeVarint(b, o, len);
    o += src.copy(b, o, start, end);
    b[o++] = 0x40; // LogEntry.line_count = 8
    this.added(writeVarint(b, o, count), count);
  }

  /** The size of `ts` as a Timestamp's fields, worked out once for the lines that share it. */
  private stampOf(ts: number): number {
    if (ts !== this.stamp.ms) {
      const seconds = Math.floor(ts / 1000);
      const nanos = (ts - seconds * 1000) * 1_000_000;
      this.stamp = {
        ms: ts,
        seconds,
        nanos,
        size: (seconds ? 1 + varintSize(seconds) : 0) + (nanos ? 1 + varintSize(nanos) : 0),
      };
    }
    return this.stamp.size;
  }

  /** LogEntry.timestamp = 4 with the last `stampOf`'s time, at `o`; the offset after it. */
  private writeStamp(b: Buffer, o: number): number {
    const { seconds, nanos, size } = this.stamp;
    b[o++] = 0x22;
    b[o++] = size;
    if (seconds) {
      b[o++] = 0x08;
      o = writeVarint(b, o, seconds);
    }
    if (nanos) {
      b[o++] = 0x10;
      o = writeVarint(b, o, nanos);
    }
    return o;
  }

  /** A line as a LogEntry `more` field: tag 6, length, line (2), is_stderr (3), timestamp (4), sequence (5). */
  private appendEntry(
    src: Buffer,
    start: number,
    end: number,
    isStderr: boolean,
    ts: number,
    holdMs?: number,
  ): void {
    const len = end - start;
    const tsSize = this.stampOf(ts);
    const seq = this.opts.sequenceBase! + this.sequence + 1;
    const inner =
      (len > 0 ? 1 + varintSize(len) + len : 0) + (isStderr ? 2 : 0) + 2 + tsSize + 1 + varintSize(seq);
    this.sequence++;
    const b = this.room(1 + varintSize(inner) + inner);
    let o = this.used;
    b[o++] = 0x32; // LogEntry.more = 6
    o = writeVarint(b, o, inner);
    o = writeText(b, o, 0x12, src, start, end); // LogEntry.line = 2
    if (isStderr) {
      b[o++] = 0x18; // LogEntry.is_stderr = 3
      b[o++] = 1;
    }
    o = this.writeStamp(b, o); // LogEntry.timestamp = 4: Timestamp { seconds = 1, nanos = 2 }
    b[o++] = 0x28; // LogEntry.sequence = 5
    this.added(writeVarint(b, o, seq), 1, holdMs);
  }

  private reserve(bytes: number): void {
    if (this.used + bytes <= this.body.length) return;
    let capacity = this.body.length * 2;
    while (capacity < this.used + bytes) capacity *= 2;
    const grown = this.pool.acquire(capacity);
    this.body.copy(grown, 0, 0, this.used);
    this.pool.release(this.body);
    this.body = grown;
  }
}
