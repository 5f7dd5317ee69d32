// HTTP/2 flow control between a real grpc-js client and server: a handler that widens its receive
// window (as WorkerStream does for a worker's logs) lets its client send RECEIVE_WINDOW_BYTES ahead
// instead of HTTP/2's 64 KB, on the stream and on the connection; every byte still arrives.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { RECEIVE_WINDOW_BYTES, connectClient, http2SessionOf, widenReceiveWindow } from "../src/index.js";

const same = (b: Buffer): Buffer => b;
const push: grpc.MethodDefinition<Buffer, Buffer> = {
  path: "/test.Window/Push",
  requestStream: true,
  responseStream: false,
  requestSerialize: same,
  requestDeserialize: same,
  responseSerialize: same,
  responseDeserialize: same,
};

interface Seen {
  widened: boolean;
  streamWindow: number;
  connectionWindow: number;
  received: number;
}

/** Streams `bytes` to a handler that widens (or not) its window once the client's settings are in. */
async function streamTo(widen: boolean, bytes: number): Promise<Seen> {
  const server = new grpc.Server();
  let seen: Promise<Omit<Seen, "received">> | undefined;
  let received = 0;
  server.addService(
    { push },
    {
      push(call: grpc.ServerReadableStream<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) {
        const widened = widen && widenReceiveWindow(call);
        const session = http2SessionOf(call);
        assert.ok(session, "the call's HTTP/2 session is found");
        const settled = widened
          ? new Promise<void>((resolve) => session.once("localSettings", () => resolve()))
          : Promise.resolve();
        seen = settled.then(() => ({
          widened,
          streamWindow: session.localSettings.initialWindowSize ?? 0,
          connectionWindow: session.state.localWindowSize ?? 0,
        }));
        call.on("data", (b: Buffer) => (received += b.length));
        call.on("end", () => cb(null, Buffer.alloc(0)));
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  const client = connectClient(`127.0.0.1:${port}`);
  try {
    await new Promise<void>((resolve, reject) => {
      const call = client.makeClientStreamRequest(push.path, same, same, (err) =>
        err ? reject(err) : resolve(),
      );
      for (let sent = 0; sent < bytes; sent += 16 * 1024) call.write(Buffer.alloc(16 * 1024, 7));
      call.end();
    });
    assert.ok(seen, "the handler ran");
    return { ...(await seen), received };
  } finally {
    client.close();
    server.forceShutdown();
  }
}

test("a grpc-js server call starts with HTTP/2's 64 KB receive window", async () => {
  const seen = await streamTo(false, 256 * 1024);
  assert.equal(seen.streamWindow, 65_535);
  assert.equal(seen.received, 256 * 1024);
});

test("widenReceiveWindow raises the stream's and the connection's window; every byte arrives", async () => {
  const seen = await streamTo(true, 2 * 1024 * 1024);
  assert.equal(seen.widened, true, "the call's HTTP/2 session was found");
  assert.equal(seen.streamWindow, RECEIVE_WINDOW_BYTES);
  assert.ok(
    seen.connectionWindow >= RECEIVE_WINDOW_BYTES - 65_535,
    `connection window ${seen.connectionWindow}`,
  );
  assert.equal(seen.received, 2 * 1024 * 1024);
});
