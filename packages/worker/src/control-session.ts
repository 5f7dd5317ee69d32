import type * as grpc from "@grpc/grpc-js";
import { timestampFromMs, type ServerMessage, type WorkerInfo } from "@hodei/api";
import { HodeiError, backoffDelayMs } from "@hodei/core";
import type { WorkerConfig } from "./config.js";
import * as link from "./control-link.js";
import type { Logger } from "./logger.js";
import { UsageSampler } from "./worker-info.js";

const RECONNECT_BASE_MS = 100;
/** A stream that lived this long was a real connection: the reconnect backoff starts over. */
const STABLE_STREAM_MS = 1_000;

/** What the session needs from the agent. */
export interface SessionHandlers {
  /** Jobs still running here, for hello and heartbeats. */
  runningJobIds(): string[];
  /** A stream is open (hello written), or gone (`undefined`). */
  onStream(stream: link.WorkerStream | undefined): void;
  onMessage(message: ServerMessage): void;
  /** Whether a clean end of the stream by the server should be reconnected (e.g. a job is running). */
  reconnectAfterCleanEnd(): boolean;
}

/**
 * The worker's side of its session with the control plane: Register (the OTP, then the session id
 * on reconnection), the WorkerStream with its hello and heartbeats, and reconnection with
 * exponential backoff and jitter when the stream breaks.
 */
export class ControlSession {
  private sessionId = "";
  private heartbeatMs: number;
  private readonly usage = new UsageSampler();

  constructor(
    private readonly config: WorkerConfig,
    private readonly workerInfo: WorkerInfo,
    private readonly handlers: SessionHandlers,
    private readonly logger: Logger,
  ) {
    this.heartbeatMs = config.heartbeatIntervalMs;
  }

  /**
   * Keeps a stream open until `signal` aborts or the server ends it cleanly while that means "stop".
   * Rejects when the token is refused and there is no session to fall back on.
   */
  async run(client: grpc.Client, signal: AbortSignal): Promise<void> {
    let attempt = 0;
    while (!signal.aborted) {
      try {
        const resuming = this.sessionId !== "";
        const res = await link.unlessAborted(
          link.register(client, this.config.otpToken, this.workerInfo, this.sessionId),
          signal,
        );
        this.sessionId = res.sessionId || this.sessionId;
        if (res.heartbeatIntervalMs > 0) this.heartbeatMs = res.heartbeatIntervalMs;
        this.logger.info(
          { workerId: this.config.workerId, resumed: resuming },
          "registered with the control plane",
        );
        const openedAt = Date.now();
        const ending = await this.serveStream(client, signal);
        if (Date.now() - openedAt >= STABLE_STREAM_MS) attempt = 0;
        if (ending === "closed" && !signal.aborted && !this.handlers.reconnectAfterCleanEnd()) {
          this.logger.info("the control plane closed the stream while idle: stopping");
          return;
        }
      } catch (err) {
        if (signal.aborted) return;
        if (!link.isAuthFailure(err)) {
          this.logger.warn({ err: link.describeError(err), attempt }, "cannot reach the control plane");
        } else if (this.sessionId) {
          this.logger.warn(
            { err: link.describeError(err) },
            "session refused; registering again with the token",
          );
          this.sessionId = "";
        } else {
          const why = link.describeError(err);
          throw new HodeiError("OTP_INVALID", `the control plane refused HODEI_OTP_TOKEN (${why})`, {
            cause: err,
          });
        }
      }
      if (signal.aborted) return;
      const delayMs = backoffDelayMs(attempt++, RECONNECT_BASE_MS, this.config.maxReconnectDelayMs);
      await link.delay(delayMs, signal);
    }
  }

  /** Holds one stream open; resolves "closed" when the server ended it cleanly, "broken" otherwise. */
  private serveStream(client: grpc.Client, signal: AbortSignal): Promise<"closed" | "broken"> {
    return new Promise((resolve) => {
      const stream = link.openWorkerStream(client);
      const hello = {
        $typeName: "hodei.WorkerHello" as const,
        workerId: this.config.workerId,
        sessionId: this.sessionId,
        runningJobIds: this.handlers.runningJobIds(),
      };
      stream.write(link.workerMessage({ case: "hello", value: hello }));
      const heartbeat = setInterval(() => this.sendHeartbeat(stream), this.heartbeatMs);
      stream.on("data", (m: ServerMessage) => this.handlers.onMessage(m));
      stream.on("error", (err) => this.logger.debug({ err: link.describeError(err) }, "worker stream error"));
      stream.on("status", (status: grpc.StatusObject) => {
        clearInterval(heartbeat);
        this.handlers.onStream(undefined);
        if (!signal.aborted)
          this.logger.warn({ code: status.code, details: status.details }, "worker stream ended");
        resolve(status.code === 0 ? "closed" : "broken");
      });
      this.handlers.onStream(stream);
    });
  }

  private sendHeartbeat(stream: link.WorkerStream): void {
    const value = {
      $typeName: "hodei.Heartbeat" as const,
      workerId: this.config.workerId,
      timestamp: timestampFromMs(Date.now()),
      usage: this.usage.sample(),
      runningJobIds: this.handlers.runningJobIds(),
    };
    stream.write(link.workerMessage({ case: "heartbeat", value })); // small and periodic: not queued
  }
}
