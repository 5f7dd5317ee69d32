import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import {
  KubernetesProvider,
  kubernetesOptionsFromEnv,
  type ProviderCommon,
  type WorkerExit,
  type WorkerHandle,
  type WorkerSpec,
} from "../src/index.js";
import { FakeKubeApi, FAKE_TOKEN, kubeconfigFor, type Pod } from "./support/fake-kube-api.js";
import { podManifestProblems } from "./support/pod-schema.js";

const INSTANCE = "cp-7f3a";
const common: ProviderCommon = {
  dataDir: "/nonexistent",
  workerBundlePath: "/nonexistent/hodei-worker.cjs",
  idleTimeoutMs: 60_000,
  instanceId: INSTANCE,
};

function spec(workerId: string, over: Partial<WorkerSpec> = {}): WorkerSpec {
  return {
    workerId,
    otpToken: `otp-${workerId}`,
    serverAddress: "127.0.0.1:50051",
    env: {},
    resources: { cpuCores: 0, memoryBytes: 0, gpuCount: 0 },
    ...over,
  };
}

async function setup(
  t: TestContext,
  env: Record<string, string> = {},
): Promise<{ fake: FakeKubeApi; provider: KubernetesProvider; exits: WorkerExit[] }> {
  const fake = await FakeKubeApi.start();
  const provider = new KubernetesProvider(
    kubernetesOptionsFromEnv(
      {
        HODEI_K8S_KUBECONFIG: fake.kubeconfigPath,
        HODEI_K8S_NAMESPACE: "default",
        HODEI_K8S_SERVER_ADDRESS: "hodei.hodei-system.svc:50051",
        HODEI_K8S_AGENT_IMAGE: "registry.test/hodei/worker-agent:1",
        HODEI_K8S_NODE_SELECTOR: "disk=ssd,kubernetes.io/arch=amd64",
        HODEI_K8S_API_TIMEOUT: "3000",
        ...env,
      },
      common,
    ),
  );
  const exits: WorkerExit[] = [];
  provider.onExit((e) => exits.push(e));
  t.after(async () => {
    await provider.shutdown();
    await fake.close();
  });
  return { fake, provider, exits };
}

