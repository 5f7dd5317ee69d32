// `WorkerMessage { batch: WorkerMessages }` by hand: a worker joins the messages it has ready at once
// (already encoded) into one frame, and the control plane splits them back into the encoded messages,
// which it decodes as it decodes any single one. A frame saved is a write on the worker and a read, an
// HTTP/2 frame and a turn of the event loop on the control plane.
import { varintSize, writeVarint } from "./log-entry-codec.js";
import { WireReader } from "./wire-reader.js";

const TAG_WORKER_BATCH = 0x3a; // WorkerMessage.batch = 7
const TAG_MESSAGES = 0x0a; // WorkerMessages.messages = 1

/** One `WorkerMessage { batch }` holding `messages` (each an encoded WorkerMessage), in order. */
export function encodeWorkerBatch(messages: readonly Uint8Array[]): Buffer {
  let inner = 0;
  for (const m of messages) inner += 1 + varintSize(m.length) + m.length;
  const out = Buffer.allocUnsafe(1 + varintSize(inner) + inner);
  out[0] = TAG_WORKER_BATCH;
  let o = writeVarint(out, 1, inner);
  for (const m of messages) {
    out[o++] = TAG_MESSAGES;
    o = writeVarint(out, o, m.length);
    out.set(m, o);
    o += m.length;
  }
  return out;
}

/**
 * The encoded messages of a `WorkerMessage { batch }` (views into `bytes`); null when `bytes` is any
 * other message. Throws RangeError on a malformed batch.
 */
export function splitWorkerBatch(bytes: Buffer): Buffer[] | null {
  if (bytes.length === 0 || bytes[0] !== TAG_WORKER_BATCH) return null;
  const outer = new WireReader(bytes, 1, bytes.length);
  const [start, end] = outer.span();
  if (end !== bytes.length) return null; // more fields follow: protobuf-es decides
  const r = new WireReader(bytes, start, end);
  const parts: Buffer[] = [];
  while (r.o < end) {
    const tag = r.varint();
    if (tag === TAG_MESSAGES) {
      const [s, e] = r.span();
      parts.push(bytes.subarray(s, e));
    } else r.skip(tag & 7);
  }
  return parts;
}
