import { createHash } from "node:crypto";
import type { V1EnvVar, V1Pod, V1ResourceRequirements } from "@kubernetes/client-node";
import { AGENT_MOUNT } from "../docker/agent-dir.js";
import { WORKER_NODE_FLAGS, type WorkerSpec } from "../provider.js";
import { cpuQuantity, memoryQuantity } from "./quantity.js";

/** Labels on every pod this provider creates: how its watch, its reaper and `kubectl` find them. */
export const LABEL_MANAGED_BY = "app.kubernetes.io/managed-by";
export const LABEL_INSTANCE = "hodei.dev/instance";
/** The provider's name: one control plane may run several Kubernetes providers (records). */
export const LABEL_PROVIDER = "hodei.dev/provider";
export const LABEL_WORKER = "hodei.dev/worker-id";
export const MANAGED_BY = "hodei";
/** The worker id unabridged (a label value is limited to 63 characters and a few symbols). */
export const ANNOTATION_WORKER = "hodei.dev/worker-id";

/** The container that runs the agent and the job; its exit is the worker's exit. */
export const WORKER_CONTAINER = "worker";
export const AGENT_INIT_CONTAINER = "hodei-agent";
/**
 * The agent directory is the Docker provider's (node and bash with their own loader and libraries,
 * the worker bundle, start.cjs), patched to live at /opt/hodei: the agent image holds it there, the
 * init container's own copy of node copies it into the emptyDir (so the agent image needs nothing
 * else, not even `cp`), and the job's container sees the copy at /opt/hodei again.
 */
export const AGENT_DIR = AGENT_MOUNT;
/** Where the init container sees the emptyDir it fills. */
export const AGENT_VOLUME_DIR = "/hodei-agent-volume";
export const AGENT_COMMAND = [`${AGENT_DIR}/bin/node`, ...WORKER_NODE_FLAGS, `${AGENT_DIR}/start.cjs`];
const AGENT_COPY = [
  `${AGENT_DIR}/bin/node`,
  "-e",
  `require("node:fs").cpSync(${JSON.stringify(AGENT_DIR)}, ${JSON.stringify(AGENT_VOLUME_DIR)}, { recursive: true })`,
];
const AGENT_VOLUME = "hodei-agent";

export interface PodManifestOptions {
  namespace: string;
  /** ProviderCommon.instanceId: which control plane owns the pod. */
  instanceId: string;
  /** The image of a worker whose job names none. */
  defaultImage: string;
  /** Holds the agent directory at AGENT_DIR. */
  agentImage: string;
  imagePullPolicy: "Always" | "IfNotPresent" | "Never";
  /** host:port of the control plane's gRPC as pods reach it. */
  serverAddress: string;
  nodeSelector: Record<string, string>;
  /** Requests and limits of a worker whose job asks for 0. */
  defaultCpuCores: number;
  defaultMemoryBytes: number;
  /** Extended resource a job's GPUs are requested as, e.g. "nvidia.com/gpu". */
  gpuResourceName: string;
  serviceAccountName?: string;
  /** ms after which an idle worker's agent exits by itself (0: never). */
  agentIdleTimeoutMs: number;
  providerName: string;
}

function shortHash(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 8);
}

/**
 * A pod name (DNS-1123 label, at most 63 characters) for a worker id; ids that are not already
 * valid get a hash suffix, so two ids never map to the same name by sanitising.
 */
export function podNameFor(workerId: string): string {
  const prefix = "hodei-worker-";
  const slug = workerId
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/-+/g, "-")
    .replace(/^-|-$/g, "");
  if (slug === workerId && prefix.length + slug.length <= 63 && slug !== "") return prefix + slug;
  const room = 63 - prefix.length - 9;
  const head = slug.slice(0, room).replace(/-$/, "");
  return `${prefix}${head}${head ? "-" : ""}${shortHash(workerId)}`;
}

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** A valid label value (at most 63 characters, alphanumerics and -_.) standing for `text`. */
export function labelValueFor(text: string): string {
  if (text.length <= 63 && LABEL_VALUE.test(text)) return text;
  const head = text
    .replace(/[^A-Za-z0-9_.-]+/g, "-")
    .slice(0, 54)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, "");
  return `${head}${head ? "-" : ""}${shortHash(text)}`;
}

