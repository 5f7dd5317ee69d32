import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { normalizeArchitecture } from "@hodei/core";
import type { EnvDoc, ProviderCommon } from "../provider.js";
import type { KubeConfigSource } from "./kube-client.js";
import type { PodManifestOptions } from "./pod-manifest.js";
import { parseQuantity } from "./quantity.js";

export interface KubernetesProviderOptions {
  /** The provider's name (its record's); default "kubernetes". Part of every pod's owner labels. */
  name?: string;
  /** Where the API server's address and credentials come from (loaded on first use). */
  kubeconfig: KubeConfigSource;
  maxWorkers: number;
  idleTimeoutMs: number;
  pod: Omit<PodManifestOptions, "providerName" | "agentIdleTimeoutMs">;
  /** What one worker may ask for: placement refuses jobs asking more. */
  maxCpuCores: number;
  maxMemoryBytes: number;
  maxGpus: number;
  architecture: string;
  /** Longest wait for one API call before it counts as failed (health, create, delete, list). */
  apiTimeoutMs: number;
}

/** Every variable the Kubernetes provider reads: the README's configuration table. */
export const KUBERNETES_ENV: readonly EnvDoc[] = [
  ["HODEI_K8S_ENABLED", "0", "1: run workers as pods in a Kubernetes cluster"],
  [
    "HODEI_K8S_KUBECONFIG",
    "in a pod: in-cluster; else $KUBECONFIG, else ~/.kube/config",
    "kubeconfig file with the cluster's address and credentials",
  ],
  [
    "KUBECONFIG",
    "(unset)",
    "standard: kubeconfig file read when HODEI_K8S_KUBECONFIG is unset (first of a list)",
  ],
  [
    "KUBERNETES_SERVICE_HOST",
    "(set by Kubernetes in a pod)",
    "standard: when set and HODEI_K8S_KUBECONFIG is not, the pod's service account credentials are used",
  ],
  ["HODEI_K8S_CONTEXT", "the kubeconfig's current context", "kubeconfig context to use"],
  ["HODEI_K8S_NAMESPACE", "default", "namespace of the worker pods"],
  [
    "HODEI_K8S_SERVER_ADDRESS",
    "(required)",
    "host:port of the control plane's gRPC as pods reach it (a Service name, a node IP; not 127.0.0.1)",
  ],
  [
    "HODEI_K8S_DEFAULT_IMAGE",
    "debian:bookworm-slim",
    "image of workers whose job names none (needs /bin/bash)",
  ],
  [
    "HODEI_K8S_AGENT_IMAGE",
    "hodei/worker-agent:0.1.0",
    "image holding the self-contained agent directory at /opt/hodei (buildKubernetesAgentImage); an init container copies it into each pod",
  ],
  ["HODEI_K8S_IMAGE_PULL_POLICY", "IfNotPresent", "Always, IfNotPresent or Never, for both images"],
  [
    "HODEI_K8S_NODE_SELECTOR",
    "(none)",
    "k=v,k=v: node selector of every worker pod; also the workers' labels that jobs' required labels match",
  ],
  [
    "HODEI_K8S_SERVICE_ACCOUNT",
    "the namespace's default",
    "service account of worker pods (its token is not mounted)",
  ],
  ["HODEI_K8S_DEFAULT_CPU", "1", "CPU request and limit of a worker whose job asks for none (cores or 500m)"],
  ["HODEI_K8S_DEFAULT_MEMORY", "1Gi", "memory request and limit of a worker whose job asks for none"],
  ["HODEI_K8S_MAX_CPU", "4", "most cores a job may ask for here"],
  ["HODEI_K8S_MAX_MEMORY", "8Gi", "most memory a job may ask for here"],
  ["HODEI_K8S_MAX_GPUS", "0", "most GPUs a job may ask for here"],
  ["HODEI_K8S_GPU_RESOURCE", "nvidia.com/gpu", "extended resource a job's GPUs are requested as"],
  ["HODEI_K8S_ARCH", "amd64", "the nodes' CPU architecture, for placement"],
  ["HODEI_K8S_MAX_WORKERS", "10", "most worker pods at once"],
  ["HODEI_K8S_API_TIMEOUT", "10000", "ms one call to the API server may take"],
];

function fail(variable: string, problem: string): never {
  throw new Error(`${variable}: ${problem}`);
}

function text(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name]?.trim();
  return v ? v : undefined;
}

