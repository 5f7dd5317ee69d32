// MicroVM cold start, two ways (each sample boots a fresh VM; samples run one after another):
//   provider  MicrovmProvider.create → guest /init starts the agent → the agent's first gRPC bytes reach
//             a TCP listener on the host through guestfwd (no server: this isolates the VM's own cost)
//   platform  a real `hodei server` with HODEI_FC_ENABLED=1 and no local provider: QueueJob `uname -r`
//             → first log line through SubscribeLogs (needs the server to know the microvm provider)
//   warm      the same server with a long idle timeout: the first job boots the one VM, then
//             BENCH_SAMPLES jobs one after another reuse it (queue → first log line)
// Run: `node bench/microvm-cold.mjs [provider|platform|warm|both|all]` after `npm run build`;
// BENCH_SAMPLES=3. Times in ms; p50/p99 over the samples.
// The guest image is built (once, cached) in .hodei/microvm-test-images, the tests' cache.
import { createServer } from "node:net";
import { performance } from "node:perf_hooks";
import { setTimeout as delay } from "node:timers/promises";
import { loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { JobExecutionService, LogStreamService, serverStream, unary } from "@hodei/api";
import { MicrovmProvider, microvmOptionsFromEnv } from "@hodei/providers";
import { commOf, median, percentile, startControlPlane, trackTerminalEvents } from "./control-plane.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const imageDir = process.env.HODEI_TEST_MICROVM_IMAGES ?? join(root, ".hodei", "microvm-test-images");
const samples = Number(process.env.BENCH_SAMPLES ?? 3);
const round = (x) => Math.round(x);

async function providerSamples() {
  const dataDir = join(root, ".hodei", `microvm-bench-${process.pid}`);
  const provider = new MicrovmProvider(
    microvmOptionsFromEnv(
      { ...process.env, HODEI_FC_IMAGE_DIR: imageDir },
      {
        dataDir,
        workerBundlePath: join(root, "packages/worker/dist/hodei-worker.cjs"),
        idleTimeoutMs: 60_000,
        instanceId: "bench",
      },
    ),
  );
  const initStarted = performance.now();
  await provider.init();
  const initMs = performance.now() - initStarted;
  const health = await provider.health();
  let connected;
  const server = createServer((socket) => {
    socket.once("data", (d) => {
      if (d.toString("latin1").startsWith("PRI * HTTP/2.0")) connected?.();
      socket.destroy();
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const runs = [];
  try {
    for (let i = 0; i < samples; i++) {
      const agent = new Promise((r) => (connected = r));
      const t0 = performance.now();
      const handle = await provider.create({
        workerId: `bench-${i}`,
        otpToken: "bench",
        serverAddress: `127.0.0.1:${server.address().port}`,
        env: {},
        resources: { cpuCores: 0, memoryBytes: 0, gpuCount: 0 },
      });
      let initMsSample;
      const watch = setInterval(() => {
        if (initMsSample === undefined && provider.status(handle) === "running") {
          initMsSample = performance.now() - t0;
        }
      }, 10);
      const timeout = delay(120_000).then(() => {
        throw new Error(`sample ${i}: no agent connection within 120 s`);
      });
      await Promise.race([agent, timeout]);
      const agentMs = performance.now() - t0;
      clearInterval(watch);
      await provider.destroy(handle);
      runs.push({ guestInitMs: round(initMsSample ?? NaN), agentConnectedMs: round(agentMs) });
      console.log(`provider sample ${i}: ${JSON.stringify(runs.at(-1))}`);
    }
  } finally {
    server.close();
    await provider.shutdown();
  }
  return {
    accel: health.details?.accel,
    providerInitMs: round(initMs),
    agentConnectedMedianMs: median(runs.map((r) => r.agentConnectedMs)),
    guestInitMedianMs: median(runs.map((r) => r.guestInitMs)),
    samples: runs,
  };
}

async function firstLine(client, id) {
  const t0 = performance.now();
  const res = await unary(client, JobExecutionService.method.queueJob, {
    jobDefinition: { jobId: { value: id }, name: id, command: "uname -r" },
    queuedBy: "bench",
  });
  if (res.jobId?.value !== id) throw new Error(`QueueJob ${id}: ${res.message || "refused"}`);
  const call = serverStream(client, LogStreamService.method.subscribeLogs, {
    jobId: id,
    includeHistory: true,
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`no log line from ${id} within 120 s`)), 120_000);
    const finish = (err, value) => {
      clearTimeout(timer);
      call.cancel();
      if (err) reject(err);
      else resolve(value);
    };
    call.on("data", (entry) =>
      finish(undefined, { id, firstLineMs: round(performance.now() - t0), line: entry.line }),
    );
    call.on("error", (err) => {
      if (err.code !== 1 /* CANCELLED */) finish(err);
    });
  });
}

const stats = (xs) => ({ p50: round(median(xs)), p99: round(percentile(xs, 99)), max: Math.max(...xs) });

/** A real server whose only provider is the microVM one. */
const microvmServer = (idleTimeoutMs) =>
  startControlPlane({
    idleTimeoutMs,
    env: { HODEI_FC_ENABLED: "1", HODEI_LOCAL_ENABLED: "0", HODEI_FC_IMAGE_DIR: imageDir, LOG_LEVEL: "warn" },
  });

async function platformSamples() {
  const cp = await microvmServer(1_000);
  const runs = [];
  try {
    for (let i = 0; i < samples; i++) {
      // each sample waits for the previous VM to idle out, so every job needs a fresh boot
      const deadline = Date.now() + 60_000;
      while (cp.workerPids().length > 0 && Date.now() < deadline) await delay(100);
      runs.push(await firstLine(cp.client, `mvm-cold-${Date.now().toString(36)}-${i}`));
      console.log(`platform sample ${i}: ${JSON.stringify(runs.at(-1))}`);
      await delay(3_000);
    }
  } finally {
    await cp.stop();
  }
  return {
    serverStartMs: round(cp.startMs),
    firstLineMedianMs: median(runs.map((r) => r.firstLineMs)),
    firstLineMs: stats(runs.map((r) => r.firstLineMs)),
    samples: runs,
  };
}

async function warmSamples() {
  const cp = await microvmServer(600_000);
  const ends = trackTerminalEvents(cp.client);
  const runs = [];
  try {
    const boot = await firstLine(cp.client, `mvm-warm-${Date.now().toString(36)}-boot`);
    await ends.waitTerminal(boot.id);
    for (let i = 0; i < samples; i++) {
      const run = await firstLine(cp.client, `mvm-warm-${Date.now().toString(36)}-${i}`);
      runs.push(run);
      await ends.waitTerminal(run.id); // the VM is free again before the next job
    }
    const vms = cp.workerPids().filter((pid) => commOf(pid).startsWith("qemu")).length;
    if (vms !== 1) throw new Error(`expected the one warm VM to be reused, found ${vms}`);
    return { bootMs: boot.firstLineMs, firstLineMs: stats(runs.map((r) => r.firstLineMs)), vms };
  } finally {
    ends.close();
    await cp.stop();
  }
}

const mode = process.argv[2] ?? "provider";
const out = { loadavg: loadavg().map((x) => Math.round(x * 100) / 100) };
if (mode === "provider" || mode === "both" || mode === "all") out.provider = await providerSamples();
if (mode === "platform" || mode === "both" || mode === "all") out.platform = await platformSamples();
if (mode === "warm" || mode === "all") out.warm = await warmSamples();
console.log(JSON.stringify(out));
