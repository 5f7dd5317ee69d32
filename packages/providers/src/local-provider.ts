import { spawn, type ChildProcess } from "node:child_process";
import { cpus, totalmem } from "node:os";
import type {
  Provider,
  ProviderLimits,
  WorkerExit,
  WorkerHandle,
  WorkerSpec,
  HandleStatus,
  ProviderCapabilities,
} from "./provider.js";

export interface LocalProviderOptions extends ProviderLimits {
  /** Default "local". */
  name?: string;
  /** The command that starts a worker agent, e.g. [node, .../hodei.js, "worker"]. */
  workerCommand: string[];
  /** Where worker output goes: inherited (visible in the server's terminal) or discarded. */
  workerOutput: "inherit" | "ignore";
  /** Labels of every local worker, which jobs' required labels are matched against. */
  labels: Record<string, string>;
}

/** Workers as child processes of the control plane: useful with nothing installed. */
export class LocalProvider implements Provider {
  readonly name: string;
  readonly kind = "local" as const;
  readonly limits: ProviderLimits;
  private readonly children = new Map<string, ChildProcess>();
  private readonly listeners: ((e: WorkerExit) => void)[] = [];

  /** The host's, read once: every QueueJob's placement check asks for them. */
  private readonly hostCapabilities: ProviderCapabilities;

  constructor(private readonly opts: LocalProviderOptions) {
    this.name = opts.name ?? "local";
    this.limits = { maxWorkers: opts.maxWorkers, idleTimeoutMs: opts.idleTimeoutMs };
    const arch = process.arch === "x64" ? "x86_64" : process.arch === "arm64" ? "aarch64" : process.arch;
    this.hostCapabilities = Object.freeze({
      cpuCores: cpus().length,
      memoryBytes: totalmem(),
      gpuCount: 0,
      gpuTypes: [],
      architecture: arch,
      labels: { ...opts.labels },
    });
  }

  async create(spec: WorkerSpec): Promise<WorkerHandle> {
    const [cmd, ...args] = this.opts.workerCommand;
    if (!cmd) throw new Error("local provider: empty worker command");
    const child = spawn(cmd, args, {
      env: {
        ...process.env,
        ...spec.env,
        HODEI_SERVER_ADDRESS: spec.serverAddress,
        HODEI_OTP_TOKEN: spec.otpToken,
        HODEI_WORKER_ID: spec.workerId,
        HODEI_WORKER_PROVIDER: this.name,
        HODEI_WORKER_LABELS: Object.entries(this.opts.labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(","),
        // The server ends idle workers; the worker's own idle exit is only a fallback for a vanished server.
        HODEI_WORKER_IDLE_TIMEOUT: String(
          this.opts.idleTimeoutMs > 0 ? this.opts.idleTimeoutMs * 2 + 5_000 : 0,
        ),
      },
      stdio: ["ignore", this.opts.workerOutput, this.opts.workerOutput],
    });
    const handle: WorkerHandle = {
      workerId: spec.workerId,
      provider: this.name,
      ref: String(child.pid ?? ""),
    };
    this.children.set(spec.workerId, child);
    const exited = (code: number | null, signal: string | null) => {
      if (this.children.get(spec.workerId) !== child) return;
      this.children.delete(spec.workerId);
      for (const l of this.listeners) l({ handle, code, signal });
    };
    child.once("exit", exited);
    child.once("error", () => exited(null, null));
    return handle;
  }

  async destroy(handle: WorkerHandle): Promise<void> {
    const child = this.children.get(handle.workerId);
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => child.kill("SIGKILL"), 5_000);
      child.once("exit", () => {
        clearTimeout(kill);
        resolve();
      });
      child.kill("SIGTERM");
    });
  }

  status(handle: WorkerHandle): HandleStatus {
    const child = this.children.get(handle.workerId);
    return child && child.exitCode === null ? "running" : "exited";
  }

  async checkImage(image: string): Promise<string | null> {
    return `image ${image}: local workers run on the host and cannot run images`;
  }

  async health(): Promise<{ healthy: boolean; message: string }> {
    return { healthy: true, message: `${this.children.size} local worker process(es)` };
  }

  capabilities(): ProviderCapabilities {
    return this.hostCapabilities;
  }

  onExit(listener: (e: WorkerExit) => void): void {
    this.listeners.push(listener);
  }

  async shutdown(): Promise<void> {
    await Promise.all(
      [...this.children.keys()].map((id) => this.destroy({ workerId: id, provider: this.name, ref: "" })),
    );
  }
}