function wholeNumber(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number): number {
  const raw = text(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) fail(name, `expected a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < min) fail(name, `must be at least ${min}, got ${n}`);
  return n;
}

function quantity(env: NodeJS.ProcessEnv, name: string, fallback: string): number {
  const raw = text(env, name) ?? fallback;
  const n = parseQuantity(raw);
  if (n === undefined)
    fail(name, `expected a Kubernetes quantity such as 2, 500m, 512Mi or 4G, got "${raw}"`);
  return n;
}

/** `k=v,k=v` with Kubernetes label syntax (optional DNS prefix before a slash). */
export function parseNodeSelector(raw: string | undefined, variable: string): Record<string, string> {
  const out: Record<string, string> = {};
  const key = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
  const value = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
  for (const item of (raw ?? "").split(",")) {
    const pair = item.trim();
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    if (eq <= 0) fail(variable, `expected key=value, got "${pair}"`);
    const k = pair.slice(0, eq).trim();
    const v = pair.slice(eq + 1).trim();
    if (!key.test(k) || k.length > 317) fail(variable, `"${k}" is not a valid Kubernetes label key`);
    if (!value.test(v) || v.length > 63) fail(variable, `"${v}" is not a valid Kubernetes label value`);
    out[k] = v;
  }
  return out;
}

/** The kubeconfig file (or in-cluster); its contents are read when the provider first connects. */
function kubeconfigSource(env: NodeJS.ProcessEnv): KubeConfigSource {
  const inCluster = text(env, "KUBERNETES_SERVICE_HOST") !== undefined;
  const file =
    text(env, "HODEI_K8S_KUBECONFIG") ??
    (inCluster ? undefined : (text(env, "KUBECONFIG")?.split(":")[0] ?? join(homedir(), ".kube", "config")));
  if (file && !existsSync(file)) fail("HODEI_K8S_KUBECONFIG", `${file} does not exist`);
  const context = text(env, "HODEI_K8S_CONTEXT");
  return { ...(file ? { file } : {}), ...(context ? { context } : {}) };
}

/** The Kubernetes provider's options from the environment; throws naming the variable at fault. */
export function kubernetesOptionsFromEnv(
  env: NodeJS.ProcessEnv,
  common: ProviderCommon,
): KubernetesProviderOptions {
  const serverAddress = text(env, "HODEI_K8S_SERVER_ADDRESS");
  if (!serverAddress) {
    fail("HODEI_K8S_SERVER_ADDRESS", "required: host:port of the control plane's gRPC as pods reach it");
  }
  if (!/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:.]+\]:\d{1,5}$/.test(serverAddress)) {
    fail("HODEI_K8S_SERVER_ADDRESS", `expected host:port, got "${serverAddress}"`);
  }
  const pullPolicy = text(env, "HODEI_K8S_IMAGE_PULL_POLICY") ?? "IfNotPresent";
  if (pullPolicy !== "Always" && pullPolicy !== "IfNotPresent" && pullPolicy !== "Never") {
    fail("HODEI_K8S_IMAGE_PULL_POLICY", `expected Always, IfNotPresent or Never, got "${pullPolicy}"`);
  }
  const namespace = text(env, "HODEI_K8S_NAMESPACE") ?? "default";
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(namespace) || namespace.length > 63) {
    fail("HODEI_K8S_NAMESPACE", `"${namespace}" is not a valid namespace name`);
  }
  const defaultCpuCores = quantity(env, "HODEI_K8S_DEFAULT_CPU", "1");
  const defaultMemoryBytes = quantity(env, "HODEI_K8S_DEFAULT_MEMORY", "1Gi");
  if (defaultCpuCores <= 0) fail("HODEI_K8S_DEFAULT_CPU", "must be more than 0");
  if (defaultMemoryBytes <= 0) fail("HODEI_K8S_DEFAULT_MEMORY", "must be more than 0");
  const serviceAccountName = text(env, "HODEI_K8S_SERVICE_ACCOUNT");
  return {
    kubeconfig: kubeconfigSource(env),
    maxWorkers: wholeNumber(env, "HODEI_K8S_MAX_WORKERS", 10, 1),
    idleTimeoutMs: common.idleTimeoutMs,
    pod: {
      namespace,
      instanceId: common.instanceId,
      defaultImage: text(env, "HODEI_K8S_DEFAULT_IMAGE") ?? "debian:bookworm-slim",
      agentImage: text(env, "HODEI_K8S_AGENT_IMAGE") ?? "hodei/worker-agent:0.1.0",
      imagePullPolicy: pullPolicy,
      serverAddress,
      nodeSelector: parseNodeSelector(env.HODEI_K8S_NODE_SELECTOR, "HODEI_K8S_NODE_SELECTOR"),
      defaultCpuCores,
      defaultMemoryBytes,
      gpuResourceName: text(env, "HODEI_K8S_GPU_RESOURCE") ?? "nvidia.com/gpu",
      ...(serviceAccountName ? { serviceAccountName } : {}),
    },
    maxCpuCores: quantity(env, "HODEI_K8S_MAX_CPU", "4"),
    maxMemoryBytes: quantity(env, "HODEI_K8S_MAX_MEMORY", "8Gi"),
    maxGpus: wholeNumber(env, "HODEI_K8S_MAX_GPUS", 0, 0),
    architecture: normalizeArchitecture(text(env, "HODEI_K8S_ARCH") ?? "amd64"),
    apiTimeoutMs: wholeNumber(env, "HODEI_K8S_API_TIMEOUT", 10_000, 1),
  };
}
