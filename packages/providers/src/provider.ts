import type { Capabilities } from "@hodei/core";

/** The contract every provider implements: local processes, Docker, Kubernetes, microVMs. */
export type ProviderKind = "local" | "docker" | "kubernetes" | "microvm";

/** What one worker is created with. */
export interface WorkerSpec {
  workerId: string;
  otpToken: string;
  /** host:port of the control plane's gRPC server as seen from this host; a provider whose workers
   * see the host differently (a microVM behind user networking) translates it. */
  serverAddress: string;
  /** Extra environment for the worker agent. */
  env: Record<string, string>;
  /** The image the job asked for (container and pod providers); undefined: the provider's default. */
  image?: string;
  /** Resources for the worker, from the job's requirements; 0 means "the provider's default". */
  resources: WorkerResources;
}

export interface WorkerResources {
  cpuCores: number;
  memoryBytes: number;
  gpuCount: number;
}

export interface WorkerHandle {
  workerId: string;
  provider: string;
  /** Provider-specific reference: a pid, a container id, a pod name. */
  ref: string;
}

export type HandleStatus = "starting" | "running" | "exited";

/** What the provider's workers offer; placement matches jobs against it. */
export interface ProviderCapabilities extends Omit<Capabilities, "provider"> {
  /** Images known to be available (may be partial: a registry may hold more). */
  images?: string[];
  /** Free-form facts worth showing (e.g. microvm: "accel": "tcg"). */
  details?: Record<string, string>;
}

export interface ProviderLimits {
  maxWorkers: number;
  idleTimeoutMs: number;
  /** Most workers being created at once; 0: no limit beyond maxWorkers. */
  maxConcurrentProvisionings?: number;
}

export interface ProviderHealth {
  healthy: boolean;
  message: string;
  details?: Record<string, string>;
}

export interface WorkerExit {
  handle: WorkerHandle;
  code: number | null;
  signal: string | null;
  /** Why, when the provider knows better than an exit code (e.g. "image pull failed: …"). */
  reason?: string;
}

export interface Provider {
  /** Unique name of this provider instance ("local", "docker", …); a job's preferred_provider names it. */
  readonly name: string;
  readonly kind: ProviderKind;
  readonly limits: ProviderLimits;
  /** Optional start-up work: reaping orphans, probing acceleration. Failure leaves it unhealthy. */
  init?(): Promise<void>;
  /** Starts a worker and returns at once; the worker registers itself with its OTP. */
  create(spec: WorkerSpec): Promise<WorkerHandle>;
  destroy(handle: WorkerHandle): Promise<void>;
  status(handle: WorkerHandle): HandleStatus;
  health(): Promise<ProviderHealth>;
  capabilities(): ProviderCapabilities;
  /**
   * Null when a job asking for `image` can run here; otherwise why not (e.g. "image python:3.11 not
   * found and no registry reachable"). Providers without images return a reason for any image.
   */
  checkImage?(image: string): Promise<string | null>;
  /** Called when a worker ends by itself (crash, idle exit, failed pod). */
  onExit(listener: (exit: WorkerExit) => void): void;
  /** Destroys every worker this provider started. */
  shutdown(): Promise<void>;
}

/** What the control plane hands every provider it builds from the environment. */
export interface ProviderCommon {
  /** The control plane's data directory: a provider may keep files under it (agent directory, images). */
  dataDir: string;
  /** The bundled worker agent: one CommonJS file that `node <file>` runs. */
  workerBundlePath: string;
  /** ms a worker stays idle before the control plane terminates it. */
  idleTimeoutMs: number;
  /**
   * Identifies this control plane. Put it on every resource a provider creates, so that after a
   * crash its orphans are found and removed while others' resources are never touched.
   */
  instanceId: string;
  /**
   * This control plane process, recorded on what it creates next to the instance id: a resource is
   * an orphan only when that process is gone. Default: this process (tests stand in for others).
   */
  serverIdentity?: string;
}

/** One row of the README's configuration table: variable, default, meaning. */
export type EnvDoc = readonly [name: string, fallback: string, meaning: string];

/**
 * Node flags every provider starts the worker agent with. A job's output passes through off-heap
 * buffers (pipe reads, gRPC frames) that are freed only when a scavenge collects their small JS
 * handles; a young generation held at 1 MB scavenges often enough that they do not pile up. Measured
 * with `seq 1000000` against a harness control plane: worker peak RSS 77-78 MB instead of 85-87, at
 * the same speed. (Set at start-up: V8 sizes its heap before any code runs.) The young generation
 * also keeps from growing (the agent's heap-tuning.ts says why), set here rather than by the agent at
 * run time, which would cost every cold start the loading of `node:v8`.
 */
export const WORKER_NODE_FLAGS: readonly string[] = [
  "--max-semi-space-size=1",
  "--semi-space-growth-factor=1",
];
