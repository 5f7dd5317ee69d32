/** The CLI's one connection to the control plane: unary calls with a deadline and mapped errors. */
import * as grpc from "@grpc/grpc-js";
import type { DescMessage, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import {
  connectClient,
  serverStream,
  unary,
  type StreamMethod as ServerStreaming,
  type UnaryMethod as Unary,
} from "@hodei/api";
import { toCliError } from "./errors.js";

export const DEFAULT_SERVER_ADDRESS = "127.0.0.1:50051";
export const DEFAULT_DEADLINE_MS = 10_000;

export interface ServerTarget {
  /** host:port as grpc-js wants it. */
  target: string;
  tls: boolean;
}

/** Accepts `host:port`, `http://host:port` and `https://host:port` (TLS). */
export function parseServerAddress(address: string): ServerTarget {
  const m = /^(https?):\/\/([^/]+)\/?$/i.exec(address.trim());
  if (m) return { target: m[2] as string, tls: (m[1] as string).toLowerCase() === "https" };
  return { target: address.trim(), tls: false };
}

export class HodeiClient {
  readonly address: string;
  private readonly client: grpc.Client;
  private readonly deadlineMs: number;

  constructor(address: string, deadlineMs = DEFAULT_DEADLINE_MS) {
    const { target, tls } = parseServerAddress(address);
    this.address = address;
    this.deadlineMs = deadlineMs;
    this.client = connectClient(target, tls ? grpc.credentials.createSsl() : undefined);
  }

  /** One unary call; a gRPC failure becomes a CliError that names the job when given. */
  async call<I extends DescMessage, O extends DescMessage>(
    method: Unary<I, O>,
    req: MessageInitShape<I>,
    ctx: { jobId?: string } = {},
  ): Promise<MessageShape<O>> {
    try {
      return await unary(this.client, method, req, { deadlineMs: this.deadlineMs });
    } catch (err) {
      throw toCliError(err, { address: this.address, deadlineMs: this.deadlineMs, ...ctx });
    }
  }

  /** A server stream without deadline; the caller maps or retries its errors. */
  stream<I extends DescMessage, O extends DescMessage>(
    method: ServerStreaming<I, O>,
    req: MessageInitShape<I>,
  ): grpc.ClientReadableStream<MessageShape<O>> {
    return serverStream(this.client, method, req);
  }

  close(): void {
    this.client.close();
  }
}
