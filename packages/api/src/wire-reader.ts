// Reading protobuf wire format by hand, for the few hot-path messages decoded without protobuf-es.

/** A cursor over [start, end) of a buffer; every read checks the bounds and throws RangeError. */
export class WireReader {
  o: number;
  constructor(
    readonly buf: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.o = start;
  }

  varint(): number {
    let n = 0;
    let mul = 1;
    for (let shift = 0; shift < 70; shift += 7) {
      if (this.o >= this.end) throw new RangeError("protobuf: truncated varint");
      const b = this.buf[this.o++]!;
      n += (b & 0x7f) * mul;
      if (b < 0x80) return n;
      mul *= 0x80;
    }
    throw new RangeError("protobuf: varint too long");
  }

  /** [start, end) of a length-delimited field's bytes. */
  span(): [number, number] {
    const len = this.varint();
    const start = this.o;
    if (start + len > this.end) throw new RangeError("protobuf: truncated field");
    this.o = start + len;
    return [start, this.o];
  }

  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.o += 8;
    else if (wireType === 2) this.span();
    else if (wireType === 5) this.o += 4;
    else throw new RangeError(`LogEntry: unsupported wire type ${wireType}`);
    if (this.o > this.end) throw new RangeError("protobuf: truncated field");
  }
}

/**
 * The read position of `varintAt` and `skipAt`: one module-wide cursor, so that reading a field
 * allocates nothing (the hot decoders read millions of them). Not reentrant; nothing here awaits.
 */
export const cursor = { at: 0 };

/** The varint at `cursor.at` in buf (before `limit`), moving the cursor past it. */
export function varintAt(buf: Buffer, limit: number): number {
  let b = cursor.at < limit ? buf[cursor.at++]! : -1;
  if (b < 0x80) {
    if (b < 0) throw new RangeError("protobuf: truncated varint");
    return b;
  }
  let n = b & 0x7f;
  let mul = 0x80;
  for (let i = 1; i < 10; i++) {
    if (cursor.at >= limit) throw new RangeError("protobuf: truncated varint");
    b = buf[cursor.at++]!;
    n += (b & 0x7f) * mul;
    if (b < 0x80) return n;
    mul *= 0x80;
  }
  throw new RangeError("protobuf: varint too long");
}

/** The end of the length-delimited field whose length is at `cursor.at`; the cursor moves to its start. */
export function spanEndAt(buf: Buffer, limit: number): number {
  const len = varintAt(buf, limit); // read before `cursor.at` is
  const end = cursor.at + len;
  if (end > limit) throw new RangeError("protobuf: truncated field");
  return end;
}

/** Moves the cursor past a field of wire type `wireType`. */
export function skipAt(buf: Buffer, limit: number, wireType: number): void {
  if (wireType === 0) varintAt(buf, limit);
  else if (wireType === 1) cursor.at += 8;
  else if (wireType === 2) cursor.at = spanEndAt(buf, limit);
  else if (wireType === 5) cursor.at += 4;
  else throw new RangeError(`protobuf: unsupported wire type ${wireType}`);
  if (cursor.at > limit) throw new RangeError("protobuf: truncated field");
}
