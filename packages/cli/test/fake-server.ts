// A scripted control plane on a real socket, for driving the CLI through real gRPC calls.
import * as grpc from "@grpc/grpc-js";
import { Writable } from "node:stream";
import { addService, JobExecutionService, LogStreamService, SchedulerService } from "@hodei/api";
import type { CliDeps } from "../src/context.js";

type Handler = (...args: any[]) => any;
export type Handlers = Record<string, Handler>;

const unimplemented = () => Promise.reject({ code: grpc.status.UNIMPLEMENTED, details: "not in this fake" });

function handlersFor(
  service: { methods: { localName: string; methodKind: string }[] },
  given: Handlers,
): any {
  const out: Handlers = {};
  for (const m of service.methods) {
    out[m.localName] =
      given[m.localName] ??
      (m.methodKind === "unary"
        ? unimplemented
        : (call: grpc.ServerWritableStream<unknown, unknown>) =>
            call.emit("error", { code: grpc.status.UNIMPLEMENTED, details: "not in this fake" }));
  }
  return out;
}

export interface FakeServer {
  address: string;
  stop(): Promise<void>;
}

/** Serves the given handlers (by method local name) of the job, log and scheduler services. */
export async function startFakeServer(handlers: Handlers): Promise<FakeServer> {
  const server = new grpc.Server();
  const mapError = (err: unknown) =>
    typeof err === "object" && err !== null && "code" in err
      ? (err as grpc.StatusObject)
      : { code: grpc.status.INTERNAL, details: String(err) };
  for (const service of [JobExecutionService, LogStreamService, SchedulerService]) {
    addService(server, service, handlersFor(service, handlers), mapError);
  }
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return {
    address: `127.0.0.1:${port}`,
    stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

/** CliDeps writing into strings, with a controllable Ctrl-C. */
export function captureDeps(files: Record<string, string> = {}) {
  const out = { stdout: "", stderr: "" };
  const sink = (key: "stdout" | "stderr") =>
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        out[key] += String(chunk);
        cb();
      },
    });
  const interruptHandlers = new Set<() => void>();
  const deps: CliDeps = {
    env: { USER: "tester" },
    stdout: sink("stdout"),
    stderr: sink("stderr"),
    readFile: async (path) => {
      const content = files[path];
      if (content === undefined) throw Object.assign(new Error("ENOENT"), { code: "ENOENT" });
      return content;
    },
    now: Date.now,
    onInterrupt: (h) => {
      interruptHandlers.add(h);
      return () => interruptHandlers.delete(h);
    },
  };
  return { deps, out, interrupt: () => [...interruptHandlers].forEach((h) => h()) };
}
