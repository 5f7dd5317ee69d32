import type { Capabilities } from "@hodei/core";

/** The contract every provider implements: local processes, Docker, Kubernetes, microVMs. */
export interface WorkerSpec {
  workerId: string;
  otpToken: string;
  serverAddress: string;
  /** Extra environment for the worker agent. */
  env: Record<string, string>;
}

export interface WorkerHandle {
  workerId: string;
  provider: string;
  /** Provider-specific reference: a pid, a container id, a pod name. */
  ref: string;
}

export type HandleStatus = "starting" | "running" | "exited";

/** What the provider's workers offer; placement matches jobs against it. */
export type ProviderCapabilities = Omit<Capabilities, "provider">;

export interface ProviderLimits {
  maxWorkers: number;
  idleTimeoutMs: number;
}

export interface WorkerExit {
  handle: WorkerHandle;
  code: number | null;
  signal: string | null;
}

export interface Provider {
  readonly name: string;
  readonly limits: ProviderLimits;
  /** Starts a worker and returns at once; the worker registers itself with its OTP. */
  create(spec: WorkerSpec): Promise<WorkerHandle>;
  destroy(handle: WorkerHandle): Promise<void>;
  status(handle: WorkerHandle): HandleStatus;
  health(): Promise<{ healthy: boolean; message: string }>;
  capabilities(): ProviderCapabilities;
  /** Called when a worker ends by itself (crash, idle exit). */
  onExit(listener: (exit: WorkerExit) => void): void;
  /** Destroys every worker this provider started. */
  shutdown(): Promise<void>;
}
