// The Docker provider against a real Docker Engine (started by scripts/dockerd.mjs when none runs),
// with real containers from images built here by `docker import` (no registry is reachable), and
// real worker agents inside them talking to the worker package's test control plane.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import { rmSync } from "node:fs";
import type Docker from "dockerode";
import {
  DockerProvider,
  dockerOptionsFromEnv,
  LABEL_INSTANCE,
  LABEL_PROVIDER,
  LABEL_WORKER,
} from "../src/index.js";
import type { ProviderCommon, WorkerExit, WorkerSpec } from "../src/provider.js";
import {
  dockerClient,
  dockerEngine,
  ensureTestImages,
  IMAGE_A,
  IMAGE_B,
  testCommon,
} from "./support/docker-engine.js";
import { runJob, startHarness, type Harness } from "./support/harness.js";

const skip = (await dockerEngine()) ?? false;
let docker: Docker;
let common: ProviderCommon;
let provider: DockerProvider;
const exits: WorkerExit[] = [];
const cleanups: (() => Promise<unknown> | void)[] = [];

function spec(workerId: string, serverAddress: string, over: Partial<WorkerSpec> = {}): WorkerSpec {
  return {
    workerId,
    otpToken: `otp-${workerId}`,
    serverAddress,
    env: { HODEI_EXTRA: "from-spec" },
    resources: { cpuCores: 0, memoryBytes: 0, gpuCount: 0 },
    ...over,
  };
}

async function gone(id: string): Promise<boolean> {
  return docker
    .getContainer(id)
    .inspect()
    .then(
      () => false,
      (err: { statusCode?: number }) => err.statusCode === 404,
    );
}

async function waitUntil<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  what: string,
  ms = 15_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function harness(): Promise<Harness> {
  const h = await startHarness();
  cleanups.push(() => h.kill());
  return h;
}

before(async () => {
  if (skip) return;
  docker = dockerClient();
  await ensureTestImages(docker);
  common = testCommon();
  provider = new DockerProvider(
    dockerOptionsFromEnv(
      { HODEI_DOCKER_LABELS: "zone=test,disk=ssd", HODEI_DOCKER_PULL_TIMEOUT: "2000" },
      common,
    ),
  );
  provider.onExit((e) => exits.push(e));
  await provider.init();
  console.log(`# docker provider init: ${JSON.stringify(provider.report)}`);
});

after(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  if (skip) return;
  await provider.shutdown();
  rmSync(common.dataDir, { recursive: true, force: true });
});

test(
  "create: a running container labelled with this instance, the job's limits, the worker's env and the agent mounted read-only; the agent inside connects; destroy removes it",
  { skip },
  async () => {
    const connections: number[] = [];
    const listener: Server = createServer((s) => {
      connections.push(Date.now());
      s.destroy();
    });
    await new Promise<void>((r) => listener.listen(0, "127.0.0.1", r));
    cleanups.push(() => new Promise((r) => listener.close(r)));
    const port = (listener.address() as { port: number }).port;
    const t0 = Date.now();
    const handle = await provider.create(
      spec("w-create", `127.0.0.1:${port}`, {
        image: IMAGE_A,
        resources: { cpuCores: 0.5, memoryBytes: 256 * 1024 ** 2, gpuCount: 0 },
      }),
    );
    assert.equal(provider.status(handle), "running");
    const info = await docker.getContainer(handle.ref).inspect();
    assert.equal(info.State.Running, true);
    assert.equal(info.Config.Image, IMAGE_A);
    assert.equal(info.Config.Labels[LABEL_INSTANCE], common.instanceId);
    assert.equal(info.Config.Labels[LABEL_WORKER], "w-create");
    assert.equal(info.Config.Labels[LABEL_PROVIDER], "docker");
    assert.equal(info.HostConfig.Memory, 256 * 1024 ** 2);
    assert.equal(info.HostConfig.NanoCpus, 500_000_000);
    assert.equal(info.HostConfig.Init, true);
    assert.equal(info.HostConfig.NetworkMode, "host");
    const mount = info.Mounts.find((m) => m.Destination === "/opt/hodei");
    assert.equal(mount?.Source, provider.report?.agentDir);
    assert.equal(mount?.RW, false);
    for (const kv of [
      `HODEI_SERVER_ADDRESS=127.0.0.1:${port}`,
      "HODEI_OTP_TOKEN=otp-w-create",
      "HODEI_WORKER_ID=w-create",
      "HODEI_WORKER_PROVIDER=docker",
      "HODEI_WORKER_LABELS=zone=test,disk=ssd",
      "HODEI_EXTRA=from-spec",
    ]) {
      assert.ok(info.Config.Env.includes(kv), `env has ${kv}: ${info.Config.Env.join(" ")}`);
    }
    await waitUntil(() => connections[0], "the agent's first connection");
    console.log(`# docker create → agent's first TCP connection: ${connections[0]! - t0} ms`);
    await provider.destroy(handle);
    assert.equal(await gone(handle.ref), true);
    assert.equal(provider.status(handle), "exited");
  },
);

