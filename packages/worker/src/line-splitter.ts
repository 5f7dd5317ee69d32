/** The longest line sent as one log line; longer ones are cut into pieces of at most this size. */
export const MAX_LINE_BYTES = 1024 * 1024;

const NEWLINE = 0x0a;
const CR = 13;

/** Receives each complete line (without its `\n` or trailing `\r`) and when the chunk holding it arrived. */
export type LineSink = (line: string, timestampMs: number) => void;

function stripCr(line: string): string {
  return line.length > 0 && line.charCodeAt(line.length - 1) === CR ? line.slice(0, -1) : line;
}

/** A cut point at or below `at` that does not fall inside a UTF-8 sequence (unless the data is not UTF-8). */
function utf8Boundary(buf: Buffer, at: number): number {
  for (let i = at; i > at - 4 && i > 0; i--) {
    if ((buf[i]! & 0xc0) !== 0x80) return i;
  }
  return at;
}

/**
 * Splits a byte stream into lines as the bytes arrive. Each chunk is decoded once (invalid UTF-8
 * becomes U+FFFD); only the unfinished tail of a chunk is kept, and a line longer than `maxLineBytes`
 * is emitted in pieces, so memory stays bounded whatever the child prints.
 */
export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(
    private readonly sink: LineSink,
    private readonly maxLineBytes = MAX_LINE_BYTES,
    private readonly now: () => number = Date.now,
  ) {}

  push(chunk: Buffer): void {
    const ts = this.now();
    let start = 0;
    if (this.pendingBytes > 0) {
      const nl = chunk.indexOf(NEWLINE);
      if (nl < 0) {
        this.appendPending(chunk, ts);
        return;
      }
      this.appendPending(chunk.subarray(0, nl), ts);
      this.emitPending(ts);
      start = nl + 1;
    }
    const last = chunk.lastIndexOf(NEWLINE);
    if (last >= start) {
      if (last - start <= this.maxLineBytes) this.emitText(chunk.toString("utf8", start, last), ts);
      else this.emitLong(chunk, start, last, ts);
      start = last + 1;
    }
    if (start < chunk.length) this.appendPending(Buffer.from(chunk.subarray(start)), ts);
  }

  /** End of stream: an unfinished last line is a line too. */
  end(): void {
    if (this.pendingBytes > 0) this.emitPending(this.now());
  }

  /** Lines separated by `\n`, none longer than the cap. */
  private emitText(text: string, ts: number): void {
    const sink = this.sink;
    let from = 0;
    for (;;) {
      const nl = text.indexOf("\n", from);
      if (nl < 0) {
        sink(stripCr(from === 0 ? text : text.slice(from)), ts);
        return;
      }
      sink(stripCr(text.slice(from, nl)), ts);
      from = nl + 1;
    }
  }

  /** A region of complete lines of which some may exceed the cap: split line by line in bytes. */
  private emitLong(chunk: Buffer, start: number, end: number, ts: number): void {
    while (start <= end) {
      let nl = chunk.indexOf(NEWLINE, start);
      if (nl < 0 || nl > end) nl = end;
      let from = start;
      while (nl - from > this.maxLineBytes) {
        const cut = utf8Boundary(chunk, from + this.maxLineBytes);
        this.sink(chunk.toString("utf8", from, cut), ts);
        from = cut;
      }
      this.sink(stripCr(chunk.toString("utf8", from, nl)), ts);
      start = nl + 1;
    }
  }

  private appendPending(part: Buffer, ts: number): void {
    if (part.length === 0) return;
    this.pending.push(part);
    this.pendingBytes += part.length;
    if (this.pendingBytes <= this.maxLineBytes) return;
    let all = Buffer.concat(this.pending, this.pendingBytes);
    while (all.length > this.maxLineBytes) {
      const cut = utf8Boundary(all, this.maxLineBytes);
      this.sink(all.toString("utf8", 0, cut), ts);
      all = all.subarray(cut);
    }
    this.pending = [Buffer.from(all)];
    this.pendingBytes = all.length;
  }

  private emitPending(ts: number): void {
    const bytes = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    this.sink(stripCr(bytes.toString("utf8")), ts);
  }
}