/** Polls a condition with a deadline: the watch delivers asynchronously. */
async function until(what: string, cond: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function env(pod: Pod, container = 0): Record<string, string> {
  const list = (pod.spec.containers[container].env ?? []) as { name: string; value: string }[];
  return Object.fromEntries(list.map((e) => [e.name, e.value]));
}

const runningStatus = {
  phase: "Running",
  containerStatuses: [{ name: "worker", image: "debian:bookworm-slim", ready: true, state: { running: {} } }],
};

test("create posts one pod with owner labels, requests = limits, the worker's env, the job's image and the agent injected (fake Kubernetes API server)", async (t) => {
  const { fake, provider } = await setup(t);
  const handle = await provider.create(
    spec("w-1", {
      image: "python:3.11-slim",
      env: { HODEI_LOG_BATCH_SIZE: "64" },
      resources: { cpuCores: 1.5, memoryBytes: 512 * 2 ** 20, gpuCount: 1 },
    }),
  );
  assert.equal(handle.ref, "hodei-worker-w-1");
  assert.equal(handle.provider, "kubernetes");
  assert.equal(fake.posted.length, 1);
  const { body, namespace, query } = fake.posted[0]!;
  assert.equal(namespace, "default");
  assert.equal(query.fieldValidation, "Strict");
  assert.deepEqual(podManifestProblems(body), [], "the manifest on the wire is a valid Pod");

  assert.equal(body.metadata.name, "hodei-worker-w-1");
  assert.deepEqual(body.metadata.labels, {
    "app.kubernetes.io/managed-by": "hodei",
    "app.kubernetes.io/name": "hodei-worker",
    "hodei.dev/instance": INSTANCE,
    "hodei.dev/provider": "kubernetes",
    "hodei.dev/worker-id": "w-1",
  });
  assert.equal(body.spec.restartPolicy, "Never");
  assert.equal(body.spec.automountServiceAccountToken, false);
  assert.deepEqual(body.spec.nodeSelector, { disk: "ssd", "kubernetes.io/arch": "amd64" });

  const [worker] = body.spec.containers;
  assert.equal(body.spec.containers.length, 1);
  assert.equal(worker.image, "python:3.11-slim", "the job's image, not the agent's");
  const both = { cpu: "1500m", memory: String(512 * 2 ** 20), "nvidia.com/gpu": "1" };
  assert.deepEqual(worker.resources, { requests: both, limits: both });
  assert.deepEqual(env(body), {
    HODEI_LOG_BATCH_SIZE: "64",
    HODEI_SERVER_ADDRESS: "hodei.hodei-system.svc:50051",
    HODEI_OTP_TOKEN: "otp-w-1",
    HODEI_WORKER_ID: "w-1",
    HODEI_WORKER_PROVIDER: "kubernetes",
    HODEI_WORKER_LABELS: "disk=ssd,kubernetes.io/arch=amd64",
    HODEI_WORKER_IDLE_TIMEOUT: String(60_000 * 2 + 5_000),
  });

  // The agent: copied by an init container from the agent image into an emptyDir, which the job's
  // container mounts read-only and runs.
  assert.deepEqual(body.spec.volumes, [{ name: "hodei-agent", emptyDir: {} }]);
  const [init] = body.spec.initContainers;
  assert.equal(init.image, "registry.test/hodei/worker-agent:1");
  assert.deepEqual(init.command, [
    "/opt/hodei/bin/node",
    "-e",
    'require("node:fs").cpSync("/opt/hodei", "/hodei-agent-volume", { recursive: true })',
  ]);
  assert.deepEqual(init.volumeMounts, [{ name: "hodei-agent", mountPath: "/hodei-agent-volume" }]);
  assert.deepEqual(worker.volumeMounts, [{ name: "hodei-agent", mountPath: "/opt/hodei", readOnly: true }]);
  assert.deepEqual(worker.command, [
    "/opt/hodei/bin/node",
    "--max-semi-space-size=1",
    "--semi-space-growth-factor=1",
    "/opt/hodei/start.cjs",
  ]);
  assert.equal(provider.status(handle), "starting");
});

test("a job asking for nothing gets the default image and the default requests and limits (fake Kubernetes API server)", async (t) => {
  const { fake, provider } = await setup(t, {
    HODEI_K8S_DEFAULT_IMAGE: "debian:12",
    HODEI_K8S_DEFAULT_CPU: "250m",
    HODEI_K8S_DEFAULT_MEMORY: "256Mi",
  });
  await provider.create(spec("w-defaults"));
  const body = fake.posted[0]!.body;
  assert.deepEqual(podManifestProblems(body), []);
  const [worker] = body.spec.containers;
  assert.equal(worker.image, "debian:12");
  const both = { cpu: "250m", memory: String(256 * 2 ** 20) };
  assert.deepEqual(worker.resources, { requests: both, limits: both });
});

test("the watch maps Pending → Running → Succeeded to the handle's status and one onExit, then removes the pod (fake Kubernetes API server)", async (t) => {
  const { fake, provider, exits } = await setup(t);
  await provider.init();
  const handle = await provider.create(spec("w-ok"));
  assert.equal(provider.status(handle), "starting");
  fake.setStatus(handle.ref, runningStatus);
  await until("running", () => provider.status(handle) === "running");
  fake.setStatus(handle.ref, {
    phase: "Succeeded",
    containerStatuses: [{ name: "worker", state: { terminated: { exitCode: 0, reason: "Completed" } } }],
  });
  await until("onExit", () => exits.length === 1);
  assert.equal(provider.status(handle), "exited");
  assert.deepEqual(exits[0], { handle, code: 0, signal: null });
  await until("the ended pod deleted", () => !fake.pods.has(`default/${handle.ref}`));
  assert.equal(exits.length, 1, "the pod's deletion is not a second exit");
});

test("twenty workers created at once each get their own pod, and each pod's end reaches its own handle (fake Kubernetes API server)", async (t) => {
  const { fake, provider, exits } = await setup(t);
  await provider.init();
  const handles = await Promise.all(
    Array.from({ length: 20 }, (_, i) => provider.create(spec(`w-many-${i}`))),
  );
  assert.equal(new Set(handles.map((h) => h.ref)).size, 20);
  assert.equal(fake.pods.size, 20);
  // Ended in reverse order, each with its own exit code.
  for (const [i, h] of [...handles.entries()].reverse()) {
    fake.setStatus(h.ref, {
      phase: i % 2 ? "Failed" : "Succeeded",
      containerStatuses: [{ name: "worker", state: { terminated: { exitCode: i % 2 ? i : 0 } } }],
    });
  }
  await until("twenty exits", () => exits.length === 20);
  for (const [i, h] of handles.entries()) {
    const exit = exits.find((e) => e.handle.workerId === h.workerId);
    assert.equal(exit?.code, i % 2 ? i : 0, h.workerId);
    assert.equal(provider.status(h), "exited");
  }
  await until("every ended pod deleted", () => fake.pods.size === 0);
});

test("a failed pod surfaces its container's reason and exit code in onExit (fake Kubernetes API server)", async (t) => {
  const { fake, provider, exits } = await setup(t);
  await provider.init();
  const handle = await provider.create(spec("w-oom"));
  fake.setStatus(handle.ref, runningStatus);
  await until("running", () => provider.status(handle) === "running");
  fake.setStatus(handle.ref, {
    phase: "Failed",
    containerStatuses: [{ name: "worker", state: { terminated: { exitCode: 137, reason: "OOMKilled" } } }],
  });
  await until("onExit", () => exits.length === 1);
  assert.equal(exits[0]!.code, 137);
  assert.equal(exits[0]!.reason, "pod failed: OOMKilled (exit code 137)");
  assert.equal(provider.status(handle), "exited");
});

test("an image that cannot be pulled ends the worker with the pull error as its reason and removes the pod (fake Kubernetes API server)", async (t) => {
  const { fake, provider, exits } = await setup(t);
  await provider.init();
  const handle = await provider.create(spec("w-pull", { image: "nosuch/image:1" }));
  fake.setStatus(handle.ref, {
    phase: "Pending",
    initContainerStatuses: [{ name: "hodei-agent", state: { terminated: { exitCode: 0 } } }],
    containerStatuses: [
      {
        name: "worker",
        image: "nosuch/image:1",
        state: {
          waiting: {
            reason: "ImagePullBackOff",
            message: 'Back-off pulling image "nosuch/image:1"',
          },
        },
      },
    ],
  });
  await until("onExit", () => exits.length === 1);
  assert.equal(
    exits[0]!.reason,
    'image pull failed for image nosuch/image:1: ImagePullBackOff: Back-off pulling image "nosuch/image:1"',
  );
  assert.equal(exits[0]!.code, null);
  assert.equal(provider.status(handle), "exited");
  await until("the stuck pod deleted", () => fake.deleted.includes(handle.ref));
});

test("an agent image that cannot be pulled says so (ErrImagePull on the init container) (fake Kubernetes API server)", async (t) => {
  const { fake, provider, exits } = await setup(t);
  await provider.init();
  const handle = await provider.create(spec("w-agent"));
  fake.setStatus(handle.ref, {
    phase: "Pending",
    initContainerStatuses: [
      {
        name: "hodei-agent",
        image: "registry.test/hodei/worker-agent:1",
        state: { waiting: { reason: "ErrImagePull", message: "manifest unknown" } },
      },
    ],
  });
  await until("onExit", () => exits.length === 1);
  assert.equal(
    exits[0]!.reason,
    "image pull failed for agent image registry.test/hodei/worker-agent:1: ErrImagePull: manifest unknown",
  );
});

test("destroy deletes the pod, reports one exit and tolerates a pod already gone (fake Kubernetes API server)", async (t) => {
  const { fake, provider, exits } = await setup(t);
  await provider.init();
  const handle = await provider.create(spec("w-destroy"));
  fake.setStatus(handle.ref, runningStatus);
  await until("running", () => provider.status(handle) === "running");
  await provider.destroy(handle);
  assert.deepEqual(fake.deleted, [handle.ref]);
  assert.equal(fake.pods.size, 0);
  assert.equal(provider.status(handle), "exited");
  assert.deepEqual(exits, [{ handle, code: null, signal: "SIGTERM" }]);

  const gone = await provider.create(spec("w-gone"));
  fake.pods.delete(`default/${gone.ref}`); // vanished without an event: the DELETE gets a 404
  await provider.destroy(gone);
  assert.equal(provider.status(gone), "exited");
  await provider.destroy(gone); // twice is harmless
});

test("a pod destroyed while the scheduler cannot place it says why in its exit (fake Kubernetes API server)", async (t) => {
  const { fake, provider, exits } = await setup(t);
  await provider.init();
  const handle = await provider.create(
    spec("w-unschedulable", { resources: { cpuCores: 64, memoryBytes: 0, gpuCount: 0 } }),
  );
  fake.setStatus(handle.ref, {
    phase: "Pending",
    conditions: [
      {
        type: "PodScheduled",
        status: "False",
        reason: "Unschedulable",
        message: "0/3 nodes are available: 3 Insufficient cpu.",
      },
    ],
  });
  await until("the scheduler's word", () => provider.waitingReason(handle) !== undefined);
  assert.equal(provider.status(handle), "starting");
  await provider.destroy(handle); // as the server's provisioning timeout does
  assert.equal(exits.length, 1);
  assert.equal(
    exits[0]!.reason,
    "pod never scheduled: Unschedulable: 0/3 nodes are available: 3 Insufficient cpu.",
  );
});

test("a pod deleted behind the provider's back ends its worker with that reason (fake Kubernetes API server)", async (t) => {
  const { fake, provider, exits } = await setup(t);
  await provider.init();
  const handle = await provider.create(spec("w-evicted"));
  fake.removePod(handle.ref);
  await until("onExit", () => exits.length === 1);
  assert.equal(exits[0]!.reason, "pod deleted outside Hodei");
});

test("init reaps this instance's orphan pods and never touches another instance's, another provider's or unlabelled pods (fake Kubernetes API server)", async (t) => {
  const { fake, provider } = await setup(t);
  const labels = (instance: string, provider = "kubernetes") => ({
    "app.kubernetes.io/managed-by": "hodei",
    "hodei.dev/instance": instance,
    "hodei.dev/provider": provider,
  });
  fake.addPod({ metadata: { name: "hodei-worker-orphan-1", labels: labels(INSTANCE) } });
  fake.addPod({ metadata: { name: "hodei-worker-orphan-2", labels: labels(INSTANCE) } });
  fake.addPod({ metadata: { name: "hodei-worker-other", labels: labels("cp-other") } });
  fake.addPod({ metadata: { name: "hodei-worker-gpu-pool", labels: labels(INSTANCE, "k8s-gpu") } });
  fake.addPod({
    metadata: { name: "hodei-worker-elsewhere", namespace: "other-ns", labels: labels(INSTANCE) },
  });
  fake.addPod({ metadata: { name: "postgres-0", labels: { app: "postgres" } } });
  await provider.init();
  assert.deepEqual(fake.deleted.sort(), ["hodei-worker-orphan-1", "hodei-worker-orphan-2"]);
  assert.deepEqual([...fake.pods.keys()].sort(), [
    "default/hodei-worker-gpu-pool",
    "default/hodei-worker-other",
    "default/postgres-0",
    "other-ns/hodei-worker-elsewhere",
  ]);
  const health = await provider.health();
  assert.equal(health.details?.reapedAtStart, "2");
  await until("the watch open", () => fake.openWatches === 1);
});

test("the watch reconnects after the API server ends it, and catches up on what happened meanwhile (fake Kubernetes API server)", async (t) => {
  const { fake, provider, exits } = await setup(t);
  await provider.init();
  const handle = await provider.create(spec("w-reconnect"));
  await until("the watch open", () => fake.openWatches === 1);
  const watchesBefore = fake.requests.filter((r) => r.query.watch === "true").length;
  fake.endWatches();
  fake.setStatus(handle.ref, {
    phase: "Failed",
    containerStatuses: [{ name: "worker", state: { terminated: { exitCode: 1, reason: "Error" } } }],
  });
  await until("onExit after reconnecting", () => exits.length === 1);
  assert.equal(exits[0]!.reason, "pod failed: Error (exit code 1)");
  await until(
    "a new watch",
    () => fake.requests.filter((r) => r.query.watch === "true").length > watchesBefore,
  );
  assert.ok(
    fake.requests.some((r) => r.query.watch === "true" && r.query.resourceVersion),
    "resumed from a list",
  );
});

test("a 410 Gone on the watch stream makes the provider list and watch again (fake Kubernetes API server)", async (t) => {
  const { fake, provider, exits } = await setup(t);
  await provider.init();
  const handle = await provider.create(spec("w-gone-410"));
  await until("the watch open", () => fake.openWatches === 1);
  const watches = () => fake.requests.filter((r) => r.query.watch === "true").length;
  const before = watches();
  fake.expireWatches();
  await until("a new watch", () => watches() > before && fake.openWatches === 1);
  fake.setStatus(handle.ref, { phase: "Succeeded" });
  await until("onExit through the new watch", () => exits.length === 1);
  assert.equal(exits[0]!.code, 0);
});

test("watch streams cut as soon as they open are retried with backoff, not in a hot loop (fake Kubernetes API server)", async (t) => {
  const { fake, provider } = await setup(t);
  fake.cutWatches = true;
  await provider.init();
  const started = Date.now();
  const watches = () => fake.requests.filter((r) => r.query.watch === "true").length;
  await until("a few attempts", () => watches() >= 4);
  const firstFour = Date.now() - started;
  // 100 ms doubling: 200 + 400 + 800 ms at least between the first and the fourth attempt.
  assert.ok(firstFour >= 1_300, `four watch attempts in ${firstFour} ms`);
});

test("health asks the API server: version and namespace when reachable (fake Kubernetes API server)", async (t) => {
  const { fake, provider } = await setup(t);
  const h = await provider.health();
  assert.equal(h.healthy, true, h.message);
  assert.match(
    h.message,
    /^Kubernetes v1\.31\.0-fake at https:\/\/127\.0\.0\.1:\d+, namespace default: 0 worker pod\(s\)$/,
  );
  assert.ok(fake.requests.some((r) => r.path === "/version"));

  fake.failWith = { code: 403, message: 'pods is forbidden: User "tester" cannot list resource "pods"' };
  const denied = await provider.health();
  assert.equal(denied.healthy, false);
  assert.match(denied.message, /HTTP 403: pods is forbidden: User "tester" cannot list resource "pods"$/);
});

test("health reports an unreachable API server with the connection error (fake Kubernetes API server stopped)", async (t) => {
  // A port that was just free and is now closed: connection refused, at once.
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const fake = await FakeKubeApi.start();
  writeFileSync(fake.kubeconfigPath, kubeconfigFor(`https://127.0.0.1:${port}`, FAKE_TOKEN));
  const provider = new KubernetesProvider(
    kubernetesOptionsFromEnv(
      { HODEI_K8S_KUBECONFIG: fake.kubeconfigPath, HODEI_K8S_SERVER_ADDRESS: "hodei:50051" },
      common,
    ),
  );
  t.after(async () => {
    await provider.shutdown();
    await fake.close();
  });
  const h = await provider.health();
  assert.equal(h.healthy, false);
  assert.match(
    h.message,
    new RegExp(`^Kubernetes API server https://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`),
  );
  await assert.rejects(provider.init(), /kubernetes provider \(https:\/\/127\.0\.0\.1:\d+\): .*ECONNREFUSED/);
  await assert.rejects(provider.create(spec("w-x")), /creating pod hodei-worker-w-x failed: .*ECONNREFUSED/);
});

test("a kubeconfig that cannot be read, or names a missing context, fails init and health with the variable's name (fake Kubernetes API server)", async (t) => {
  const { fake } = await setup(t);
  const garbage = join(dirname(fake.kubeconfigPath), "garbage");
  writeFileSync(garbage, "clusters: [oops");
  const base = { HODEI_K8S_SERVER_ADDRESS: "hodei:50051", HODEI_K8S_API_TIMEOUT: "2000" };
  for (const [env, expected] of [
    [{ HODEI_K8S_KUBECONFIG: garbage }, /HODEI_K8S_KUBECONFIG: cannot load .*garbage/],
    [
      { HODEI_K8S_KUBECONFIG: fake.kubeconfigPath, HODEI_K8S_CONTEXT: "prod" },
      /HODEI_K8S_CONTEXT: no context "prod"/,
    ],
  ] as const) {
    const provider = new KubernetesProvider(kubernetesOptionsFromEnv({ ...base, ...env }, common));
    t.after(() => provider.shutdown());
    await assert.rejects(provider.init(), expected);
    const h = await provider.health();
    assert.equal(h.healthy, false);
    assert.match(h.message, expected);
  }
});

test("a refused pod creation rejects with the API server's message and leaves nothing tracked (fake Kubernetes API server)", async (t) => {
  const { fake, provider } = await setup(t);
  fake.failWith = { code: 403, message: 'pods "hodei-worker-w-q" is forbidden: exceeded quota: compute' };
  let handle: WorkerHandle | undefined;
  await assert.rejects(
    async () => {
      handle = await provider.create(spec("w-q"));
    },
    {
      message:
        'kubernetes: creating pod hodei-worker-w-q failed: HTTP 403: pods "hodei-worker-w-q" is forbidden: exceeded quota: compute',
    },
  );
  assert.equal(handle, undefined);
  assert.equal(
    provider.status({ workerId: "w-q", provider: "kubernetes", ref: "hodei-worker-w-q" }),
    "exited",
  );
  fake.failWith = undefined;
  await provider.create(spec("w-q")); // the name is free again
});

test("checkImage cannot know a cluster's registries: every image is allowed (fake Kubernetes API server)", async (t) => {
  const { fake, provider } = await setup(t);
  assert.equal(await provider.checkImage("nosuch/image:1"), null);
  assert.equal(fake.requests.length, 0, "no API call made for it");
  const caps = provider.capabilities();
  assert.deepEqual(caps.labels, { disk: "ssd", "kubernetes.io/arch": "amd64" });
  assert.equal(caps.architecture, "x86_64");
});