/** The label selector that matches exactly the pods of one provider of one control-plane instance. */
export function instanceSelector(instanceId: string, providerName: string): string {
  return [
    `${LABEL_MANAGED_BY}=${MANAGED_BY}`,
    `${LABEL_INSTANCE}=${labelValueFor(instanceId)}`,
    `${LABEL_PROVIDER}=${labelValueFor(providerName)}`,
  ].join(",");
}

function resourcesFor(spec: WorkerSpec, o: PodManifestOptions): V1ResourceRequirements {
  const cpu = cpuQuantity(spec.resources.cpuCores > 0 ? spec.resources.cpuCores : o.defaultCpuCores);
  const memory = memoryQuantity(
    spec.resources.memoryBytes > 0 ? spec.resources.memoryBytes : o.defaultMemoryBytes,
  );
  // Requests equal limits: the pod gets the Guaranteed QoS class, so what the job asked for is
  // what it has, neither throttled below it nor evicted first under node pressure.
  const both: Record<string, string> = { cpu, memory };
  if (spec.resources.gpuCount > 0) both[o.gpuResourceName] = String(Math.ceil(spec.resources.gpuCount));
  return { requests: { ...both }, limits: { ...both } };
}

function envFor(spec: WorkerSpec, o: PodManifestOptions): V1EnvVar[] {
  const env: Record<string, string> = {
    ...spec.env,
    HODEI_SERVER_ADDRESS: o.serverAddress,
    HODEI_OTP_TOKEN: spec.otpToken,
    HODEI_WORKER_ID: spec.workerId,
    HODEI_WORKER_PROVIDER: o.providerName,
    HODEI_WORKER_LABELS: Object.entries(o.nodeSelector)
      .map(([k, v]) => `${k}=${v}`)
      .join(","),
    HODEI_WORKER_IDLE_TIMEOUT: String(o.agentIdleTimeoutMs),
  };
  return Object.entries(env).map(([name, value]) => ({ name, value }));
}

/**
 * One worker's pod. The job's image knows nothing about Hodei, so an init container from the
 * agent image copies the self-contained agent into an emptyDir that the worker container mounts
 * read-only and runs: any Linux image of the nodes' architecture can be a worker, with or without
 * a shell of its own.
 */
export function buildWorkerPod(spec: WorkerSpec, o: PodManifestOptions): V1Pod {
  const resources = resourcesFor(spec, o);
  const copyCpuMemory = { cpu: resources.limits?.cpu ?? "", memory: resources.limits?.memory ?? "" };
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: podNameFor(spec.workerId),
      namespace: o.namespace,
      labels: {
        [LABEL_MANAGED_BY]: MANAGED_BY,
        "app.kubernetes.io/name": "hodei-worker",
        [LABEL_INSTANCE]: labelValueFor(o.instanceId),
        [LABEL_PROVIDER]: labelValueFor(o.providerName),
        [LABEL_WORKER]: labelValueFor(spec.workerId),
      },
      annotations: { [ANNOTATION_WORKER]: spec.workerId, "hodei.dev/instance": o.instanceId },
    },
    spec: {
      // A worker that ends is gone: the control plane provisions a new one with a new OTP.
      restartPolicy: "Never",
      // Jobs run arbitrary commands: they get no credentials for the API server.
      automountServiceAccountToken: false,
      ...(o.serviceAccountName ? { serviceAccountName: o.serviceAccountName } : {}),
      ...(Object.keys(o.nodeSelector).length > 0 ? { nodeSelector: { ...o.nodeSelector } } : {}),
      terminationGracePeriodSeconds: 10,
      volumes: [{ name: AGENT_VOLUME, emptyDir: {} }],
      initContainers: [
        {
          name: AGENT_INIT_CONTAINER,
          image: o.agentImage,
          imagePullPolicy: o.imagePullPolicy,
          command: [...AGENT_COPY],
          // The worker's CPU and memory: a pod's request is the larger of its init and its app
          // containers', so these add nothing to what the pod asks of the scheduler. No GPU.
          resources: { requests: { ...copyCpuMemory }, limits: { ...copyCpuMemory } },
          volumeMounts: [{ name: AGENT_VOLUME, mountPath: AGENT_VOLUME_DIR }],
        },
      ],
      containers: [
        {
          name: WORKER_CONTAINER,
          image: spec.image ?? o.defaultImage,
          imagePullPolicy: o.imagePullPolicy,
          command: [...AGENT_COMMAND],
          env: envFor(spec, o),
          resources,
          volumeMounts: [{ name: AGENT_VOLUME, mountPath: AGENT_DIR, readOnly: true }],
        },
      ],
    },
  };
}
