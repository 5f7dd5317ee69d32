// Cold start of Docker workers, against a real Docker Engine (reused, or started by
// scripts/dockerd.mjs):
//   provider   DockerProvider.create() → the agent's first TCP connection to a listener on
//              127.0.0.1 (what `docker run` costs before the agent can register), 20 samples
//   platform   a real `hodei server` with only the Docker provider: queue `echo hi` with no worker
//              → first log line via SubscribeLogs, 20 jobs, each after the previous worker idled out
//   warm       the same server setup with a long idle timeout: 20 jobs one after another on the one
//              Docker worker the first job started (reuse: no container is created)
// Prints one JSON object; p50/p99 in ms. Run after `npm run build`: `node bench/docker-cold.mjs`
// (`--samples N`, `--provider-only`).
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { JobExecutionService, LogStreamService, serverStream, unary } from "@hodei/api";
import { DockerProvider, dockerOptionsFromEnv, LABEL_MANAGED } from "@hodei/providers";
import { ensureDockerd } from "../scripts/dockerd.mjs";
import { median, percentile, startControlPlane } from "./control-plane.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const args = process.argv.slice(2);
const samples = Number(args[args.indexOf("--samples") + 1]) || 20;
const round = (x) => Math.round(x * 10) / 10;
const stats = (xs) => ({
  p50: round(median(xs)),
  p99: round(percentile(xs, 99)),
  max: round(Math.max(...xs)),
});

async function providerCold() {
  const dataDir = mkdtempSync(join(tmpdir(), "hodei-bench-docker-"));
  const provider = new DockerProvider(
    dockerOptionsFromEnv(process.env, {
      dataDir,
      workerBundlePath: join(root, "packages/worker/dist/hodei-worker.cjs"),
      idleTimeoutMs: 60_000,
      instanceId: `bench-${Date.now().toString(36)}`,
    }),
  );
  let onConnect = () => {};
  const listener = createServer((s) => {
    onConnect();
    s.destroy();
  });
  await new Promise((r) => listener.listen(0, "127.0.0.1", r));
  const address = `127.0.0.1:${listener.address().port}`;
  try {
    const t = performance.now();
    await provider.init();
    const initMs = performance.now() - t;
    const firstConnection = [];
    const createCall = [];
    for (let i = 0; i < samples; i++) {
      const connected = new Promise((resolve) => (onConnect = resolve));
      const t0 = performance.now();
      const handle = await provider.create({
        workerId: `bench-${i}`,
        otpToken: "bench",
        serverAddress: address,
        env: {},
        resources: { cpuCores: 0, memoryBytes: 0, gpuCount: 0 },
      });
      createCall.push(performance.now() - t0);
      await connected;
      firstConnection.push(performance.now() - t0);
      onConnect = () => {};
      await provider.destroy(handle);
    }
    return {
      initMs: round(initMs),
      init: provider.report,
      createCallMs: stats(createCall),
      createToFirstConnectionMs: stats(firstConnection),
    };
  } finally {
    await provider.shutdown();
    listener.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Queue `echo hi` → ms to the first log line and to "hi", through SubscribeLogs. */
async function coldSample(client) {
  const t0 = performance.now();
  const res = await unary(client, JobExecutionService.method.queueJob, {
    jobDefinition: { command: "echo hi" },
    queuedBy: "bench",
  });
  const id = res.jobId?.value;
  if (!id) throw new Error(`QueueJob: ${res.message}`);
  const call = serverStream(client, LogStreamService.method.subscribeLogs, {
    jobId: id,
    includeHistory: true,
  });
  return new Promise((resolve, reject) => {
    let first;
    const timer = setTimeout(() => done(new Error(`no "hi" from ${id} within 30 s`)), 30_000);
    const done = (err, v) => {
      clearTimeout(timer);
      call.cancel();
      if (err) reject(err);
      else resolve(v);
    };
    call.on("data", (e) => {
      const at = performance.now() - t0;
      first ??= at;
      if (e.line === "hi") done(undefined, { firstLineMs: first, outputLineMs: at });
    });
    call.on("error", (err) => err.code !== 1 && done(err));
  });
}

/** Runs `fn(cp, containers)` on a server with only the Docker provider; `containers()` counts ours. */
async function withDockerServer(docker, idleTimeoutMs, fn) {
  const cp = await startControlPlane({
    idleTimeoutMs,
    env: { HODEI_DOCKER_ENABLED: "1", HODEI_LOCAL_ENABLED: "0" },
  });
  const containers = async () =>
    (await docker.listContainers({ all: true, filters: { label: [`${LABEL_MANAGED}`] } })).length;
  try {
    return await fn(cp, containers);
  } catch (err) {
    throw new Error(`${err.message}\n--- server output ---\n${cp.output()}`);
  } finally {
    await cp.stop();
  }
}

const lineStats = (runs) => ({
  queueToFirstLogLineMs: stats(runs.map((r) => r.firstLineMs)),
  queueToOutputLineMs: stats(runs.map((r) => r.outputLineMs)),
});

function platformCold(docker) {
  return withDockerServer(docker, 200, async (cp, containers) => {
    const runs = [];
    for (let i = 0; i < samples; i++) {
      const deadline = Date.now() + 30_000;
      while ((await containers()) > 0) {
        if (Date.now() > deadline) throw new Error("Docker workers did not idle out within 30 s");
        await delay(20);
      }
      runs.push(await coldSample(cp.client));
    }
    return { serverStartMs: round(cp.startMs), ...lineStats(runs) };
  });
}

function platformWarm(docker) {
  return withDockerServer(docker, 60_000, async (cp, containers) => {
    await coldSample(cp.client); // starts the worker
    const runs = [];
    for (let i = 0; i < samples; i++) runs.push(await coldSample(cp.client));
    const n = await containers();
    if (n !== 1) throw new Error(`expected the one warm container to be reused, found ${n}`);
    return { ...lineStats(runs), containers: n };
  });
}

const engine = await ensureDockerd();
const result = { engineStartedMs: engine.started ? engine.readyMs : 0, samples };
result.provider = await providerCold();
if (!args.includes("--provider-only")) {
  const Docker = (await import("dockerode")).default;
  result.platform = await platformCold(new Docker());
  result.warm = await platformWarm(new Docker());
}
console.log(JSON.stringify(result, null, 2));
