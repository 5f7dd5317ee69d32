import { isUtf8 } from "node:buffer";
import type { CutGuard } from "./secret-redaction.js";

/** The longest line sent as one log line; longer ones are cut into pieces of at most this size. */
export const MAX_LINE_BYTES = 1024 * 1024;

const LF = 0x0a;
const CR = 0x0d;

/**
 * Receives each line as a byte range `buf[start, end)` of valid UTF-8 (without its `\n` or trailing
 * `\r`) and the time the chunk holding it arrived. The bytes are only valid during the call.
 */
export type LineSink = (buf: Buffer, start: number, end: number, timestampMs: number) => void;

/**
 * Receives `count` whole lines at once as the byte range `buf[start, end)` of valid UTF-8, each line
 * ending in `\n` (none ends in `\r\n`), all read at `timestampMs`. The bytes are only valid during
 * the call.
 */
export type BlockSink = (buf: Buffer, start: number, end: number, count: number, timestampMs: number) => void;

/** A block is cut after the line that takes it to this many bytes: blocks fit in a log batch. */
export const MAX_BLOCK_BYTES = 32 * 1024;

/** A cut point at or below `at` that does not fall inside a UTF-8 sequence (unless the data is not UTF-8). */
function utf8Boundary(buf: Buffer, from: number, at: number): number {
  for (let i = at; i > at - 4 && i > from; i--) {
    if ((buf[i]! & 0xc0) !== 0x80) return i;
  }
  return at;
}

/**
 * Splits a byte stream into lines as the bytes arrive, without making a string per line: lines are
 * handed on as byte ranges of the chunk. Invalid UTF-8 is replaced by U+FFFD (checked once per
 * chunk), only the unfinished tail of a chunk is kept, and a line longer than `maxLineBytes` is
 * emitted in pieces, so memory stays bounded whatever the child prints.
 */
export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(
    private readonly sink: LineSink,
    private readonly maxLineBytes = MAX_LINE_BYTES,
    private readonly now: () => number = Date.now,
    /** Where a too-long line is cut into pieces, moved so that no secret is cut in two. */
    private readonly guardCut?: CutGuard,
    /**
     * Given: the whole lines of a chunk go here as blocks, unless one of them needs more than being
     * split off (a `\r` to drop, a cut into pieces); then, and for a line that spans chunks, `sink`.
     */
    private readonly blockSink?: BlockSink,
  ) {}

  /** Where to cut `buf[start, end)` into a piece of at most `maxLineBytes` and the rest. */
  private cutPoint(buf: Buffer, start: number, end: number): number {
    const cut = utf8Boundary(buf, start, start + this.maxLineBytes);
    return this.guardCut ? this.guardCut(buf, start, cut, end) : cut;
  }

  push(chunk: Buffer): void {
    const ts = this.now();
    let start = 0;
    if (this.pendingBytes > 0) {
      const nl = chunk.indexOf(LF);
      if (nl < 0) {
        this.appendPending(chunk, ts);
        return;
      }
      this.appendPending(chunk.subarray(0, nl), ts);
      this.emitPending(ts);
      start = nl + 1;
    }
    const last = chunk.lastIndexOf(LF);
    if (last >= start) {
      this.emitLines(chunk, start, last, ts);
      start = last + 1;
    }
    if (start < chunk.length) this.appendPending(Buffer.from(chunk.subarray(start)), ts);
  }

  /** End of stream: an unfinished last line is a line too. */
  end(): void {
    if (this.pendingBytes > 0) this.emitPending(this.now());
  }

  /** `buf[start, end)` holds whole lines separated by `\n` (the final one's `\n` excluded). */
  private emitLines(buf: Buffer, start: number, end: number, ts: number): void {
    if (!isUtf8(buf.subarray(start, end))) {
      const fixed = Buffer.from(buf.toString("utf8", start, end));
      return this.emitLines(fixed, 0, fixed.length, ts);
    }
    if (this.blockSink && buf[end] === LF && end - start < this.maxLineBytes) {
      const cr = buf.indexOf(CR, start);
      if (cr < 0 || cr > end) return this.emitBlocks(this.blockSink, buf, start, end + 1, ts);
    }
    let from = start;
    for (let i = start; i < end; i++) {
      if (buf[i] === LF) {
        this.emitLine(buf, from, i, ts);
        from = i + 1;
      }
    }
    this.emitLine(buf, from, end, ts);
  }

  /** `buf[start, end)`: whole lines, each ending in `\n`, none longer than a line may be. */
  private emitBlocks(sink: BlockSink, buf: Buffer, start: number, end: number, ts: number): void {
    let from = start;
    let count = 0;
    for (let i = start; i < end; i++) {
      if (buf[i] !== LF) continue;
      count++;
      if (i + 1 - from >= MAX_BLOCK_BYTES) {
        sink(buf, from, i + 1, count, ts);
        from = i + 1;
        count = 0;
      }
    }
    if (count > 0) sink(buf, from, end, count, ts);
  }

  private emitLine(buf: Buffer, start: number, end: number, ts: number): void {
    while (end - start > this.maxLineBytes) {
      const cut = this.cutPoint(buf, start, end);
      this.sink(buf, start, cut, ts);
      start = cut;
    }
    if (end > start && buf[end - 1] === CR) end--;
    this.sink(buf, start, end, ts);
  }

  private appendPending(part: Buffer, ts: number): void {
    if (part.length === 0) return;
    this.pending.push(part);
    this.pendingBytes += part.length;
    if (this.pendingBytes <= this.maxLineBytes) return;
    let all = Buffer.concat(this.pending, this.pendingBytes);
    while (all.length > this.maxLineBytes) {
      const cut = this.cutPoint(all, 0, all.length);
      this.emitValid(all.subarray(0, cut), ts);
      all = all.subarray(cut);
    }
    this.pending = [Buffer.from(all)];
    this.pendingBytes = all.length;
  }

  private emitPending(ts: number): void {
    const bytes =
      this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    let end = bytes.length;
    if (end > 0 && bytes[end - 1] === CR) end--;
    this.emitValid(bytes.subarray(0, end), ts);
  }

  /** One piece of a line, made valid UTF-8 if it is not. */
  private emitValid(piece: Buffer, ts: number): void {
    const valid = isUtf8(piece) ? piece : Buffer.from(piece.toString("utf8"));
    let start = 0;
    while (valid.length - start > this.maxLineBytes) {
      const cut = this.cutPoint(valid, start, valid.length);
      this.sink(valid, start, cut, ts);
      start = cut;
    }
    this.sink(valid, start, valid.length, ts);
  }
}
