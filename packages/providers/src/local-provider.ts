import { readFile, readdir } from "node:fs/promises";
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
import { deferNodeCaCerts } from "@hodei/core";
import { NodeLauncher, whenStarted, type LaunchedProcess, type ProcessLauncher } from "./process-launcher.js";
import { ownServerIdentity, serverAlive } from "./server-identity.js";

export interface LocalProviderOptions extends ProviderLimits {
  /** Default "local". */
  name?: string;
  /** The command that starts a worker agent, e.g. [node, .../hodei.js, "worker"]. */
  workerCommand: string[];
  /** Variables every worker gets on top of the control plane's own environment. */
  workerEnv?: Readonly<Record<string, string>>;
  /** Where worker output goes: inherited (visible in the server's terminal) or discarded. */
  workerOutput: "inherit" | "ignore";
  /** Labels of every local worker, which jobs' required labels are matched against. */
  labels: Record<string, string>;
  /**
   * This control plane's identity (stable across its restarts). Set: its workers carry it, and the
   * agents a dead predecessor left behind are ended at start-up, wherever they try to reconnect.
   */
  instanceId?: string;
  /** This control plane process (default: this process); see server-identity.ts. */
  serverIdentity?: string;
  /** How worker processes are started (default: Node's spawn); see process-launcher.ts. */
  launcher?: ProcessLauncher;
}

const ENV_INSTANCE = "HODEI_LOCAL_INSTANCE";
const ENV_SERVER = "HODEI_LOCAL_SERVER";

async function environOf(pid: string): Promise<Map<string, string> | undefined> {
  const raw = await readFile(`/proc/${pid}/environ`, "utf8").catch(() => undefined);
  if (raw === undefined) return undefined;
  const env = new Map<string, string>();
  for (const kv of raw.split("\0")) {
    const eq = kv.indexOf("=");
    if (eq > 0) env.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  return env;
}

/** Workers as child processes of the control plane: useful with nothing installed. */
export class LocalProvider implements Provider {
  readonly name: string;
  readonly kind = "local" as const;
  readonly limits: ProviderLimits;
  private readonly children = new Map<string, LaunchedProcess>();
  private readonly launcher: ProcessLauncher;
  private readonly listeners: ((e: WorkerExit) => void)[] = [];

  /** The host's, read once: every QueueJob's placement check asks for them. */
  private readonly hostCapabilities: ProviderCapabilities;

  /** This process as its workers name it: pid and start time. */
  private readonly serverIdentity: string;

  constructor(private readonly opts: LocalProviderOptions) {
    this.name = opts.name ?? "local";
    this.serverIdentity = opts.serverIdentity ?? ownServerIdentity();
    this.launcher = opts.launcher ?? new NodeLauncher();
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
    const env: Record<string, string | undefined> = {
      ...process.env,
      ...this.opts.workerEnv,
      ...spec.env,
      HODEI_SERVER_ADDRESS: spec.serverAddress,
      HODEI_OTP_TOKEN: spec.otpToken,
      HODEI_WORKER_ID: spec.workerId,
      HODEI_WORKER_PROVIDER: this.name,
      ...(this.opts.instanceId
        ? { [ENV_INSTANCE]: this.opts.instanceId, [ENV_SERVER]: this.serverIdentity }
        : {}),
      HODEI_WORKER_LABELS: Object.entries(this.opts.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(","),
      // The server ends idle workers; the worker's own idle exit is only a fallback for a vanished server.
      HODEI_WORKER_IDLE_TIMEOUT: String(
        this.opts.idleTimeoutMs > 0 ? this.opts.idleTimeoutMs * 2 + 5_000 : 0,
      ),
    };
    // Not parsed by the agent's node at every start; its jobs get it back (@hodei/core's agent-env.ts).
    deferNodeCaCerts(env);
    const child = this.launcher.start({ file: cmd, args, env, output: this.opts.workerOutput });
    // Started, or could not be: a command that cannot run fails the provisioning, not a worker later.
    await whenStarted(child);
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

  /**
   * Starts its launcher's helper, then ends the agents that a previous run of this control plane left
   * behind (it was killed, so nothing stopped them): theirs is our instance, and the server they name
   * is gone. Their jobs go with them (each agent's orphan guard ends its job's processes). Agents of a
   * live control plane, ours or another's, are never touched. Needs /proc; without it there is
   * nothing to find.
   */
  async init(): Promise<void> {
    // Its spawn helper starts now, not with the first worker, whose cold start it would hold up.
    this.launcher.prepare?.();
    const instance = this.opts.instanceId;
    if (!instance) return;
    const pids = await readdir("/proc").catch(() => [] as string[]);
    const orphans: number[] = [];
    await Promise.all(
      pids
        .filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid)
        .map(async (pid) => {
          const env = await environOf(pid);
          if (!env || env.get(ENV_INSTANCE) !== instance || env.get("HODEI_WORKER_PROVIDER") !== this.name)
            return;
          if (env.has("HODEI_JOB_ID")) return; // a job: its agent's guard ends it
          if (await serverAlive(env.get(ENV_SERVER))) return; // its server lives
          orphans.push(Number(pid));
        }),
    );
    for (const pid of orphans) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone meanwhile
      }
    }
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
    this.launcher.close();
  }
}
