// Bridges protobuf-es descriptors to @grpc/grpc-js: one schema (protoc-gen-es output) serves
// the grpc-js server and clients here and Connect clients in the browser.
import type { Http2Session } from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { SelfEncoded } from "./self-encoded.js";
import {
  fromBinary,
  toBinary,
  create,
  type DescMessage,
  type DescMethod,
  type DescService,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";

/** A request decoder that replaces protobuf-es's for one method (a hand-written hot-path codec). */
export type RequestDecoder = (bytes: Buffer) => unknown;

function methodDefinition(
  service: DescService,
  m: DescMethod,
  decode?: RequestDecoder,
): grpc.MethodDefinition<unknown, unknown> {
  const streamIn = m.methodKind === "client_streaming" || m.methodKind === "bidi_streaming";
  const streamOut = m.methodKind === "server_streaming" || m.methodKind === "bidi_streaming";
  return {
    path: `/${service.typeName}/${m.name}`,
    requestStream: streamIn,
    responseStream: streamOut,
    requestSerialize: (v) => Buffer.from(toBinary(m.input, v as MessageShape<DescMessage>)),
    requestDeserialize: decode ?? ((b: Buffer) => fromBinary(m.input, b)),
    // A handler may write a message it encoded itself (see writeEncoded): sent as is.
    responseSerialize: (v) =>
      Buffer.isBuffer(v)
        ? v
        : v instanceof SelfEncoded
          ? v.encodeTransient()
          : Buffer.from(toBinary(m.output, v as MessageShape<DescMessage>)),
    responseDeserialize: (b: Buffer) => fromBinary(m.output, b),
    originalName: m.localName,
  };
}

/** A grpc-js service definition for a protobuf-es service descriptor. */
export function grpcServiceDefinition(
  service: DescService,
  decoders: Record<string, RequestDecoder> = {},
): grpc.ServiceDefinition {
  const def: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const m of service.methods) def[m.localName] = methodDefinition(service, m, decoders[m.localName]);
  return def;
}

type Methods<S> = S extends GenService<infer R> ? R : never;
type In<M> = M extends { input: infer I extends DescMessage } ? MessageShape<I> : never;
type Out<M> = M extends { output: infer O extends DescMessage } ? MessageShape<O> : never;
type OutInit<M> = M extends { output: infer O extends DescMessage }
  ? MessageInitShape<O> | MessageShape<O>
  : never;

/** Typed grpc-js handlers for a generated service: unary ones return a promise. */
export type GrpcHandlers<S extends GenService<GenServiceMethods>> = {
  [K in keyof Methods<S>]: Methods<S>[K] extends { methodKind: "unary" }
    ? (
        req: In<Methods<S>[K]>,
        call: grpc.ServerUnaryCall<In<Methods<S>[K]>, Out<Methods<S>[K]>>,
      ) => Promise<OutInit<Methods<S>[K]>>
    : Methods<S>[K] extends { methodKind: "server_streaming" }
      ? (call: grpc.ServerWritableStream<In<Methods<S>[K]>, Out<Methods<S>[K]>>) => void | Promise<void>
      : (call: grpc.ServerDuplexStream<In<Methods<S>[K]>, Out<Methods<S>[K]>>) => void | Promise<void>;
};

/**
 * Writes a response message already in wire format (a hand-encoded hot-path message, or one that
 * encodes itself) to a server stream; resolves once the stream can take more (backpressure).
 */
export function writeEncoded(
  call: grpc.ServerWritableStream<unknown, unknown>,
  bytes: Buffer | SelfEncoded,
): Promise<void> {
  if (call.write(bytes)) return Promise.resolve();
  return new Promise((resolve) => call.once("drain", () => resolve()));
}

/**
 * How much a peer may send us on one stream, and on one connection, before it must wait for us to
 * say we have read it. HTTP/2 starts both at 64 KB, so a stream of logs waited for a round trip
 * (through both event loops) every 32 KB or so: about 200 stalls for `seq 1000000`.
 */
export const RECEIVE_WINDOW_BYTES = 1024 * 1024;

/** The HTTP/2 session under a grpc-js server call, found through the call objects that wrap it. */
export function http2SessionOf(call: object): Http2Session | undefined {
  // grpc-js takes no flow-control option for a server (only for a channel), and keeps the session
  // private: a handler's call wraps an intercepting call, which wraps the one holding the stream.
  type Wrapper = { call?: object; nextCall?: object; stream?: { session?: Http2Session } };
  let c: Wrapper | undefined = call as Wrapper;
  for (let depth = 0; c !== undefined && depth < 8; depth++) {
    if (c.stream?.session) return c.stream.session;
    c = (c.call ?? c.nextCall) as Wrapper | undefined;
  }
  return undefined;
}

const widened = new WeakSet<Http2Session>();

/**
 * Lets the client of a server call send up to RECEIVE_WINDOW_BYTES ahead on each of its streams (and
 * on the connection) instead of HTTP/2's 64 KB. For a call whose client sends much (a worker's
 * logs). Returns false when the session cannot be found (a grpc-js whose internals changed).
 */
