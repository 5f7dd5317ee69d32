// The gRPC library for :50051, chosen by measurement: @grpc/grpc-js (through the @hodei/api bridge)
// against @connectrpc/connect-node (gRPC protocol over HTTP/2), each serving the real messages:
//   unary   hodei.JobExecutionService/GetJobStatus, 64 calls in flight for ~3 s → calls/s
//   stream  hodei.WorkerAgentService/WorkerStream (bidi, as on the dispatch path): the server pushes
//           RunJob messages over one stream for ~3 s → server→client messages/s
// Server and client run in separate processes so they do not share a core.
// Run directly (`node bench/grpc-libs.mjs`, BENCH_ROUNDS=3 for medians of 3) to print the table; the
// server side is this same file started with `--serve grpc-js|connect-node`.
/* global AbortController */
import { spawn } from "node:child_process";
import { createServer } from "node:http2";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { connectNodeAdapter, createGrpcTransport } from "@connectrpc/connect-node";
import {
  JobExecutionService,
  JobStatus,
  ServerMessageSchema,
  WorkerMessageSchema,
  WorkerAgentService,
  addService,
  bidiStream,
  connectClient,
  unary,
} from "@hodei/api";

const LIBS = ["grpc-js", "connect-node"];

// --- the service, the same for both libraries --------------------------------------------------

function jobStatus(req) {
  return {
    jobId: req.jobId,
    status: JobStatus.RUNNING,
    statusName: "RUNNING",
    message: "bench",
    updatedAt: timestampNow(),
    workerId: "worker-bench-0001",
    attempt: 1,
  };
}

let runJobSeq = 0;
function runJobMessage() {
  runJobSeq += 1;
  return create(ServerMessageSchema, {
    payload: {
      case: "runJob",
      value: {
        jobId: `bench-job-${runJobSeq}`,
        executionId: `bench-exec-${runJobSeq}`,
        attempt: 1,
        command: "true",
        environment: { HODEI_BENCH: "1" },
        timeoutMs: 600_000n,
      },
    },
  });
}

function unimplemented(name) {
  return () => Promise.reject(new Error(`${name} is not part of the bench`));
}

