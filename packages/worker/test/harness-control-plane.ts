// A stand-in control plane for the worker's tests: a real grpc-js server on a real port implementing
// WorkerAgentService, recording what workers send and letting the test send run_job / cancel.
// It is a test harness, not the Hodei server.
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import {
  ServerMessageSchema,
  WorkerAgentService,
  addService,
  type RegisterRequest,
  type ServerMessage,
  type WorkerMessage,
} from "@hodei/api";
import type { MessageInitShape } from "@bufbuild/protobuf";

type Payload = Exclude<WorkerMessage["payload"], { case: undefined }>;
type PayloadValue<K extends Payload["case"]> = Extract<Payload, { case: K }>["value"];

export interface Received {
  at: number;
  message: WorkerMessage;
  /** Which frame of the stream brought it: messages sent as one batch share it. */
  frame: number;
}

export interface HarnessOptions {
  port?: number;
  /** Tokens accepted by Register; default any non-empty token. */
  acceptToken?: (token: string, sessionId: string) => boolean;
  heartbeatIntervalMs?: number;
  /** Keep log lines (false: only count them, for volume tests). */
  keepLines?: boolean;
  /** Stop reading a stream for this long after its first log batch (a slow control plane). */
  stallAfterFirstBatchMs?: number;
  /** TLS / mTLS; default plaintext. */
  credentials?: grpc.ServerCredentials;
  /** The address to listen on, as workers name it: default 127.0.0.1 ("[::1]", "localhost"). */
  host?: string;
}

export class HarnessControlPlane {
  readonly registrations: RegisterRequest[] = [];
  readonly received: Received[] = [];
  /** Frames read from worker streams. */
  frames = 0;
  readonly streams: grpc.ServerDuplexStream<WorkerMessage, ServerMessage>[] = [];
  logLineCount = 0;
  private waiters: (() => void)[] = [];

  private portNumber = 0;

  private constructor(
    private readonly server: grpc.Server,
    private readonly host: string,
  ) {}

  get port(): number {
    return this.portNumber;
  }

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  static async start(opts: HarnessOptions = {}): Promise<HarnessControlPlane> {
    const server = new grpc.Server();
    const host = opts.host ?? "127.0.0.1";
    const harness = new HarnessControlPlane(server, host);
    addService(
      server,
      WorkerAgentService,
      {
        register: async (req) => {
          harness.registrations.push(req);
          harness.notify();
          const ok = opts.acceptToken ? opts.acceptToken(req.authToken, req.sessionId) : req.authToken !== "";
          if (!ok) throw Object.assign(new Error("bad token"), { code: grpc.status.UNAUTHENTICATED });
          return {
            success: true,
            workerId: req.workerInfo?.workerId ?? "",
            sessionId: req.sessionId || `session-${harness.registrations.length}`,
            heartbeatIntervalMs: opts.heartbeatIntervalMs ?? 60_000,
          };
        },
        workerStream: (call) => {
          harness.streams.push(call);
          let stalled = false;
          call.on("data", (frame: WorkerMessage) => {
            const n = ++harness.frames;
            // A batch (what the worker had ready at once) is handled as its messages, in order.
            for (const m of frame.payload.case === "batch" ? frame.payload.value.messages : [frame])
              onMessage(m, n);
          });
          const onMessage = (m: WorkerMessage, frame: number): void => {
            harness.record(m, frame, opts.keepLines ?? true);
            // As the control plane does: a hello is answered at once, before any job is sent.
            if (m.payload.case === "hello")
              call.write(create(ServerMessageSchema, { payload: { case: "keepAlive", value: {} } }));
            if (opts.stallAfterFirstBatchMs && !stalled && m.payload.case === "logBatch") {
              stalled = true;
              call.pause();
              setTimeout(() => call.resume(), opts.stallAfterFirstBatchMs);
            }
          };
          call.on("error", () => {});
          call.on("end", () => call.end());
          harness.notify();
        },
      },
      (err) => ({
        code: (err as { code?: grpc.status }).code ?? grpc.status.INTERNAL,
        details: (err as Error).message,
      }),
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(
        `${host}:${opts.port ?? 0}`,
        opts.credentials ?? grpc.ServerCredentials.createInsecure(),
        (err, p) => (err ? reject(err) : resolve(p)),
      ),
    );
    harness.portNumber = port;
    return harness;
  }

  private record(m: WorkerMessage, frame: number, keepLines: boolean): void {
    if (m.payload.case === "logBatch") {
      this.logLineCount += m.payload.value.lines.length;
      if (!keepLines) m.payload.value.lines = [];
    }
    this.received.push({ at: Date.now(), message: m, frame });
    this.notify();
  }

  private notify(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Sends to the most recent worker stream. */
  send(init: MessageInitShape<typeof ServerMessageSchema>): void {
    const stream = this.streams.at(-1);
    if (!stream) throw new Error("no worker stream yet");
    stream.write(create(ServerMessageSchema, init));
  }

  /** Waits, up to a deadline, until `probe` returns something other than undefined. */
  async waitFor<T>(probe: () => T | undefined, what: string, deadlineMs = 10_000): Promise<T> {
    const end = Date.now() + deadlineMs;
    for (;;) {
      const value = probe();
      if (value !== undefined) return value;
      if (Date.now() > end) throw new Error(`harness: timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, Math.min(100, Math.max(1, end - Date.now())));
      });
    }
  }

  /** Messages of one kind, in arrival order. */
  messages<K extends Payload["case"]>(kind: K): PayloadValue<K>[] {
    const out: PayloadValue<K>[] = [];
    for (const r of this.received) {
      const p = r.message.payload;
      if (p.case === kind) out.push(p.value as unknown as PayloadValue<K>);
    }
    return out;
  }

  resultFor(jobId: string): Promise<PayloadValue<"result">> {
    return this.waitFor(() => this.messages("result").find((r) => r.jobId === jobId), `result of ${jobId}`);
  }

  /** Ends every worker stream cleanly (status OK). */
  endStreams(): void {
    for (const s of this.streams) s.end();
  }

  /** Stops at once, breaking every stream (as a crashing server would). */
  kill(): void {
    this.server.forceShutdown();
  }
}
