import { toBinary } from "@bufbuild/protobuf";
import { WorkerMessageSchema, encodeWorkerBatch, type WorkerMessage } from "@hodei/api";
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

/** Messages written in the same turn of the event loop go in one frame up to this size together. */
export const BATCH_BYTES = 64 * 1024;

const noRelease = (): void => {};

/**
 * `messages` as the frames to write: runs of small messages joined into one `WorkerMessage{batch}`
 * (a short job's acceptance, header, result), a message too big to join with its neighbours as is
 * (a large log batch is not copied).
 */
export function framesOf(messages: readonly OutboundMessage[]): OutboundMessage[] {
  if (messages.length === 1) return [messages[0]!];
  const frames: OutboundMessage[] = [];
  let run: EncodedMessage[] = [];
  let runBytes = 0;
  const close = (): void => {
    if (run.length === 1) frames.push(run[0]!);
    else if (run.length > 1) {
      const bytes = encodeWorkerBatch(run.map((m) => m.bytes));
      for (const m of run) m.release();
      frames.push({ bytes, release: noRelease });
    }
    run = [];
    runBytes = 0;
  };
  for (const m of messages) {
    const encoded: EncodedMessage = isEncodedMessage(m)
      ? m
      : { bytes: Buffer.from(toBinary(WorkerMessageSchema, m)), release: noRelease };
    if (runBytes + encoded.bytes.length > BATCH_BYTES) close();
    if (encoded.bytes.length > BATCH_BYTES) frames.push(encoded);
    else {
      run.push(encoded);
      runBytes += encoded.bytes.length;
    }
  }
  close();
  return frames;
}

/**
 * Messages for the control plane, in order, surviving a broken stream. While connected, the messages
 * sent in one turn of the event loop are written together at its end (`framesOf`: one frame where
 * they are small), and a message waits longer only when the stream asks to (`write()` returned
 * false) and the outbox is `blocked` until it drains. With no stream, messages wait for the next
 * one, and the outbox is `blocked` once `backlogBytes` are queued. Producers honour `blocked` (the
 * job's output is paused), so the queue never grows by more than what a producer had already read.
 */
export class Outbox {
  private queue: (OutboundMessage | undefined)[] = [];
  private head = 0;
  private queuedBytes = 0;
  private writer: MessageWriter | undefined;
  private waitingForDrain = false;
  /** Sent this turn, to be written at its end. */
  private turn: OutboundMessage[] = [];
  private turnScheduled = false;

  /** `onUnblocked` runs each time the outbox may have gone from blocked to able to take more. */
  constructor(
    private readonly onUnblocked: () => void,
    private readonly backlogBytes = DEFAULT_BACKLOG_BYTES,
  ) {}

  get blocked(): boolean {
    if (this.writer === undefined) return this.queuedBytes >= this.backlogBytes;
    return this.waitingForDrain || this.head < this.queue.length;
  }

  /** Messages not written yet. */
  get size(): number {
    return this.queue.length - this.head + this.turn.length;
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
    this.enqueue(this.takeTurn());
  }

  /** Sends or queues a message; returns false if the outbox is now blocked (the caller should pause). */
  send(message: OutboundMessage): boolean {
    if (this.writer !== undefined && !this.waitingForDrain && this.head === this.queue.length) {
      this.turn.push(message);
      if (!this.turnScheduled) {
        this.turnScheduled = true;
        setImmediate(() => this.endTurn());
      }
    } else {
      this.enqueue([message]);
    }
    return !this.blocked;
  }

  private takeTurn(): OutboundMessage[] {
    const turn = this.turn;
    this.turn = [];
    return turn;
  }

  private enqueue(messages: OutboundMessage[]): void {
    for (const message of messages) {
      const queued = compact(message);
      this.queue.push(queued);
      this.queuedBytes += sizeOf(queued);
    }
  }

  private endTurn(): void {
    this.turnScheduled = false;
    const turn = this.takeTurn();
    if (turn.length === 0) return;
    const writer = this.writer;
    if (writer === undefined || this.waitingForDrain || this.head < this.queue.length) {
      this.enqueue(turn); // (a stream that went away was given them at detach; this is a safeguard)
      return this.pump();
    }
    for (const frame of framesOf(turn)) {
      // Once the stream asks to wait (or is gone), the rest queue behind, in order.
      if (this.writer !== writer || this.waitingForDrain) this.enqueue([frame]);
      else this.write(writer, frame);
    }
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
