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
