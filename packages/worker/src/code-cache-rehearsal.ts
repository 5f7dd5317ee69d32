import { spawn } from "node:child_process";
import { stat } from "node:fs/promises";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { ServerMessageSchema, WorkerAgentService, addService, type WorkerMessage } from "@hodei/api";
import { CODE_CACHE_VARIABLE } from "./code-cache.js";

export interface RehearsalOptions {
  /** The node that will run the agent, with the flags it will run under (V8 keys a cache to both). */
  node: string;
  nodeFlags: readonly string[];
  /** The code-cache loader (dist/hodei-worker-cached.cjs). */
  loaderPath: string;
  /** Where the cache goes. */
  cachePath: string;
  timeoutMs?: number;
}

/**
 * Makes the agent's code cache as its first real run would: runs the agent through the code-cache
 * loader against a stand-in control plane on a loopback port (WorkerAgentService only), which
 * registers it, gives it one job (`echo`), and ends its stream once the job has ended. The agent
 * stops and the loader writes, as it exits, the code of everything it ran: loading, connecting,
 * registering, a job and its output. A cache made by loading alone (the agent stopped for want of a
 * token) lacks all of that after the load, which a cold start then compiles.
 *
 * Resolves once the cache is written; rejects, saying why, when the agent fails or takes too long.
 */
export async function rehearseAgentForCodeCache(opts: RehearsalOptions): Promise<void> {
  const server = new grpc.Server();
  let jobEnded = false;
  addService(
    server,
    WorkerAgentService,
    {
      register: async (req) => ({
        success: true,
        workerId: req.workerInfo?.workerId ?? "",
        sessionId: "rehearsal",
        heartbeatIntervalMs: 60_000,
      }),
      workerStream: (call) => {
        const onMessage = (m: WorkerMessage): void => {
          const p = m.payload;
          if (p.case === "hello") {
            // As the control plane answers a hello, then a job.
            call.write(create(ServerMessageSchema, { payload: { case: "keepAlive", value: {} } }));
            call.write(
              create(ServerMessageSchema, {
                payload: {
                  case: "runJob",
                  value: { jobId: "rehearsal", executionId: "rehearsal-1", command: "echo rehearsal" },
                },
              }),
            );
          } else if (p.case === "result") {
            jobEnded = true;
            call.end();
          }
        };
        call.on("data", (frame: WorkerMessage) => {
          for (const m of frame.payload.case === "batch" ? frame.payload.value.messages : [frame])
            onMessage(m);
        });
        call.on("error", () => {});
        call.on("end", () => call.end());
      },
    },
    (err) => ({ code: grpc.status.INTERNAL, details: (err as Error).message }),
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  try {
    const child = spawn(opts.node, [...opts.nodeFlags, opts.loaderPath], {
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HODEI_SERVER_ADDRESS: `127.0.0.1:${port}`,
        HODEI_OTP_TOKEN: "rehearsal",
        HODEI_WORKER_ID: "rehearsal",
        [CODE_CACHE_VARIABLE]: opts.cachePath,
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const timeoutMs = opts.timeoutMs ?? 60_000;
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`the agent's rehearsal took over ${timeoutMs} ms`));
      }, timeoutMs);
      child.on("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.on("exit", (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    const written = await stat(opts.cachePath).then(
      (s) => s.size > 0,
      () => false,
    );
    if (code !== 0 || !jobEnded || !written)
      throw new Error(
        `the agent's rehearsal for ${opts.cachePath} failed (exit ${code}, job ${jobEnded ? "ended" : "not ended"}, cache ${written ? "written" : "not written"}): ${stderr.trim()}`,
      );
  } finally {
    server.forceShutdown();
  }
}
