// The client side of SubscribeLogs for code that reads many lines: several lines per message,
// decoded by hand (log-entry-codec.ts) instead of one protobuf-es message per line.
import * as grpc from "@grpc/grpc-js";
import { create, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { SubscribeLogsRequestSchema } from "./gen/hodei/log_stream_pb.js";
import { decodeLogEntry, decodeLogText, type LogLines, type LogText } from "./log-entry-codec.js";
import type { CallOptions } from "./grpc.js";

/** Lines per message a batched subscription asks for unless told otherwise. */
export const DEFAULT_LINES_PER_MESSAGE = 4096;

/**
 * SubscribeLogs, each message giving several lines (`maxLinesPerMessage`, default 4096; the server
 * also bounds a message's bytes). Iterate with `for await` or listen to "data".
 */
export function subscribeLogLines(
  client: grpc.Client,
  req: MessageInitShape<typeof SubscribeLogsRequestSchema>,
  opts: CallOptions = {},
): grpc.ClientReadableStream<LogLines> {
  return subscribe(client, { ...req, textBlocks: false }, decodeLogEntry, opts);
}

/**
 * SubscribeLogs asking for text blocks: each message gives parts of text, a part being the lines of
 * one stream and time as one string (each line ending in "\n"), as the worker read them. The
 * cheapest way to follow a job's output when it is printed or stored as text.
 */
export function subscribeLogText(
  client: grpc.Client,
  req: MessageInitShape<typeof SubscribeLogsRequestSchema>,
  opts: CallOptions = {},
): grpc.ClientReadableStream<LogText> {
  return subscribe(client, { ...req, textBlocks: true }, decodeLogText, opts);
}

function subscribe<T>(
  client: grpc.Client,
  req: MessageInitShape<typeof SubscribeLogsRequestSchema>,
  decode: (b: Buffer) => T,
  opts: CallOptions,
): grpc.ClientReadableStream<T> {
  const msg = create(SubscribeLogsRequestSchema, {
    maxLinesPerMessage: DEFAULT_LINES_PER_MESSAGE,
    ...req,
  });
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(opts.metadata ?? {})) metadata.set(k, v);
  return client.makeServerStreamRequest(
    "/hodei.LogStreamService/SubscribeLogs",
    (v: typeof msg) => Buffer.from(toBinary(SubscribeLogsRequestSchema, v)),
    decode,
    msg,
    metadata,
    opts.deadlineMs ? { deadline: Date.now() + opts.deadlineMs } : {},
  );
}
