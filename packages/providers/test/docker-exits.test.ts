// How Docker workers end: seen on the engine's event stream (not by polling) and reported through
// onExit with a reason, against a real engine with real agents and the worker package's test
// control plane.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import type Docker from "dockerode";
import { DockerProvider, dockerOptionsFromEnv } from "../src/index.js";
import type { ProviderCommon, WorkerExit, WorkerSpec } from "../src/provider.js";
import {
  dockerClient,
  dockerEngine,
  ensureTestImages,
  IMAGE_A,
  testCommon,
} from "./support/docker-engine.js";
import { startHarness, type Harness } from "./support/harness.js";

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
    env: {},
    resources: { cpuCores: 0, memoryBytes: 0, gpuCount: 0 },
    ...over,
  };
}

async function exitOf(workerId: string, ms = 20_000): Promise<WorkerExit> {
  const end = Date.now() + ms;
  for (;;) {
    const e = exits.find((x) => x.handle.workerId === workerId);
    if (e) return e;
    if (Date.now() > end) throw new Error(`no exit reported for ${workerId}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function gone(id: string): Promise<boolean> {
  const end = Date.now() + 5_000;
  for (;;) {
    const missing = await docker
      .getContainer(id)
      .inspect()
      .then(
        () => false,
        (err: { statusCode?: number }) => err.statusCode === 404,
      );
    if (missing || Date.now() > end) return missing;
    await new Promise((r) => setTimeout(r, 25));
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
  provider = new DockerProvider(dockerOptionsFromEnv({}, common));
  provider.onExit((e) => exits.push(e));
  await provider.init();
});

after(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  if (skip) return;
  await provider.shutdown();
  rmSync(common.dataDir, { recursive: true, force: true });
});

test(
  "an agent killed by the memory limit is reported as OOM killed, naming the limit, and its container is removed",
  { skip },
  async () => {
    const h = await harness();
    const handle = await provider.create(
      spec("w-oom", h.address, { resources: { cpuCores: 0, memoryBytes: 128 * 1024 ** 2, gpuCount: 0 } }),
    );
    await h.waitFor(
      () => (h.received.some((r) => r.message.payload.case === "hello") ? true : undefined),
      "hello",
    );
    // A runaway that makes the agent itself the OOM killer's choice: $PPID is the agent's hodei-spawn,
    // whose parent (field 4 of its stat) is the agent.
    const command =
      "read -r _ _ _ agent _ < /proc/$PPID/stat; echo 1000 > /proc/$agent/oom_score_adj; x=$(head -c 400000000 /dev/zero | tr '\\0' a); echo survived";
    h.send({ payload: { case: "runJob", value: { jobId: "oom", executionId: "oom-e1", command } } });
    const exit = await exitOf("w-oom");
    assert.match(exit.reason ?? "", /^OOM killed: the worker container reached its memory limit of 128 MiB$/);
    assert.equal(provider.status(handle), "exited");
    assert.equal(await gone(handle.ref), true);
  },
);

test(
  "an agent that stops with an error is reported with its exit code and its last line",
  { skip },
  async () => {
    const h = await harness();
    const handle = await provider.create(
      spec("w-bad-config", h.address, { image: IMAGE_A, env: { HODEI_SHELL: "bash" } }),
    );
    const exit = await exitOf("w-bad-config");
    assert.equal(exit.code, 2);
    assert.equal(exit.signal, null);
    assert.match(
      exit.reason ?? "",
      /^worker container exited with code 2: .*HODEI_SHELL: expected an absolute path/,
    );
    assert.equal(await gone(handle.ref), true);
  },
);

test("a container killed from outside is reported with the signal", { skip }, async () => {
  const h = await harness();
  const handle = await provider.create(spec("w-killed", h.address, { image: IMAGE_A }));
  await h.waitFor(() => (h.registrations.length ? true : undefined), "registration");
  await docker.getContainer(handle.ref).kill({ signal: "SIGKILL" });
  const exit = await exitOf("w-killed");
  assert.equal(exit.signal, "SIGKILL");
  assert.equal(exit.code, null);
  assert.match(exit.reason ?? "", /^worker container exited with SIGKILL/);
  assert.equal(await gone(handle.ref), true);
});

test("destroy while the container is still being created leaves nothing behind", { skip }, async () => {
  const creating = provider.create(spec("w-cancelled", "127.0.0.1:1", { image: IMAGE_A }));
  await provider.destroy({ workerId: "w-cancelled", provider: "docker", ref: "" });
  const handle = await creating;
  assert.equal(await gone(handle.ref), true);
  assert.equal(provider.status(handle), "exited");
  const left = await docker.listContainers({
    all: true,
    filters: { label: [`io.hodei.worker-id=w-cancelled`] },
  });
  assert.deepEqual(left, []);
  // Destroyed, not crashed: reported without a reason.
  const exit = await exitOf("w-cancelled");
  assert.equal(exit.reason, undefined);
});
