import type { WorkerMessage } from "@hodei/api";
import { isEncodedMessage, type EncodedMessage } from "./encoded-message.js";

/** A message for the control plane: a protobuf-es message, or one already encoded (log batches). */
export type OutboundMessage = WorkerMessage | EncodedMessage;

/** The part of a grpc-js client stream the outbox writes to. */
export interface MessageWriter {
  write(message: OutboundMessage, callback?: () => void): boolean;
  once(event: "drain", listener: () => void): unknown;
}

/** How much encoded log a job may produce while there is no stream before it is paused. */
export const DEFAULT_BACKLOG_BYTES = 8 * 1024 * 1024;

/** A queued encoded message keeps only its bytes: the pooled buffer goes back at once. */
function compact(m: OutboundMessage): OutboundMessage {
  if (!isEncodedMessage(m)) return m;
  const bytes = Buffer.from(m.bytes);
  m.release();
  return { bytes, release: () => {} };
}

const sizeOf = (m: OutboundMessage): number => (isEncodedMessage(m) ? m.bytes.length : 64);

/**
 * Messages for the control plane, in order, surviving a broken stream. While connected, a message
 * waits here only when the stream asks to (`write()` returned false) and the outbox is `blocked`
 * until it drains. With no stream, messages wait for the next one, and the outbox is `blocked` once
 * `backlogBytes` are queued. Producers honour `blocked` (the job's output is paused), so the queue
 * never grows by more than what a producer had already read.
 */
export class Outbox {
  private queue: (OutboundMessage | undefined)[] = [];
  private head = 0;
  private queuedBytes = 0;
  private writer: MessageWriter | undefined;
  private waitingForDrain = false;

  /** `onUnblocked` runs each time the outbox may have gone from blocked to able to take more. */
  constructor(
    private readonly onUnblocked: () => void,
    private readonly backlogBytes = DEFAULT_BACKLOG_BYTES,
  ) {}

  get blocked(): boolean {
    if (this.writer === undefined) return this.queuedBytes >= this.backlogBytes;
    return this.waitingForDrain || this.head < this.queue.length;
  }

  /** Messages waiting for a stream. */
  get size(): number {
    return this.queue.length - this.head;
  }

  /** Starts writing to a new stream (after its hello has been written). */
  attach(writer: MessageWriter): void {
    this.writer = writer;
    this.waitingForDrain = false;
    this.pump();
  }

  /** The stream is gone: keep everything not yet written for the next one. */
  detach(): void {
    this.writer = undefined;
    this.waitingForDrain = false;
  }

  /** Sends or queues a message; returns false if the outbox is now blocked (the caller should pause). */
  send(message: OutboundMessage): boolean {
    if (this.writer !== undefined && !this.waitingForDrain && this.head === this.queue.length) {
      this.write(this.writer, message);
    } else {
      const queued = compact(message);
      this.queue.push(queued);
      this.queuedBytes += sizeOf(queued);
    }
    return !this.blocked;
  }

  private write(writer: MessageWriter, message: OutboundMessage): void {
    // An encoded message's buffer goes back to its pool once the transport is done with it.
    const ok = isEncodedMessage(message)
      ? writer.write(message, () => message.release())
      : writer.write(message);
    if (ok) return;
    this.waitingForDrain = true;
    writer.once("drain", () => {
      if (this.writer !== writer) return;
      this.waitingForDrain = false;
      this.pump();
    });
  }

  private pump(): void {
    const writer = this.writer;
    while (
      writer !== undefined &&
      this.writer === writer &&
      !this.waitingForDrain &&
      this.head < this.queue.length
    ) {
      const message = this.queue[this.head]!;
      this.queue[this.head++] = undefined; // written: let it be collected
      this.queuedBytes -= sizeOf(message);
      this.write(writer, message);
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    }
    if (!this.blocked) this.onUnblocked();
  }
}