async function serveGrpcJs() {
  const server = new grpc.Server();
  const mapError = (err) => ({ code: grpc.status.UNIMPLEMENTED, details: String(err) });
  const jobHandlers = Object.fromEntries(
    JobExecutionService.methods.map((m) => [m.localName, unimplemented(m.name)]),
  );
  jobHandlers.getJobStatus = async (req) => jobStatus(req);
  addService(server, JobExecutionService, jobHandlers, mapError);
  addService(
    server,
    WorkerAgentService,
    {
      register: unimplemented("Register"),
      workerStream: (call) => {
        let open = true;
        call.on("cancelled", () => (open = false));
        call.on("error", () => (open = false));
        call.once("data", () => {
          const pump = () => {
            while (open && call.write(runJobMessage()));
            if (open) call.once("drain", pump);
          };
          pump();
        });
      },
    },
    mapError,
  );
  const port = await new Promise((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return port;
}

async function serveConnectNode() {
  const notHere = () => {
    throw new ConnectError("not part of the bench", Code.Unimplemented);
  };
  const jobImpl = Object.fromEntries(JobExecutionService.methods.map((m) => [m.localName, notHere]));
  jobImpl.getJobStatus = (req) => jobStatus(req);
  const adapter = connectNodeAdapter({
    grpc: true,
    grpcWeb: false,
    connect: false,
    routes: (router) => {
      router.service(JobExecutionService, jobImpl);
      router.service(WorkerAgentService, {
        register: notHere,
        async *workerStream(requests, ctx) {
          const it = requests[Symbol.asyncIterator]();
          await it.next(); // the hello
          while (!ctx.signal.aborted) yield runJobMessage();
        },
      });
    },
  });
  const server = createServer(adapter);
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server.address().port;
}

// --- the clients ------------------------------------------------------------------------------

function grpcJsClient(port) {
  const client = connectClient(`127.0.0.1:${port}`);
  return {
    getJobStatus: (value) => unary(client, JobExecutionService.method.getJobStatus, { jobId: { value } }),
    /** Counts server→client messages for `ms` after the first one arrives. */
    streamRate: (ms) =>
      new Promise((resolve, reject) => {
        const call = bidiStream(client, WorkerAgentService.method.workerStream);
        let count = 0;
        let started = 0;
        call.on("data", () => {
          if (!started) {
            started = performance.now();
            setTimeout(() => {
              const elapsed = performance.now() - started;
              const n = count;
              call.cancel();
              resolve({ messages: n, ms: elapsed });
            }, ms);
          }
          count += 1;
        });
        call.on("error", (err) => {
          if (err.code !== grpc.status.CANCELLED) reject(err);
        });
        call.write(
          create(WorkerMessageSchema, {
            payload: { case: "hello", value: { workerId: "bench", sessionId: "bench" } },
          }),
        );
      }),
    close: () => client.close(),
  };
}

function connectNodeClient(port) {
  const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}`, httpVersion: "2" });
  const jobs = createClient(JobExecutionService, transport);
  const agent = createClient(WorkerAgentService, transport);
  return {
    getJobStatus: (value) => jobs.getJobStatus({ jobId: { value } }),
    streamRate: async (ms) => {
      const abort = new AbortController();
      let release;
      const held = new Promise((resolve) => (release = resolve));
      async function* requests() {
        yield { payload: { case: "hello", value: { workerId: "bench", sessionId: "bench" } } };
        await held; // keep the request side open, as a worker does
      }
      let count = 0;
      let started = 0;
      let stopAt = Infinity;
      try {
        for await (const _msg of agent.workerStream(requests(), { signal: abort.signal })) {
          if (!started) {
            started = performance.now();
            stopAt = started + ms;
          }
          count += 1;
          if ((count & 1023) === 0 && performance.now() >= stopAt) break;
        }
      } catch (err) {
        if (!abort.signal.aborted) throw err;
      }
      const elapsed = performance.now() - started;
      abort.abort();
      release();
      return { messages: count, ms: elapsed };
    },
    close: () => {},
  };
}

async function unaryRate(client, { inFlight, ms }) {
  let calls = 0;
  let stop = false;
  const lane = async (id) => {
    while (!stop) {
      await client.getJobStatus(`bench-${id}`);
      calls += 1;
    }
  };
  const lanes = Array.from({ length: inFlight }, (_, i) => lane(i));
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const n = calls;
  const elapsed = performance.now() - started;
  stop = true;
  await Promise.all(lanes);
  return { calls: n, ms: elapsed };
}

/** Starts `node bench/grpc-libs.mjs --serve <lib>` and resolves once it listens. */
function startServer(lib) {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), "--serve", lib], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`${lib} bench server exited ${code}`)));
    createInterface({ input: child.stdout }).once("line", (line) => {
      const port = Number(/^PORT (\d+)$/.exec(line)?.[1]);
      if (!port) return reject(new Error(`unexpected line from ${lib} server: ${line}`));
      resolve({ port, stop: () => child.kill() });
    });
  });
}

/** Measures one server library with one client library (server in a child process, client here). */
export async function benchPair(serverLib, clientLib, { inFlight = 64, ms = 3000, warmupMs = 1000 } = {}) {
  const server = await startServer(serverLib);
  const client = clientLib === "grpc-js" ? grpcJsClient(server.port) : connectNodeClient(server.port);
  const lib = serverLib === clientLib ? serverLib : `${serverLib} server, ${clientLib} client`;
  try {
    const probe = await client.getJobStatus("probe");
    if (probe.jobId?.value !== "probe" || probe.status !== JobStatus.RUNNING)
      throw new Error(`${lib}: bad echo`);
    await unaryRate(client, { inFlight, ms: warmupMs });
    const u = await unaryRate(client, { inFlight, ms });
    await client.streamRate(Math.min(warmupMs, 500));
    const s = await client.streamRate(ms);
    return {
      lib,
      serverLib,
      clientLib,
      unaryPerSec: (u.calls * 1000) / u.ms,
      unaryCalls: u.calls,
      inFlight,
      streamPerSec: (s.messages * 1000) / s.ms,
      streamMessages: s.messages,
    };
  } finally {
    client.close();
    server.stop();
  }
}

/**
 * Each library end to end (its own server and client); with `cross`, also each server with the
 * other's client, which tells the server's share apart from the client's.
 */
export async function runGrpcLibs({ cross = true, rounds = 1, ...opts } = {}) {
  const pairs = LIBS.map((lib) => [lib, lib]);
  if (cross) {
    for (const serverLib of LIBS) {
      for (const clientLib of LIBS) if (serverLib !== clientLib) pairs.push([serverLib, clientLib]);
    }
  }
  // Rounds interleave the pairs, so that load from elsewhere hits them alike; each figure is the
  // median over the rounds.
  const samples = pairs.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (const [i, [serverLib, clientLib]] of pairs.entries()) {
      samples[i].push(await benchPair(serverLib, clientLib, opts));
    }
  }
  return samples.map((runs) => ({
    ...runs[0],
    rounds: runs.length,
    unaryPerSec: median(runs.map((x) => x.unaryPerSec)),
    streamPerSec: median(runs.map((x) => x.streamPerSec)),
    unaryPerSecRuns: runs.map((x) => Math.round(x.unaryPerSec)),
    streamPerSecRuns: runs.map((x) => Math.round(x.streamPerSec)),
  }));
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function formatGrpcLibs(results) {
  const [a, b] = results;
  const w = Math.max(14, ...results.map((r) => r.lib.length));
  const lines = [
    `${"library".padEnd(w)} ${"unary calls/s (64 in flight)".padStart(30)} ${"bidi stream msgs/s".padStart(20)}`,
    ...results.map(
      (r) =>
        `${r.lib.padEnd(w)} ${r.unaryPerSec.toFixed(0).padStart(30)} ${r.streamPerSec.toFixed(0).padStart(20)}`,
    ),
  ];
  const faster = (key, label) => {
    const [win, lose] = a[key] >= b[key] ? [a, b] : [b, a];
    return `${label}: ${win.lib} is ${(win[key] / lose[key]).toFixed(2)}x ${lose.lib}`;
  };
  lines.push(faster("unaryPerSec", "unary"), faster("streamPerSec", "stream"));
  return lines;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const serveAt = process.argv.indexOf("--serve");
  if (serveAt >= 0) {
    const lib = process.argv[serveAt + 1];
    const port = lib === "grpc-js" ? await serveGrpcJs() : await serveConnectNode();
    console.log(`PORT ${port}`);
    process.on("SIGTERM", () => process.exit(0));
  } else {
    const rounds = Number(process.env.BENCH_ROUNDS ?? 1);
    console.log(formatGrpcLibs(await runGrpcLibs({ rounds })).join("\n"));
  }
}
