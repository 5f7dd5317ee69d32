import { test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { setImmediate as turnEnd } from "node:timers/promises";
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { WorkerMessageSchema, splitWorkerBatch } from "@hodei/api";
import type { EncodedMessage } from "../src/encoded-message.js";
import { BATCH_BYTES, Outbox, type MessageWriter, type OutboundMessage } from "../src/outbox.js";

/** A stream stand-in that accepts `room` writes before asking to wait, and records what it got. */
class FakeWriter extends EventEmitter implements MessageWriter {
  readonly frames: Buffer[] = [];
  readonly callbacks: (() => void)[] = [];
  constructor(public room: number) {
    super();
  }
  /** Each frame as text: a batch as its messages joined by "+". */
  get written(): string[] {
    return this.frames.map((f) =>
      (splitWorkerBatch(f) ?? [f]).map((m) => (m.length > 20 ? `<${m.length}>` : m.toString())).join("+"),
    );
  }
  write(message: OutboundMessage, callback?: () => void): boolean {
    assert.ok("bytes" in message, "the outbox encodes what it writes");
    this.frames.push(Buffer.from(message.bytes));
    if (callback) this.callbacks.push(callback);
    return --this.room > 0;
  }
  drain(room: number): void {
    this.room = room;
    this.emit("drain");
  }
}

function encoded(text: string, released: string[]): EncodedMessage {
  return { bytes: Buffer.from(text), release: () => released.push(text) };
}

test("connected: what is sent in one turn is written at its end, small messages as one frame", async () => {
  const released: string[] = [];
  const outbox = new Outbox(() => {});
  const w = new FakeWriter(10);
  outbox.attach(w);
  assert.equal(outbox.send(encoded("ack", released)), true);
  assert.equal(outbox.send(encoded("lines", released)), true);
  assert.equal(outbox.send(encoded("result", released)), true);
  assert.deepEqual(w.frames, [], "nothing written before the turn ends");
  assert.equal(outbox.size, 3);
  await turnEnd();
  assert.deepEqual(w.written, ["ack+lines+result"]);
  assert.deepEqual(released, ["ack", "lines", "result"], "joined: their buffers go back at once");
  assert.equal(outbox.size, 0);
  // A lone message is written as it is, its buffer back once the transport is done with it.
  outbox.send(encoded("alone", released));
  await turnEnd();
  assert.deepEqual(w.written.slice(1), ["alone"]);
  assert.equal(released.includes("alone"), false);
  for (const cb of w.callbacks) cb();
  assert.equal(released.includes("alone"), true);
});

test("a frame of several messages is one WorkerMessage{batch} of them, in order; big ones go alone", async () => {
  const outbox = new Outbox(() => {});
  const w = new FakeWriter(10);
  outbox.attach(w);
  const message = (payload: MessageInitShape<typeof WorkerMessageSchema>["payload"]) =>
    create(WorkerMessageSchema, { payload });
  const ack = message({ case: "ack", value: { jobId: "j1", executionId: "e1", accepted: true } });
  const result = message({ case: "result", value: { jobId: "j1", executionId: "e1", exitCode: 3 } });
  const big = Buffer.alloc(BATCH_BYTES + 1, 0x41);
  outbox.send(message({ case: "heartbeat", value: { workerId: "w1" } }));
  outbox.send({ bytes: Buffer.from(toBinary(WorkerMessageSchema, ack)), release: () => {} });
  outbox.send({ bytes: big, release: () => {} });
  outbox.send(result);
  await turnEnd();
  assert.equal(w.frames.length, 3);
  const batch = fromBinary(WorkerMessageSchema, w.frames[0]!);
  assert.equal(batch.payload.case, "batch");
  assert.deepEqual(
    batch.payload.value.messages.map((m) => m.payload.case),
    ["heartbeat", "ack"],
    "protobuf-es reads the frame as the messages, in order",
  );
  assert.deepEqual(batch.payload.value.messages[1], ack);
  assert.equal(splitWorkerBatch(w.frames[0]!)!.length, 2);
  assert.ok(w.frames[1]!.equals(big), "a message over BATCH_BYTES is not copied into a batch");
  assert.deepEqual(fromBinary(WorkerMessageSchema, w.frames[2]!), result, "a lone message as it is");
});

test("connected: once the stream asks to wait, later messages queue in order until drain", async () => {
  let unblocked = 0;
  const released: string[] = [];
  const outbox = new Outbox(() => unblocked++);
  const w = new FakeWriter(1);
  outbox.attach(w);
  assert.equal(outbox.send(encoded("a", released)), true);
  await turnEnd();
  assert.equal(outbox.blocked, true, "write() returned false");
  assert.equal(outbox.send(encoded("b", released)), false);
  assert.equal(outbox.send(encoded("c", released)), false);
  assert.deepEqual(w.written, ["a"]);
  assert.deepEqual(
    released,
    ["b", "c"],
    "a queued message keeps a copy of its bytes and gives its buffer back",
  );
  w.drain(10);
  assert.deepEqual(w.written, ["a", "b", "c"]);
  assert.equal(outbox.blocked, false);
  assert.ok(unblocked >= 1);
});

test("a stream lost in the turn a message was sent hands it to the next stream", async () => {
  const outbox = new Outbox(() => {});
  const old = new FakeWriter(10);
  outbox.attach(old);
  outbox.send(encoded("result", []));
  outbox.detach();
  await turnEnd();
  assert.deepEqual(old.written, []);
  assert.equal(outbox.size, 1);
  const fresh = new FakeWriter(10);
  outbox.attach(fresh);
  assert.deepEqual(fresh.written, ["result"]);
});

test("disconnected: messages wait for the next stream; blocked only past the backlog limit", () => {
  let unblocked = 0;
  const outbox = new Outbox(() => unblocked++, 10);
  const first = new FakeWriter(100);
  outbox.attach(first);
  outbox.detach();
  assert.equal(outbox.send(encoded("12345", [])), true);
  assert.equal(outbox.send(encoded("67890", [])), false, "10 bytes queued: blocked");
  assert.equal(outbox.size, 2);
  const second = new FakeWriter(100);
  outbox.attach(second);
  assert.deepEqual(second.written, ["12345", "67890"]);
  assert.deepEqual(first.written, []);
  assert.equal(outbox.blocked, false);
  assert.equal(unblocked, 2);
});

test("a drain from a stream that has since been replaced is ignored", async () => {
  const outbox = new Outbox(() => {});
  const old = new FakeWriter(1);
  outbox.attach(old);
  outbox.send(encoded("x", []));
  await turnEnd();
  outbox.detach();
  outbox.send(encoded("y", []));
  const fresh = new FakeWriter(1);
  outbox.attach(fresh);
  outbox.send(encoded("z", []));
  old.drain(10);
  assert.deepEqual(fresh.written, ["y"]);
  fresh.drain(10);
  assert.deepEqual(fresh.written, ["y", "z"]);
});
