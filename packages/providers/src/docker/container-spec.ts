import type { ContainerCreateOptions } from "dockerode";
import { WORKER_NODE_FLAGS, type WorkerSpec } from "../provider.js";
import { AGENT_MOUNT } from "./agent-dir.js";

/** On every container this provider creates: which control plane owns it (for orphan reaping). */
export const LABEL_INSTANCE = "io.hodei.instance";
/** Which provider (by name) of that control plane: two Docker providers never reap each other's. */
export const LABEL_PROVIDER = "io.hodei.provider";
/** The control plane process that made the container: an orphan's is gone. */
export const LABEL_SERVER = "io.hodei.server";
export const LABEL_WORKER = "io.hodei.worker-id";
export const LABEL_MANAGED = "io.hodei.managed-by";
export const MANAGED_BY = "hodei-docker-provider";

/** Below this the agent itself (about 50 MB resident) is killed before the job starts. */
export const MIN_MEMORY_BYTES = 64 * 1024 ** 2;

export interface ContainerPlanInput {
  spec: WorkerSpec;
  providerName: string;
  instanceId: string;
  serverIdentity: string;
  agentDirPath: string;
  defaultImage: string;
  defaultMemoryBytes: number;
  defaultCpus: number;
  /** The engine's CPUs: Docker refuses a CPU limit above them. */
  engineCpus: number;
  labels: Record<string, string>;
  /** The control plane's idle timeout (ms); the worker's own idle exit is a fallback beyond it. */
  idleTimeoutMs: number;
}

/** Container names allow [a-zA-Z0-9_.-]; worker ids are UUIDs, but nothing here depends on it. */
export function containerName(workerId: string): string {
  return `hodei-worker-${workerId.replace(/[^a-zA-Z0-9_.-]/g, "_")}`.slice(0, 120);
}

/** The engine's create request for one worker: what runs, with which limits, labels and mounts. */
export function containerPlan(p: ContainerPlanInput): ContainerCreateOptions {
  const { spec } = p;
  const memory =
    spec.resources.memoryBytes > 0
      ? Math.max(Math.round(spec.resources.memoryBytes), MIN_MEMORY_BYTES)
      : p.defaultMemoryBytes;
  const cpus = spec.resources.cpuCores > 0 ? spec.resources.cpuCores : p.defaultCpus;
  const nanoCpus = cpus > 0 ? Math.round(Math.min(cpus, p.engineCpus || cpus) * 1e9) : 0;
  const env: Record<string, string> = {
    ...spec.env,
    HODEI_SERVER_ADDRESS: spec.serverAddress,
    HODEI_OTP_TOKEN: spec.otpToken,
    HODEI_WORKER_ID: spec.workerId,
    HODEI_WORKER_PROVIDER: p.providerName,
    HODEI_WORKER_LABELS: Object.entries(p.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(","),
    HODEI_WORKER_IDLE_TIMEOUT: String(p.idleTimeoutMs > 0 ? p.idleTimeoutMs * 2 + 5_000 : 0),
  };
  return {
    name: containerName(spec.workerId),
    Image: spec.image || p.defaultImage,
    // The image's own entrypoint and command are not run: the container is the worker.
    Entrypoint: [`${AGENT_MOUNT}/bin/node`, ...WORKER_NODE_FLAGS, `${AGENT_MOUNT}/start.cjs`],
    Cmd: [],
    Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    Labels: {
      [LABEL_MANAGED]: MANAGED_BY,
      [LABEL_INSTANCE]: p.instanceId,
      [LABEL_PROVIDER]: p.providerName,
      [LABEL_SERVER]: p.serverIdentity,
      [LABEL_WORKER]: spec.workerId,
    },
    HostConfig: {
      // Node as PID 1 ignores SIGTERM; docker-init forwards it and reaps the jobs' zombies.
      Init: true,
      // The control plane listens on the host's 127.0.0.1.
      NetworkMode: "host",
      Binds: [`${p.agentDirPath}:${AGENT_MOUNT}:ro`],
      Memory: memory,
      // No swap beyond the limit: a runaway job is killed, not slowed to a crawl.
      MemorySwap: memory,
      ...(nanoCpus > 0 ? { NanoCpus: nanoCpus } : {}),
      AutoRemove: false,
    },
  };
}
