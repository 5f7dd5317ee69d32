import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  buildWorkerPod,
  instanceSelector,
  KUBERNETES_ENV,
  kubernetesOptionsFromEnv,
  observePod,
  podNameFor,
  type PodManifestOptions,
  type ProviderCommon,
  type WorkerSpec,
} from "../src/index.js";
import { labelValueFor } from "../src/kubernetes/pod-manifest.js";
import { parseQuantity } from "../src/kubernetes/quantity.js";
import { kubeconfigFor } from "./support/fake-kube-api.js";
import { podManifestProblems } from "./support/pod-schema.js";

const options: PodManifestOptions = {
  namespace: "jobs",
  instanceId: "cp-1",
  defaultImage: "debian:bookworm-slim",
  agentImage: "hodei/worker-agent:0.1.0",
  imagePullPolicy: "IfNotPresent",
  serverAddress: "hodei:50051",
  nodeSelector: { "node.kubernetes.io/instance-type": "m5.large" },
  defaultCpuCores: 1,
  defaultMemoryBytes: 2 ** 30,
  gpuResourceName: "nvidia.com/gpu",
  serviceAccountName: "hodei-worker",
  agentIdleTimeoutMs: 0,
  providerName: "kubernetes",
};

const spec: WorkerSpec = {
  workerId: "w-1",
  otpToken: "otp",
  serverAddress: "127.0.0.1:50051",
  env: { A: "1" },
  resources: { cpuCores: 0.1, memoryBytes: 1000.5, gpuCount: 2 },
};

/** The manifest as it goes on the wire (JSON), which is what the API server validates. */
function wire(o = options, s = spec): Record<string, any> {
  return JSON.parse(JSON.stringify(buildWorkerPod(s, o)));
}

test("the worker pod validates against the Kubernetes OpenAPI schema (kubernetes-models) and strict fields", () => {
  assert.deepEqual(podManifestProblems(wire()), []);
  assert.deepEqual(
    podManifestProblems(wire({ ...options, nodeSelector: {} }, { ...spec, image: "alpine:3" })),
    [],
  );
  const pod = wire();
  assert.equal(pod.spec.serviceAccountName, "hodei-worker");
  assert.deepEqual(pod.spec.containers[0].resources.limits, {
    cpu: "100m",
    memory: "1001",
    "nvidia.com/gpu": "2",
  });
});

test("the schema check catches deliberately broken manifests", () => {
  const cases: [string, (p: Record<string, any>) => void, RegExp][] = [
    [
      "a container without a name",
      (p) => delete p.spec.containers[0].name,
      /containers\/0 must have required property name/,
    ],
    [
      "a quantity that is an object",
      (p) => (p.spec.containers[0].resources.limits.cpu = { cores: 1 }),
      /limits\/cpu/,
    ],
    ["a numeric env value", (p) => (p.spec.containers[0].env[0].value = 1), /env\/0\/value must be string/],
    [
      "a misspelt field",
      (p) => (p.spec.containers[0].volumeMounts[0].readonly = true),
      /volumeMounts\[0\]\.readonly: unknown field/,
    ],
    [
      "a label that is a number",
      (p) => (p.metadata.labels["hodei.dev/worker-id"] = 7),
      /labels\/hodei\.dev~1worker-id must be string/,
    ],
    ["no containers", (p) => delete p.spec.containers, /spec must have required property containers/],
    ["the wrong kind", (p) => (p.kind = "Deployment"), /kind: expected "Pod"/],
  ];
  for (const [what, breakIt, expected] of cases) {
    const pod = wire();
    breakIt(pod);
    const problems = podManifestProblems(pod);
    assert.ok(
      problems.some((p) => expected.test(p)),
      `${what}: expected a problem matching ${expected}, got ${JSON.stringify(problems)}`,
    );
  }
});

