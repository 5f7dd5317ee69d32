import { readFile } from "node:fs/promises";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  ServerMessageSchema,
  WorkerAgentService,
  WorkerMessageSchema,
  connectClient,
  unary,
  type RegisterResponse,
  type ServerMessage,
  type WorkerInfo,
  type WorkerMessage,
} from "@hodei/api";
import { HodeiError } from "@hodei/core";
import type { WorkerConfig, WorkerTlsConfig } from "./config.js";
import { isEncodedMessage } from "./encoded-message.js";
import type { OutboundMessage } from "./outbox.js";

export type WorkerStream = grpc.ClientDuplexStream<OutboundMessage, ServerMessage>;

const REGISTER_DEADLINE_MS = 10_000;

async function credentials(tls: WorkerTlsConfig | undefined): Promise<grpc.ChannelCredentials | undefined> {
  if (!tls) return undefined;
  const read = (path: string | undefined): Promise<Buffer | null> =>
    path ? readFile(path) : Promise.resolve(null);
  const [ca, key, cert] = await Promise.all([read(tls.caCertPath), read(tls.keyPath), read(tls.certPath)]);
  return grpc.credentials.createSsl(ca, key, cert);
}

/** A grpc-js client for the control plane: plaintext, or TLS/mTLS when the config names PEM files. */
export async function createControlClient(config: WorkerConfig): Promise<grpc.Client> {
  return connectClient(config.serverAddress, await credentials(config.tls));
}

/** True for errors that retrying cannot fix: a bad, used or expired token, or a refused session. */
export function isAuthFailure(err: unknown): boolean {
  if (err instanceof HodeiError) return err.code === "OTP_INVALID" || err.code === "SESSION_INVALID";
  const code = (err as { code?: unknown } | null)?.code;
  return code === grpc.status.UNAUTHENTICATED || code === grpc.status.PERMISSION_DENIED;
}

/** Exchanges the OTP (and, on reconnection, the session) for a session. */
export async function register(
  client: grpc.Client,
  otpToken: string,
  workerInfo: WorkerInfo,
  sessionId: string,
): Promise<RegisterResponse> {
  const res = await unary(
    client,
    WorkerAgentService.method.register,
    { authToken: otpToken, workerInfo, sessionId },
    { deadlineMs: REGISTER_DEADLINE_MS },
  );
  if (!res.success) {
    throw new HodeiError(
      sessionId ? "SESSION_INVALID" : "OTP_INVALID",
      `registration refused: ${res.message || "no reason given"}`,
    );
  }
  return res;
}

function serializeOutbound(message: OutboundMessage): Buffer {
  if (isEncodedMessage(message)) return message.bytes;
  return Buffer.from(toBinary(WorkerMessageSchema, message));
}

/**
 * Opens the WorkerStream. Unlike @hodei/api's `bidiStream` it also accepts messages the worker has
 * already encoded (log batches are written straight into wire format on the hot path).
 */
export function openWorkerStream(client: grpc.Client): WorkerStream {
  const method = WorkerAgentService.method.workerStream;
  return client.makeBidiStreamRequest(
    `/${WorkerAgentService.typeName}/${method.name}`,
    serializeOutbound,
    (bytes: Buffer) => fromBinary(ServerMessageSchema, bytes),
    new grpc.Metadata(),
    {},
  );
}

/** A WorkerMessage carrying one payload. */
export function workerMessage(payload: WorkerMessage["payload"]): WorkerMessage {
  return create(WorkerMessageSchema, { payload });
}

/** `promise`, or a rejection as soon as `signal` aborts (the operation itself is left to finish). */
export function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new Error("aborted"));
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(new Error("aborted"));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/** The error to report for a failed call, with its gRPC code when it has one. */
export function describeError(err: unknown): string {
  const e = err as { code?: unknown; details?: unknown; message?: unknown } | null;
  if (typeof e?.code === "number" && typeof e.details === "string")
    return `${grpc.status[e.code]}: ${e.details}`;
  return err instanceof Error ? err.message : String(err);
}