test(
  "a job that asks for no resources still gets a memory limit (512 MiB) and one CPU",
  { skip },
  async () => {
    const h = await harness();
    const handle = await provider.create(spec("w-defaults", h.address));
    cleanups.push(() => provider.destroy(handle));
    const info = await docker.getContainer(handle.ref).inspect();
    assert.equal(info.HostConfig.Memory, 512 * 1024 ** 2);
    assert.equal(info.HostConfig.MemorySwap, 512 * 1024 ** 2);
    assert.equal(info.HostConfig.NanoCpus, 1_000_000_000);
    assert.equal(info.Config.Image, "hodei/worker-base:local");
    // The default image carries the host's bash; the job sees the image's files.
    const run = await runJob(h, "default-image", "cat /etc/os-release | grep ^ID=; echo shell=$BASH");
    assert.deepEqual(run.lines.slice(1), ["ID=hodei-worker-base", "shell=/bin/bash"]);
    assert.equal(run.exitCode, 0);
  },
);

test(
  "a job runs inside the image it asked for, even one with no bash and no node (busybox)",
  { skip },
  async () => {
    const [ha, hb] = [await harness(), await harness()];
    const a = await provider.create(spec("w-image-a", ha.address, { image: IMAGE_A }));
    const b = await provider.create(spec("w-image-b", hb.address, { image: IMAGE_B }));
    cleanups.push(
      () => provider.destroy(a),
      () => provider.destroy(b),
    );
    const cmd = "cat /etc/os-release; echo shell=$BASH; test -e /bin/bash || echo no-bin-bash";
    const [ra, rb] = await Promise.all([runJob(ha, "job-a", cmd), runJob(hb, "job-b", cmd)]);
    assert.deepEqual(ra.lines, [
      `$ ${cmd}`,
      "ID=hodei-test-a",
      'NAME="hodei-test-a"',
      "shell=/opt/hodei/bin/bash",
      "no-bin-bash",
    ]);
    assert.deepEqual(rb.lines.slice(1, 3), ["ID=hodei-test-b", 'NAME="hodei-test-b"']);
    assert.equal(ra.exitCode, 0);
    assert.equal(rb.exitCode, 0);
    // The image's PATH, not the agent's: busybox's applets answer, and an exit code comes back.
    const failing = await runJob(ha, "job-exit", "which cat; exit 3");
    assert.deepEqual(failing.lines.slice(1), ["/bin/cat"]);
    assert.equal(failing.exitCode, 3);
  },
);

test(
  "checkImage: a local image passes; a missing one is refused naming it, within the pull timeout; junk is refused",
  { skip },
  async () => {
    assert.equal(await provider.checkImage(IMAGE_A), null);
    assert.equal(await provider.checkImage("hodei/worker-base:local"), null);
    const t0 = Date.now();
    const missing = await provider.checkImage("hodei-test/not-here:9");
    const ms = Date.now() - t0;
    assert.match(missing ?? "", /^image hodei-test\/not-here:9 not found on the Docker engine/);
    assert.ok(ms < 2_000 + 1_000, `answered in ${ms} ms`);
    // A second ask within 30 s does not try the registry again.
    const t1 = Date.now();
    assert.equal(await provider.checkImage("hodei-test/not-here:9"), missing);
    assert.ok(Date.now() - t1 < 200);
    assert.match(
      (await provider.checkImage("Not An Image!")) ?? "",
      /"Not An Image!" is not a valid image reference/,
    );
  },
);

test(
  "health pings the engine; capabilities are the engine's CPUs, memory, architecture, our labels and its local images",
  { skip },
  async () => {
    const health = await provider.health();
    assert.equal(health.healthy, true, health.message);
    const info = (await docker.info()) as { NCPU: number; MemTotal: number; Architecture: string };
    const caps = provider.capabilities();
    assert.equal(caps.cpuCores, info.NCPU);
    assert.equal(caps.memoryBytes, info.MemTotal);
    assert.equal(caps.architecture, info.Architecture);
    assert.deepEqual(caps.labels, { zone: "test", disk: "ssd" });
    for (const image of [IMAGE_A, IMAGE_B, "hodei/worker-base:local"])
      assert.ok(caps.images?.includes(image), image);
  },
);