test("pod names and label values are valid for any worker or instance id, and distinct ids stay distinct", () => {
  const dns1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
  const ids = [
    "w-1",
    "Worker_7",
    "8e0f6d2a-5a7c-4c1e-9f4e-0d6b3b1c2a9e",
    "x".repeat(200),
    "--",
    "é",
    "a.b",
    "A.B",
  ];
  const names = ids.map(podNameFor);
  for (const n of names) {
    assert.match(n, dns1123);
    assert.ok(n.length <= 63, n);
  }
  assert.equal(new Set(names).size, ids.length);
  assert.equal(podNameFor("w-1"), "hodei-worker-w-1");
  const label = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
  for (const id of [...ids, "host:1234/data", "cp 1"]) {
    const v = labelValueFor(id);
    assert.match(v, label);
    assert.ok(v.length <= 63, v);
  }
  assert.equal(labelValueFor("cp-1"), "cp-1");
  assert.equal(
    instanceSelector("cp-1", "k8s"),
    "app.kubernetes.io/managed-by=hodei,hodei.dev/instance=cp-1,hodei.dev/provider=k8s",
  );
});

test("pod statuses map to worker states and exit reasons", () => {
  const pod = (status: unknown) => ({ status }) as Parameters<typeof observePod>[0];
  assert.deepEqual(observePod(pod({ phase: "Pending" })), { status: "starting" });
  assert.deepEqual(observePod(pod(undefined)), { status: "starting" });
  assert.deepEqual(observePod(pod({ phase: "Running" })), { status: "running" });
  assert.deepEqual(observePod(pod({ phase: "Succeeded" })), {
    status: "exited",
    exit: { code: 0, signal: null },
  });
  assert.deepEqual(
    observePod(pod({ phase: "Failed", reason: "Evicted", message: "The node was low on resource: memory." })),
    {
      status: "exited",
      exit: {
        code: null,
        signal: null,
        reason: "pod failed: Evicted: The node was low on resource: memory.",
      },
    },
  );
  const agentFailed = observePod(
    pod({
      phase: "Failed",
      initContainerStatuses: [
        {
          name: "hodei-agent",
          image: "busybox",
          state: { terminated: { exitCode: 1, message: "cp: can't stat" } },
        },
      ],
    }),
  );
  assert.equal(
    agentFailed.exit?.reason,
    "pod failed: copying the agent from busybox exited with code 1: cp: can't stat",
  );
  for (const reason of ["ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"]) {
    const seen = observePod(
      pod({
        phase: "Pending",
        containerStatuses: [{ name: "worker", image: "x:1", state: { waiting: { reason } } }],
      }),
    );
    assert.equal(seen.exit?.reason, `image pull failed for image x:1: ${reason}`);
  }
  const config = observePod(
    pod({
      phase: "Pending",
      containerStatuses: [
        {
          name: "worker",
          state: { waiting: { reason: "CreateContainerConfigError", message: 'secret "s" not found' } },
        },
      ],
    }),
  );
  assert.equal(
    config.exit?.reason,
    'worker container could not be created: CreateContainerConfigError: secret "s" not found',
  );
  const unschedulable = observePod(
    pod({
      phase: "Pending",
      conditions: [
        {
          type: "PodScheduled",
          status: "False",
          reason: "Unschedulable",
          message: "0/3 nodes are available",
        },
      ],
    }),
  );
  assert.deepEqual(unschedulable, { status: "starting", waiting: "Unschedulable: 0/3 nodes are available" });
  // Still being pulled or created: not a failure.
  for (const reason of ["ContainerCreating", "PodInitializing"]) {
    assert.deepEqual(
      observePod(
        pod({ phase: "Pending", containerStatuses: [{ name: "worker", state: { waiting: { reason } } }] }),
      ),
      {
        status: "starting",
      },
    );
  }
});

test("quantities parse as Kubernetes writes them", () => {
  assert.equal(parseQuantity("500m"), 0.5);
  assert.equal(parseQuantity("2"), 2);
  assert.equal(parseQuantity("1.5"), 1.5);
  assert.equal(parseQuantity("512Mi"), 512 * 2 ** 20);
  assert.equal(parseQuantity("4G"), 4e9);
  for (const bad of ["", "abc", "1.5.2", "-1", "5 Gi", "1Xi"])
    assert.equal(parseQuantity(bad), undefined, bad);
});

const common: ProviderCommon = {
  dataDir: "/d",
  workerBundlePath: "/b",
  idleTimeoutMs: 1000,
  instanceId: "cp-1",
};

