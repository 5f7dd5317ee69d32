// WorkerAgentService: OTP registration and the bidirectional job channel.
import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { fromBinary } from "@bufbuild/protobuf";
import {
  LogChunk,
  checkLogEntries,
  ServerMessageSchema,
  WorkerAgentService,
  WorkerMessageSchema,
  decodeWorkerLogBatch,
  splitWorkerBatch,
  widenReceiveWindow,
  type GrpcHandlers,
  type LogBatch,
  type RequestDecoder,
  type WireLogBatch,
  type WorkerMessage,
} from "@hodei/api";
import { HodeiError, invalid, LOCAL_LANE } from "@hodei/core";
import { consumeToken, updateWorker, type Database, type GroupCommitWriter } from "@hodei/store";
import type { Dispatcher } from "./dispatcher.js";
import type { Logger } from "./logger.js";
import type { WorkerRegistry } from "./worker-registry.js";

export interface WorkerChannelDeps {
  db: Database;
  writer: GroupCommitWriter;
  registry: WorkerRegistry;
  dispatcher: Dispatcher;
  logger: Logger;
  heartbeatIntervalMs: number;
}

const tokenErrors = {
  unknown: "the registration token is not valid",
  used: "the registration token was already used",
  expired: "the registration token has expired",
  wrong_worker: "the registration token belongs to another worker",
} as const;

/** What WorkerStream's decoder yields: a log batch decoded by hand, or any other message. */
type Incoming = WireLogBatch | WorkerMessage;

const decodeIncoming = (b: Buffer): Incoming => decodeWorkerLogBatch(b) ?? fromBinary(WorkerMessageSchema, b);

/**
 * Log batches, nearly every message on a busy worker's stream, skip protobuf-es (log-batch-codec); a
 * batch of messages (worker-batch-codec) becomes its messages, each decoded the same way.
 */
export const workerRequestDecoders: Record<string, RequestDecoder> = {
  workerStream: (b: Buffer): Incoming | Incoming[] =>
    splitWorkerBatch(b)?.map(decodeIncoming) ?? decodeIncoming(b),
};

function wireBatch(b: LogBatch): WireLogBatch {
  return {
    kind: "logBatch",
    jobId: b.jobId,
    executionId: b.executionId,
    chunk: (base) =>
      b.entries.length > 0
        ? checkLogEntries(Buffer.from(b.entries), 0, b.entries.length, base)
        : b.lines.length === 0
          ? null
          : LogChunk.fromLines(
              b.lines.map((l) => ({
                line: l.line,
                isStderr: l.isStderr,
                timestampMs: Number(l.timestampMs),
                sequence: Number(l.sequence) + base,
              })),
            ),
  };
}

