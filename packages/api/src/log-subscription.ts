// The client side of SubscribeLogs for code that reads many lines: several lines per message,
// decoded by hand (log-entry-codec.ts) instead of one protobuf-es message per line.
import * as grpc from "@grpc/grpc-js";
import { create, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { SubscribeLogsRequestSchema } from "./gen/hodei/log_stream_pb.js";
import { decodeLogEntry, type LogLines } from "./log-entry-codec.js";
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
  const msg = create(SubscribeLogsRequestSchema, {
    maxLinesPerMessage: DEFAULT_LINES_PER_MESSAGE,
    ...req,
  });
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(opts.metadata ?? {})) metadata.set(k, v);
  return client.makeServerStreamRequest(
    "/hodei.LogStreamService/SubscribeLogs",
    (v: typeof msg) => Buffer.from(toBinary(SubscribeLogsRequestSchema, v)),
    (b: Buffer) => decodeLogEntry(b),
    msg,
    metadata,
    opts.deadlineMs ? { deadline: Date.now() + opts.deadlineMs } : {},
  );
}
