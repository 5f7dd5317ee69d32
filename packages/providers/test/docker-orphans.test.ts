// After a control plane dies without cleaning up, the next one with the same instance id removes
// its containers at init(); another instance's containers and containers Hodei never made are left
// alone. Real engine, real containers.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import type Docker from "dockerode";
import {
  DockerProvider,
  dockerOptionsFromEnv,
  LABEL_INSTANCE,
  LABEL_MANAGED,
  LABEL_PROVIDER,
  LABEL_SERVER,
  ownServerIdentity,
} from "../src/index.js";
import type { ProviderCommon, WorkerSpec } from "../src/provider.js";
import {
  dockerClient,
  dockerEngine,
  ensureTestImages,
  IMAGE_A,
  testCommon,
} from "./support/docker-engine.js";

const skip = (await dockerEngine()) ?? false;
let docker: Docker;
let common: ProviderCommon;
const foreign: string[] = [];
const providers: DockerProvider[] = [];

function spec(workerId: string): WorkerSpec {
  // Nothing listens there: the agent keeps retrying, its container keeps running.
  return {
    workerId,
    otpToken: "otp",
    serverAddress: "127.0.0.1:1",
    env: {},
    image: IMAGE_A,
    resources: { cpuCores: 0, memoryBytes: 0, gpuCount: 0 },
  };
}

async function running(id: string): Promise<boolean> {
  return docker
    .getContainer(id)
    .inspect()
    .then(
      (i) => i.State.Running,
      () => false,
    );
}

async function sleeper(labels: Record<string, string>): Promise<string> {
  const c = await docker.createContainer({ Image: IMAGE_A, Cmd: ["sleep", "120"], Labels: labels });
  foreign.push(c.id);
  await c.start();
  return c.id;
}

before(async () => {
  if (skip) return;
  docker = dockerClient();
  await ensureTestImages(docker);
  common = testCommon();
});

after(async () => {
  if (skip) return;
  for (const p of providers) await p.shutdown();
  for (const id of foreign)
    await docker
      .getContainer(id)
      .remove({ force: true })
      .catch(() => {});
  rmSync(common.dataDir, { recursive: true, force: true });
});

test(
  "init() reaps this instance's orphaned containers only, and reuses the agent directory",
  { skip },
  async () => {
    // The crashed control plane was another process, gone now (no process has pid 0).
    const crashed = new DockerProvider(dockerOptionsFromEnv({}, { ...common, serverIdentity: "0:1" }));
    providers.push(crashed);
    await crashed.init();
    const first = crashed.report!;
    const orphans = [await crashed.create(spec("orphan-1")), await crashed.create(spec("orphan-2"))];
    // The control plane "crashes": its provider object is dropped without shutdown().
    providers.pop();
    (crashed as unknown as { events: { stop(): void } }).events.stop();

    const otherInstance = await sleeper({
      [LABEL_INSTANCE]: "another-control-plane",
      [LABEL_MANAGED]: "hodei-docker-provider",
    });
    const notOurs = await sleeper({ "com.example.app": "db" });
    const siblingProvider = await sleeper({
      [LABEL_INSTANCE]: common.instanceId,
      [LABEL_PROVIDER]: "docker-gpu",
    });
    // This instance's container of a control plane that still runs (a rolling restart: the old one
    // is still up while the new one starts): this test process stands in for it.
    const liveSibling = await sleeper({
      [LABEL_MANAGED]: "hodei-docker-provider",
      [LABEL_INSTANCE]: common.instanceId,
      [LABEL_PROVIDER]: "docker",
      [LABEL_SERVER]: ownServerIdentity(),
    });
    for (const o of orphans) assert.equal(await running(o.ref), true);

    const restarted = new DockerProvider(dockerOptionsFromEnv({}, common));
    providers.push(restarted);
    await restarted.init();
    const second = restarted.report!;
    assert.equal(second.reapedOrphans, 2);
    for (const o of orphans) assert.equal(await running(o.ref), false, `orphan ${o.workerId} removed`);
    assert.equal(await running(otherInstance), true, "another instance's container is untouched");
    assert.equal(await running(liveSibling), true, "a live control plane's container is untouched");
    assert.equal(await running(notOurs), true, "a container Hodei did not make is untouched");
    assert.equal(
      await running(siblingProvider),
      true,
      "another Docker provider's container of this control plane is untouched",
    );

    assert.equal(first.agentDirReused, false);
    assert.equal(second.agentDirReused, true);
    assert.equal(second.agentDir, first.agentDir);
    console.log(`# agent directory: built in ${first.agentDirMs} ms, reused in ${second.agentDirMs} ms`);
  },
);