export function workerHandlers(d: WorkerChannelDeps): GrpcHandlers<typeof WorkerAgentService> {
  return {
    async register(req) {
      const workerId = req.workerInfo?.workerId;
      if (!workerId) throw invalid("worker_info.worker_id", "is required");
      const existing = d.registry.get(workerId);
      if (req.sessionId) {
        if (existing && existing.sessionId === req.sessionId && existing.state !== "TERMINATED") {
          return {
            success: true,
            message: "session resumed",
            workerId,
            sessionId: req.sessionId,
            heartbeatIntervalMs: d.heartbeatIntervalMs,
          };
        }
        if (!req.authToken)
          throw new HodeiError("SESSION_INVALID", "unknown or expired session; register with a new token");
      }
      if (!req.authToken) throw invalid("auth_token", "is required");
      await existing?.tokenStored;
      const check = await consumeToken(d.db, req.authToken, workerId);
      if (check !== "ok")
        throw new HodeiError(check === "expired" ? "OTP_EXPIRED" : "OTP_INVALID", tokenErrors[check]);
      const w =
        existing ??
        d.registry.add(
          workerId,
          req.workerInfo?.provider || "external",
          null,
          req.workerInfo?.provider || LOCAL_LANE,
        );
      w.sessionId = randomUUID();
      w.hostname = req.workerInfo?.hostname ?? "";
      w.labels = { ...(req.workerInfo?.labels ?? {}) };
      w.lastSeenMs = Date.now();
      if (w.state === "CREATING") w.state = "CONNECTING";
      await updateWorker(d.db, workerId, { state: "CONNECTING", hostname: w.hostname, labels: w.labels });
      void d.writer.audit([
        {
          eventType: "WorkerRegistered",
          actor: `worker:${workerId}`,
          correlationId: workerId,
          payload: { hostname: w.hostname, provider: w.provider },
        },
      ]);
      return {
        success: true,
        message: "registered",
        workerId,
        sessionId: w.sessionId,
        heartbeatIntervalMs: d.heartbeatIntervalMs,
      };
    },

    workerStream(call) {
      // A worker streams its jobs' output here: a 64 KB window would make it wait a round trip every 32 KB.
      if (!widenReceiveWindow(call)) d.logger.warn({}, "cannot widen the worker stream's HTTP/2 window");
      let workerId: string | null = null;
      let failed = false;
      // emit, not destroy: grpc-js sends the status from the error handler; a destroyed call sends none.
      const fail = (msg: string) => {
        if (failed) return;
        failed = true;
        call.emit("error", Object.assign(new Error(msg), { code: 16, details: msg }));
      };
      const handle = (msg: Incoming): void => {
        if (failed) return;
        const p = "kind" in msg ? ({ case: "logBatch", value: msg } as const) : msg.payload;
        if (workerId === null) {
          if (p.case !== "hello") return fail("the first message must be hello with a session id");
          const w = d.registry.get(p.value.workerId);
          if (!w || !w.sessionId || w.sessionId !== p.value.sessionId || w.state === "TERMINATED")
            return fail("unknown session; register again");
          if (w.stream && w.stream !== call) w.stream.end();
          workerId = w.id;
          w.stream = call;
          w.lastSeenMs = Date.now();
          if (w.state === "CONNECTING" || w.state === "CREATING" || w.state === "UNHEALTHY") {
            w.state = w.job ? "BUSY" : "READY";
            w.idleSinceMs = Date.now();
            void updateWorker(d.db, w.id, { state: "READY" }).catch(() => undefined);
            d.dispatcher.workerStarted(w);
          }
          call.write(
            create(ServerMessageSchema, {
              payload: { case: "keepAlive", value: { timestamp: timestampFromMs(Date.now()) } },
            }),
          );
          d.dispatcher.wake();
          return;
        }
        const w = d.registry.get(workerId);
        if (!w) return fail("worker is no longer registered");
        w.lastSeenMs = Date.now();
        switch (p.case) {
          case "heartbeat":
            return;
          case "ack":
            return d.dispatcher.onAck(w, p.value);
          case "logBatch":
            return d.dispatcher.onLogBatch(
              w,
              "kind" in p.value ? p.value : wireBatch(p.value),
              () => call.pause(),
              () => call.resume(),
            );
          case "result":
            return d.dispatcher.onResult(w, p.value);
          case "selfTerminate":
            w.state = "DRAINING";
            return;
          case "batch":
            for (const m of p.value.messages) handle(m);
            return;
          default:
            return;
        }
      };
      call.on("data", (msg: Incoming | Incoming[]) => {
        if (!Array.isArray(msg)) return handle(msg);
        for (const m of msg) handle(m);
      });
      const closed = () => {
        if (workerId === null) return;
        const w = d.registry.get(workerId);
        if (w && w.stream === call) {
          w.stream = null;
          // Not offered work until it reconnects; lost for good after the heartbeat timeout.
          if (w.state === "READY" || w.state === "BUSY") w.state = "UNHEALTHY";
          if (w.state === "DRAINING" && !w.job) d.dispatcher.workerGone(w, "worker stopped");
        }
      };
      call.on("end", () => {
        closed();
        call.end();
      });
      call.on("error", closed);
      call.on("cancelled", closed);
    },
  };
}
