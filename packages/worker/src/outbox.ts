import type { WorkerMessage } from "@hodei/api";
import { isEncodedMessage, type EncodedMessage } from "./encoded-message.js";

/** A message for the control plane: a protobuf-es message, or one already encoded (log batches). */
export type OutboundMessage = WorkerMessage | EncodedMessage;

/** The part of a grpc-js client stream the outbox writes to. */
export interface MessageWriter {
  write(message: OutboundMessage, callback?: () => void): boolean;
  once(event: "drain", listener: () => void): unknown;
}

/**
 * Messages for the control plane, in order, surviving a broken stream: they wait here while there
 * is no stream or the stream asks to wait (`write()` returned false), and go out once it drains or a
 * new stream is attached. It is `blocked` meanwhile, which producers must honour (the job's output
 * is paused), so it never grows by more than what a producer had already read.
 */
export class Outbox {
  private queue: (OutboundMessage | undefined)[] = [];
  private head = 0;
  private writer: MessageWriter | undefined;
  private waitingForDrain = false;

  /** `onUnblocked` runs each time the outbox goes from blocked to able to send. */
  constructor(private readonly onUnblocked: () => void) {}

  get blocked(): boolean {
    return this.writer === undefined || this.waitingForDrain || this.head < this.queue.length;
  }

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

  /** Queues a message; returns false if the outbox is now blocked (the caller should pause). */
  send(message: OutboundMessage): boolean {
    if (this.writer !== undefined && !this.waitingForDrain && this.head === this.queue.length) {
      this.write(this.writer, message);
    } else {
      this.queue.push(message);
    }
    return !this.blocked;
  }

  /** Drops queued messages matching `predicate` (e.g. heartbeats made stale by a reconnect). */
  discard(predicate: (m: OutboundMessage) => boolean): void {
    const kept: OutboundMessage[] = [];
    for (const m of this.queue.slice(this.head)) {
      if (m === undefined) continue;
      if (!predicate(m)) kept.push(m);
      else if (isEncodedMessage(m)) m.release();
    }
    this.queue = kept;
    this.head = 0;
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
      this.write(writer, message);
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    }
    if (!this.blocked) this.onUnblocked();
  }
}