export function widenReceiveWindow(call: object): boolean {
  const session = http2SessionOf(call);
  if (session === undefined || session.destroyed) return false;
  if (widened.has(session)) return true;
  try {
    session.setLocalWindowSize(RECEIVE_WINDOW_BYTES);
    session.settings({ initialWindowSize: RECEIVE_WINDOW_BYTES });
  } catch {
    return false; // the session is going away: nothing to widen
  }
  widened.add(session);
  return true;
}

/** Maps a thrown value to a grpc status; supplied by the server's error model. */
export type ErrorMapper = (err: unknown) => Partial<grpc.StatusObject> & { code: grpc.status };

/**
 * Registers typed handlers; a unary handler's rejection becomes a gRPC status via `mapError`.
 * `decoders` replace protobuf-es's request decoding for the methods they name (by local name).
 */
export function addService<S extends GenService<GenServiceMethods>>(
  server: grpc.Server,
  service: S,
  handlers: GrpcHandlers<S>,
  mapError: ErrorMapper,
  decoders: Record<string, RequestDecoder> = {},
): void {
  const impl: grpc.UntypedServiceImplementation = {};
  const byName = handlers as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const m of service.methods) {
    const h = byName[m.localName];
    if (!h) throw new Error(`no handler for ${service.typeName}/${m.name}`);
    if (m.methodKind === "unary") {
      impl[m.localName] = (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        (h(call.request, call) as Promise<MessageInitShape<DescMessage>>).then(
          (res) => cb(null, create(m.output, res)),
          (err: unknown) => cb(mapError(err)),
        );
      };
    } else {
      impl[m.localName] = h as grpc.UntypedHandleCall;
    }
  }
  server.addService(grpcServiceDefinition(service, decoders), impl);
}

export type UnaryMethod<I extends DescMessage, O extends DescMessage> = DescMethod & {
  methodKind: "unary";
  input: I;
  output: O;
};
export type StreamMethod<I extends DescMessage, O extends DescMessage> = DescMethod & {
  methodKind: "server_streaming";
  input: I;
  output: O;
};
type BidiMethod<I extends DescMessage, O extends DescMessage> = DescMethod & {
  methodKind: "bidi_streaming";
  input: I;
  output: O;
};

function path(m: DescMethod): string {
  return `/${m.parent.typeName}/${m.name}`;
}

export interface CallOptions {
  deadlineMs?: number;
  metadata?: Record<string, string>;
}

function toMetadata(md: Record<string, string> | undefined): grpc.Metadata {
  const out = new grpc.Metadata();
  for (const [k, v] of Object.entries(md ?? {})) out.set(k, v);
  return out;
}

function callOptions(opts: CallOptions): grpc.CallOptions {
  return opts.deadlineMs ? { deadline: Date.now() + opts.deadlineMs } : {};
}

/** One unary call through a plain grpc-js client. */
export function unary<I extends DescMessage, O extends DescMessage>(
  client: grpc.Client,
  method: UnaryMethod<I, O>,
  req: MessageInitShape<I>,
  opts: CallOptions = {},
): Promise<MessageShape<O>> {
  const msg = create(method.input, req);
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      path(method),
      (v: MessageShape<I>) => Buffer.from(toBinary(method.input, v)),
      (b: Buffer) => fromBinary(method.output, b),
      msg,
      toMetadata(opts.metadata),
      callOptions(opts),
      (err, res) => (err ? reject(err) : resolve(res as MessageShape<O>)),
    );
  });
}

/** A server-streaming call; iterate the returned stream with `for await`. */
export function serverStream<I extends DescMessage, O extends DescMessage>(
  client: grpc.Client,
  method: StreamMethod<I, O>,
  req: MessageInitShape<I>,
  opts: CallOptions = {},
): grpc.ClientReadableStream<MessageShape<O>> {
  return client.makeServerStreamRequest(
    path(method),
    (v: MessageShape<I>) => Buffer.from(toBinary(method.input, v)),
    (b: Buffer) => fromBinary(method.output, b),
    create(method.input, req),
    toMetadata(opts.metadata),
    callOptions(opts),
  );
}

/** A bidirectional stream. */
export function bidiStream<I extends DescMessage, O extends DescMessage>(
  client: grpc.Client,
  method: BidiMethod<I, O>,
  opts: CallOptions = {},
): grpc.ClientDuplexStream<MessageShape<I>, MessageShape<O>> {
  return client.makeBidiStreamRequest(
    path(method),
    (v: MessageShape<I>) => Buffer.from(toBinary(method.input, v)),
    (b: Buffer) => fromBinary(method.output, b),
    toMetadata(opts.metadata),
    callOptions(opts),
  );
}

/** A plaintext (or TLS, when credentials are given) client for `address` (host:port). */
export function connectClient(address: string, credentials?: grpc.ChannelCredentials): grpc.Client {
  return new grpc.Client(address, credentials ?? grpc.credentials.createInsecure(), {
    "grpc.max_receive_message_length": 64 * 1024 * 1024,
    "grpc.max_send_message_length": 64 * 1024 * 1024,
    "grpc.keepalive_time_ms": 30_000,
    // What a server streams to us (logs followed live) flows without a round trip every 32 KB.
    "grpc-node.flow_control_window": RECEIVE_WINDOW_BYTES,
  });
}