function withKubeconfig(fn: (path: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "hodei-kcfg-"));
  try {
    const path = join(dir, "config");
    writeFileSync(path, kubeconfigFor("https://10.0.0.1:6443", "t"));
    fn(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("options from the environment: defaults, and a bad value is an error naming its variable", () => {
  withKubeconfig((kubeconfig) => {
    const base = { HODEI_K8S_KUBECONFIG: kubeconfig, HODEI_K8S_SERVER_ADDRESS: "hodei.ns.svc:50051" };
    const o = kubernetesOptionsFromEnv(base, common);
    assert.equal(o.pod.namespace, "default");
    assert.equal(o.pod.defaultImage, "debian:bookworm-slim");
    assert.equal(o.pod.defaultCpuCores, 1);
    assert.equal(o.pod.defaultMemoryBytes, 2 ** 30);
    assert.equal(o.pod.instanceId, "cp-1");
    assert.equal(o.maxWorkers, 10);
    assert.deepEqual(o.kubeconfig, { file: kubeconfig });
    assert.deepEqual(kubernetesOptionsFromEnv({ ...base, HODEI_K8S_CONTEXT: "prod" }, common).kubeconfig, {
      file: kubeconfig,
      context: "prod",
    });
    const bad: [Record<string, string>, RegExp][] = [
      [{ HODEI_K8S_SERVER_ADDRESS: "" }, /^HODEI_K8S_SERVER_ADDRESS: required/],
      [{ HODEI_K8S_SERVER_ADDRESS: "no-port" }, /^HODEI_K8S_SERVER_ADDRESS: expected host:port/],
      [{ HODEI_K8S_DEFAULT_CPU: "lots" }, /^HODEI_K8S_DEFAULT_CPU: expected a Kubernetes quantity/],
      [{ HODEI_K8S_DEFAULT_MEMORY: "0" }, /^HODEI_K8S_DEFAULT_MEMORY: must be more than 0/],
      [{ HODEI_K8S_NODE_SELECTOR: "disk" }, /^HODEI_K8S_NODE_SELECTOR: expected key=value/],
      [{ HODEI_K8S_NODE_SELECTOR: "disk=s s" }, /^HODEI_K8S_NODE_SELECTOR: "s s" is not a valid/],
      [{ HODEI_K8S_NAMESPACE: "Jobs_1" }, /^HODEI_K8S_NAMESPACE: "Jobs_1" is not a valid namespace/],
      [{ HODEI_K8S_IMAGE_PULL_POLICY: "sometimes" }, /^HODEI_K8S_IMAGE_PULL_POLICY: expected Always/],
      [{ HODEI_K8S_MAX_WORKERS: "0" }, /^HODEI_K8S_MAX_WORKERS: must be at least 1/],
      [
        { HODEI_K8S_KUBECONFIG: "/nonexistent/kubeconfig" },
        /^HODEI_K8S_KUBECONFIG: \/nonexistent\/kubeconfig does not exist/,
      ],
    ];
    for (const [env, expected] of bad) {
      assert.throws(
        () => kubernetesOptionsFromEnv({ ...base, ...env }, common),
        { message: expected },
        JSON.stringify(env),
      );
    }
  });
  assert.throws(
    () =>
      kubernetesOptionsFromEnv({ HODEI_K8S_SERVER_ADDRESS: "h:1", KUBECONFIG: "/nonexistent/a:/b" }, common),
    { message: /^HODEI_K8S_KUBECONFIG: \/nonexistent\/a does not exist/ },
  );
  // In a pod: the service account, read when the provider first connects.
  const inPod = kubernetesOptionsFromEnv(
    { HODEI_K8S_SERVER_ADDRESS: "h:1", KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBECONFIG: "/nonexistent" },
    common,
  );
  assert.deepEqual(inPod.kubeconfig, {});
});

test("KUBERNETES_ENV documents every variable the provider reads, and no other", () => {
  const src = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "src", "kubernetes");
  const read = new Set<string>();
  for (const file of readdirSync(src).filter((f) => f.endsWith(".ts"))) {
    // The table itself does not count as reading a variable.
    const code = readFileSync(join(src, file), "utf8").replace(
      /export const KUBERNETES_ENV[\s\S]*?\n\];/,
      "",
    );
    for (const m of code.matchAll(/"((?:HODEI_K8S|KUBE)[A-Z_]+)"/g)) read.add(m[1]!);
  }
  const documented = new Set(KUBERNETES_ENV.map(([name]) => name));
  // HODEI_K8S_ENABLED is read by the server, which builds the provider.
  read.add("HODEI_K8S_ENABLED");
  assert.deepEqual([...documented].sort(), [...read].sort());
});
