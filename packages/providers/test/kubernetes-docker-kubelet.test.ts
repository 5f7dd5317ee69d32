// The Kubernetes provider's pods really run: the API server is the fake one (no cluster can run
// here) and a stand-in kubelet runs each pod's containers on the real Docker Engine, so the agent
// injection is shown to work: the agent image built by buildKubernetesAgentImage, its init
// container copying the agent into the emptyDir, and a job image with neither node nor bash
// running the agent from the read-only mount, registering and running a job.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import type Docker from "dockerode";
import {
  buildKubernetesAgentImage,
  KubernetesProvider,
  kubernetesOptionsFromEnv,
  type ProviderCommon,
  type WorkerExit,
  type WorkerSpec,
} from "../src/index.js";
import {
  dockerClient,
  dockerEngine,
  ensureTestImages,
  IMAGE_A,
  testCommon,
} from "./support/docker-engine.js";
import { DockerKubelet } from "./support/docker-kubelet.js";
import { FakeKubeApi } from "./support/fake-kube-api.js";
import { runJob, startHarness, type Harness } from "./support/harness.js";

const AGENT_IMAGE = "hodei-test/k8s-agent:1";
const skip = (await dockerEngine()) ?? false;
let docker: Docker;
let common: ProviderCommon;
let fake: FakeKubeApi;
let kubelet: DockerKubelet;
let harness: Harness;
let provider: KubernetesProvider;
const exits: WorkerExit[] = [];

async function until<T>(what: string, probe: () => T | undefined, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function spec(workerId: string, over: Partial<WorkerSpec> = {}): WorkerSpec {
  return {
    workerId,
    otpToken: `otp-${workerId}`,
    serverAddress: "ignored:1",
    env: {},
    resources: { cpuCores: 0.5, memoryBytes: 256 * 2 ** 20, gpuCount: 0 },
    ...over,
  };
}

before(async () => {
  if (skip) return;
  docker = dockerClient();
  common = testCommon();
  await ensureTestImages(docker);
  const built = await buildKubernetesAgentImage(docker, AGENT_IMAGE, common);
  console.log(`# agent image ${AGENT_IMAGE} built in ${built.buildMs} ms`);
  fake = await FakeKubeApi.start();
  kubelet = new DockerKubelet(fake, docker);
  harness = await startHarness();
  provider = new KubernetesProvider(
    kubernetesOptionsFromEnv(
      {
        HODEI_K8S_KUBECONFIG: fake.kubeconfigPath,
        HODEI_K8S_SERVER_ADDRESS: harness.address,
        HODEI_K8S_AGENT_IMAGE: AGENT_IMAGE,
        HODEI_K8S_IMAGE_PULL_POLICY: "Never",
      },
      common,
    ),
  );
  provider.onExit((e) => exits.push(e));
  await provider.init();
});

after(async () => {
  if (skip) return;
  await provider.shutdown();
  await kubelet.stop();
  await harness.kill();
  await fake.close();
  rmSync(common.dataDir, { recursive: true, force: true });
});

test(
  "a pod runs as a kubelet would run it: the agent comes from the agent image into a busybox job image, registers and runs a job; destroy removes it (fake Kubernetes API server, pods on Docker)",
  { skip },
  async () => {
    const started = Date.now();
    const handle = await provider.create(spec("k8s-w1", { image: IMAGE_A }));
    await until("the pod running", () => (provider.status(handle) === "running" ? true : undefined));
    const registration = await until("registration", () =>
      harness.registrations.find((r) => r.authToken === "otp-k8s-w1"),
    );
    console.log(`# pod created → worker registered in ${Date.now() - started} ms`);
    assert.equal(registration.workerInfo?.workerId, "k8s-w1");
    assert.equal(registration.workerInfo?.provider, "kubernetes");
    const run = await runJob(
      harness,
      "k8s-job-1",
      "grep ^ID= /etc/os-release; ls /opt/hodei/bin; touch /opt/hodei/x || echo read-only",
    );
    assert.equal(run.exitCode, 0, run.lines.join("\n"));
    assert.ok(run.lines.includes("ID=hodei-test-a"), `the job ran in its image: ${run.lines.join(" | ")}`);
    assert.ok(run.lines.includes("read-only"), "the agent's mount is read-only");
    assert.ok(run.lines.includes("node"), "the agent came in through the emptyDir");

    await provider.destroy(handle);
    assert.equal(provider.status(handle), "exited");
    const deadline = Date.now() + 10_000;
    while ((await kubelet.leftovers()) > 0) {
      if (Date.now() > deadline) assert.fail("the destroyed pod's containers or volume are still there");
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(kubelet.errors, []);
  },
);

test(
  "a job image the node cannot pull ends the worker with ErrImagePull as its reason (fake Kubernetes API server, pods on Docker)",
  { skip },
  async () => {
    const handle = await provider.create(spec("k8s-w2", { image: "hodei-test/not-here:9" }));
    const exit = await until("onExit", () => exits.find((e) => e.handle.workerId === handle.workerId));
    assert.equal(
      exit.reason,
      "image pull failed for image hodei-test/not-here:9: ErrImagePull: pull access denied for hodei-test/not-here, repository does not exist or may require authorization",
    );
    assert.equal(provider.status(handle), "exited");
    assert.deepEqual(kubelet.errors, []);
  },
);
