// A stand-in control plane for the microVM provider's tests: a real grpc-js server on a host port
// implementing WorkerAgentService, so a worker agent inside a guest registers and runs a job through
// QEMU's guestfwd exactly as it would against the Hodei server. It is a test harness, not the server.
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

export class AgentHarness {
  readonly registrations: RegisterRequest[] = [];
  readonly messages: WorkerMessage[] = [];
  private stream: grpc.ServerDuplexStream<WorkerMessage, ServerMessage> | undefined;
  private waiters: (() => void)[] = [];

  private boundPort = 0;

  private constructor(private readonly server: grpc.Server) {}

  get port(): number {
    return this.boundPort;
  }

  static async start(acceptToken: (token: string) => boolean): Promise<AgentHarness> {
    const server = new grpc.Server();
    const harness = new AgentHarness(server);
    addService(
      server,
      WorkerAgentService,
      {
        register: async (req) => {
          harness.registrations.push(req);
          harness.notify();
          if (!acceptToken(req.authToken)) {
            throw Object.assign(new Error("bad token"), { code: grpc.status.UNAUTHENTICATED });
          }
          return {
            success: true,
            workerId: req.workerInfo?.workerId ?? "",
            sessionId: req.sessionId || "session-1",
            heartbeatIntervalMs: 60_000,
          };
        },
        workerStream: (call) => {
          harness.stream = call;
          call.on("data", (m: WorkerMessage) => {
            // A batch (what the worker had ready at once) counts as its messages.
            if (m.payload.case === "batch") harness.messages.push(...m.payload.value.messages);
            else harness.messages.push(m);
            harness.notify();
          });
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
    harness.boundPort = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    return harness;
  }

  get connected(): boolean {
    return this.stream !== undefined;
  }

  runJob(jobId: string, command: string): void {
    if (!this.stream) throw new Error("no worker stream yet");
    this.stream.write(
      create(ServerMessageSchema, {
        payload: { case: "runJob", value: { jobId, executionId: `${jobId}-e1`, command } },
      }),
    );
  }

  /** stdout and stderr lines of a job, in order. */
  linesOf(jobId: string): string[] {
    const out: string[] = [];
    for (const m of this.messages) {
      if (m.payload.case === "logBatch" && m.payload.value.jobId === jobId) {
        out.push(...m.payload.value.lines.map((l) => l.line));
      }
    }
    return out;
  }

  resultOf(jobId: string) {
    for (const m of this.messages) {
      if (m.payload.case === "result" && m.payload.value.jobId === jobId) return m.payload.value;
    }
    return undefined;
  }

  /** Waits until `probe` returns a value, at most `deadlineMs`. */
  async waitFor<T>(probe: () => T | undefined, what: string, deadlineMs: number): Promise<T> {
    const end = Date.now() + deadlineMs;
    for (;;) {
      const value = probe();
      if (value !== undefined) return value;
      if (Date.now() > end) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, Math.min(200, Math.max(1, end - Date.now())));
      });
    }
  }

  stop(): void {
    this.server.forceShutdown();
  }

  private notify(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
