/**
 * A message for the control plane already in protobuf wire format, in a buffer lent by a pool:
 * `release()` gives the buffer back once the transport has taken its copy.
 */
export interface EncodedMessage {
  readonly bytes: Buffer;
  release(): void;
}

export function isEncodedMessage(m: object): m is EncodedMessage {
  return (m as Partial<EncodedMessage>).bytes instanceof Uint8Array;
}

/**
 * Reusable buffers of one size. Without it every log batch is a fresh off-heap buffer that lives
 * until V8 happens to collect it, which under a fast job means tens of MB of garbage.
 */
export class BufferPool {
  private readonly free: Buffer[] = [];

  constructor(
    readonly bufferBytes: number,
    private readonly maxFree: number,
  ) {}

  /** A pooled buffer, or a one-off one when `minBytes` exceeds the pool's size. */
  acquire(minBytes = this.bufferBytes): Buffer {
    if (minBytes > this.bufferBytes) return Buffer.allocUnsafeSlow(minBytes);
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.bufferBytes);
  }

  release(buf: Buffer): void {
    if (buf.length === this.bufferBytes && this.free.length < this.maxFree) this.free.push(buf);
  }
}
