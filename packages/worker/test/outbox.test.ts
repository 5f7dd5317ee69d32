import { test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import type { EncodedMessage } from "../src/encoded-message.js";
import { Outbox, type MessageWriter, type OutboundMessage } from "../src/outbox.js";

/** A stream stand-in that accepts `room` writes before asking to wait, and records what it got. */
class FakeWriter extends EventEmitter implements MessageWriter {
  readonly written: string[] = [];
  readonly callbacks: (() => void)[] = [];
  constructor(public room: number) {
    super();
  }
  write(message: OutboundMessage, callback?: () => void): boolean {
    this.written.push("bytes" in message ? message.bytes.toString() : "proto");
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

test("connected: writes go straight out until the stream asks to wait, then queue in order until drain", () => {
  let unblocked = 0;
  const released: string[] = [];
  const outbox = new Outbox(() => unblocked++);
  const w = new FakeWriter(2);
  outbox.attach(w);
  assert.equal(outbox.send(encoded("a", released)), true);
  assert.equal(outbox.send(encoded("b", released)), false, "write() returned false: blocked");
  assert.equal(outbox.send(encoded("c", released)), false);
  assert.deepEqual(w.written, ["a", "b"]);
  assert.deepEqual(released, ["c"], "a queued message keeps a copy of its bytes and gives its buffer back");
  for (const cb of w.callbacks) cb();
  assert.deepEqual(released, ["c", "a", "b"], "written buffers go back once the transport is done");
  w.drain(10);
  assert.deepEqual(w.written, ["a", "b", "c"]);
  assert.equal(outbox.blocked, false);
  assert.ok(unblocked >= 1);
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

test("a drain from a stream that has since been replaced is ignored", () => {
  const outbox = new Outbox(() => {});
  const old = new FakeWriter(1);
  outbox.attach(old);
  outbox.send(encoded("x", []));
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
