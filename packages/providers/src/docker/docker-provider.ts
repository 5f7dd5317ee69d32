import Docker from "dockerode";
import type {
  HandleStatus,
  Provider,
  ProviderCapabilities,
  ProviderHealth,
  ProviderLimits,
  WorkerExit,
  WorkerHandle,
  WorkerSpec,
} from "../provider.js";
import { ensureAgentDir } from "./agent-dir.js";
import {
  containerPlan,
  LABEL_INSTANCE,
  LABEL_PROVIDER,
  LABEL_SERVER,
  LABEL_WORKER,
} from "./container-spec.js";
import { serverAlive } from "../server-identity.js";
import { watchDockerEvents, type DockerEvent, type EventWatch } from "./docker-events.js";
import type { DockerProviderOptions } from "./docker-options.js";
import { explainExit, lastLogLine } from "./exit-reason.js";
import { ImageCatalog } from "./image-catalog.js";
import { buildBusyboxImage, LOCAL_BASE_IMAGE } from "./rootfs-image.js";

interface Tracked {
  handle: WorkerHandle;
  state: HandleStatus;
  memoryBytes: number;
  /** Settles once the container exists and was started (or failed to). */
  started: Promise<unknown>;
  destroying?: Promise<void>;
}

interface Engine {
  cpus: number;
  memoryBytes: number;
  architecture: string;
  version: string;
}

/** What init() did and how long it took: for health details, logs and the bench. */
export interface DockerInitReport {
  reapedOrphans: number;
  agentDir: string;
  agentDirReused: boolean;
  agentDirMs: number;
  baseImageBuiltMs: number | null;
  totalMs: number;
}

const PING_TIMEOUT_MS = 2_000;
const STOP_GRACE_S = 5;

function statusCode(err: unknown): number | undefined {
  return (err as { statusCode?: number }).statusCode;
}

function engineMessage(err: unknown): string {
  const e = err as { json?: { message?: string }; message?: string };
  return (e.json?.message ?? e.message ?? String(err)).trim();
}

/** 404 (already gone) and 409 (removal in progress) are what a second remover sees: not failures. */
function ignoreGone(err: unknown): void {
  const code = statusCode(err);
  if (code !== 404 && code !== 409 && code !== 304) throw err;
}

/** Workers as containers of a Docker Engine, one per worker, running any image with a mounted agent. */
export class DockerProvider implements Provider {
  readonly name: string;
  readonly kind = "docker" as const;
  readonly limits: ProviderLimits;
  readonly docker: Docker;
  private readonly images: ImageCatalog;
  private readonly workers = new Map<string, Tracked>();
  private readonly listeners: ((e: WorkerExit) => void)[] = [];
  private engine: Engine | null = null;
  private agentDirPath: string | null = null;
  private events: EventWatch | null = null;
  private initError: string | null = null;
  private eventStreamError: string | null = null;
  private refreshingImages: Promise<void> | null = null;
  report: DockerInitReport | null = null;

  constructor(private readonly opts: DockerProviderOptions) {
    this.name = opts.name ?? "docker";
    this.limits = {
      maxWorkers: opts.maxWorkers,
      idleTimeoutMs: opts.idleTimeoutMs,
      maxConcurrentProvisionings: opts.maxConcurrentProvisionings ?? 0,
    };
    this.docker = new Docker(opts.endpoint);
    this.images = new ImageCatalog(this.docker, opts.pullTimeoutMs);
  }

  /** Pings the engine, reaps this instance's orphans, builds the agent directory and default image. */
  async init(): Promise<void> {
    const t0 = Date.now();
    this.events?.stop();
    this.events = null;
    try {
      await this.ping();
      const info = (await this.docker.info()) as {
        NCPU: number;
        MemTotal: number;
        Architecture: string;
        ServerVersion: string;
      };
      this.engine = {
        cpus: info.NCPU,
        memoryBytes: info.MemTotal,
        architecture: info.Architecture,
        version: info.ServerVersion,
      };
      // Before anything of ours starts: every container with our label is a previous run's orphan.
      const reapedOrphans = await this.reapOrphans();
      this.events = await watchDockerEvents(
        this.docker,
        { type: ["container", "image"] },
        (e) => this.onEvent(e),
        (err) => (this.eventStreamError = err.message),
      );
      const agent = await ensureAgentDir({
        dataDir: this.opts.dataDir,
        workerBundlePath: this.opts.workerBundlePath,
      });
      this.agentDirPath = agent.path;
      await this.images.refresh();
      const baseImageBuiltMs = await this.ensureDefaultImage();
      this.report = {
        reapedOrphans,
        agentDir: agent.path,
        agentDirReused: agent.reused,
        agentDirMs: agent.buildMs,
        baseImageBuiltMs,
        totalMs: Date.now() - t0,
      };
      this.initError = null;
    } catch (err) {
      this.events?.stop();
      this.events = null;
      this.initError = `docker provider could not start: ${engineMessage(err)}`;
      throw new Error(this.initError, { cause: err });
    }
  }

  private async ping(): Promise<void> {
    const where =
      "socketPath" in this.opts.endpoint
        ? this.opts.endpoint.socketPath
        : `${this.opts.endpoint.host}:${this.opts.endpoint.port}`;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${PING_TIMEOUT_MS} ms`)), PING_TIMEOUT_MS);
    });
    await Promise.race([this.docker.ping(), timeout])
      .catch((err: unknown) => {
        throw new Error(`the Docker engine at ${where} does not answer (${engineMessage(err)})`);
      })
      .finally(() => clearTimeout(timer));
  }

  private async reapOrphans(): Promise<number> {
    const ours = await this.docker.listContainers({
      all: true,
      filters: { label: [`${LABEL_INSTANCE}=${this.opts.instanceId}`, `${LABEL_PROVIDER}=${this.name}`] },
    });
    // A control plane of this instance that still runs (a rolling restart) keeps its containers.
    const alive = await Promise.all(ours.map((c) => serverAlive(c.Labels?.[LABEL_SERVER])));
    const mine = ours.filter((_, i) => !alive[i]);
    await Promise.all(
      mine.map((c) => this.docker.getContainer(c.Id).remove({ force: true, v: true }).catch(ignoreGone)),
    );
    return mine.length;
  }

  /** ms spent building LOCAL_BASE_IMAGE, or null when the default image was already there. */
  private async ensureDefaultImage(): Promise<number | null> {
    const image = this.opts.defaultImage;
    if (image === LOCAL_BASE_IMAGE && (await this.images.check(image)) !== null) {
      const t0 = Date.now();
      await buildBusyboxImage(this.docker, image, {
        osRelease:
          'NAME="Hodei worker base"\nID=hodei-worker-base\nPRETTY_NAME="Hodei worker base (busybox and bash from the host)"\n',
        withBash: true,
      }).catch((err: unknown) => {
        throw new Error(
          `cannot build the default image ${image} (${engineMessage(err)}); set HODEI_DOCKER_DEFAULT_IMAGE to an image on the engine`,
        );
      });
      await this.images.refresh();
      return Date.now() - t0;
    }
    const missing = await this.images.check(image);
    if (missing) throw new Error(`HODEI_DOCKER_DEFAULT_IMAGE: ${missing}`);
    return null;
  }

  async create(spec: WorkerSpec): Promise<WorkerHandle> {
    if (!this.agentDirPath || !this.engine) {
      throw new Error(this.initError ?? "docker provider: init() has not completed");
    }
    const plan = containerPlan({
      spec,
      providerName: this.name,
      instanceId: this.opts.instanceId,
      serverIdentity: this.opts.serverIdentity,
      agentDirPath: this.agentDirPath,
      defaultImage: this.opts.defaultImage,
      defaultMemoryBytes: this.opts.defaultMemoryBytes,
      defaultCpus: this.opts.defaultCpus,
      engineCpus: this.engine.cpus,
      labels: this.opts.labels,
      idleTimeoutMs: this.opts.idleTimeoutMs,
    });
    const handle: WorkerHandle = { workerId: spec.workerId, provider: this.name, ref: "" };
    let container: Docker.Container;
    const start = (async () => {
      container = await this.docker.createContainer(plan).catch((err: unknown) => {
        throw new Error(
          statusCode(err) === 404
            ? `image ${plan.Image} not found on the Docker engine`
            : `cannot create a container from ${plan.Image}: ${engineMessage(err)}`,
        );
      });
      handle.ref = container.id;
      await container.start().catch(async (err: unknown) => {
        await container.remove({ force: true }).catch(() => {});
        throw new Error(`cannot start a container from ${plan.Image}: ${engineMessage(err)}`);
      });
    })();
    const tracked: Tracked = {
      handle,
      state: "starting",
      memoryBytes: plan.HostConfig?.Memory ?? 0,
      started: start.catch(() => {}),
    };
    this.workers.set(spec.workerId, tracked);
    try {
      await start;
    } catch (err) {
      if (this.workers.get(spec.workerId) === tracked) this.workers.delete(spec.workerId);
      throw err;
    }
    // A die event may already have marked it exited.
    if (tracked.state === "starting") tracked.state = "running";
    return handle;
  }

  private onEvent(e: DockerEvent): void {
    if (e.Type === "image") {
      this.refreshingImages ??= this.images
        .refresh()
        .catch(() => {})
        .finally(() => (this.refreshingImages = null));
      return;
    }
    const attrs = e.Actor.Attributes ?? {};
    if (
      e.Action !== "die" ||
      attrs[LABEL_INSTANCE] !== this.opts.instanceId ||
      attrs[LABEL_PROVIDER] !== this.name
    ) {
      return;
    }
    const tracked = this.workers.get(attrs[LABEL_WORKER] ?? "");
    if (!tracked || tracked.handle.ref !== e.Actor.ID || tracked.state === "exited") return;
    tracked.state = "exited";
    void this.reportExit(tracked, Number(attrs.exitCode ?? NaN));
  }

  private async reportExit(tracked: Tracked, exitCode: number): Promise<void> {
    const container = this.docker.getContainer(tracked.handle.ref);
    const state = await container.inspect().then(
      (i) => i.State,
      () => null,
    );
    const destroyed = tracked.destroying !== undefined;
    const code = state?.ExitCode ?? (Number.isFinite(exitCode) ? exitCode : null);
    // Only a crash needs the agent's last words (a config error, a stack trace).
    const lastLine =
      destroyed || code === 0 || state?.OOMKilled
        ? ""
        : await container
            .logs({ stdout: true, stderr: true, tail: 5, follow: false })
            .then(lastLogLine, () => "");
    const exit = explainExit({
      exitCode: code,
      oomKilled: state?.OOMKilled ?? false,
      destroyed,
      memoryLimitBytes: tracked.memoryBytes,
      lastLine,
    });
    this.workers.delete(tracked.handle.workerId);
    for (const l of this.listeners) l({ handle: tracked.handle, ...exit });
    // destroy() removes its own; a container that ended by itself is removed here.
    if (!destroyed) await container.remove({ force: true, v: true }).catch(() => {});
  }

  async destroy(handle: WorkerHandle): Promise<void> {
    const tracked = this.workers.get(handle.workerId);
    if (!tracked) {
      if (handle.ref)
        await this.docker.getContainer(handle.ref).remove({ force: true, v: true }).catch(ignoreGone);
      return;
    }
    tracked.destroying ??= (async () => {
      await tracked.started;
      if (!tracked.handle.ref) return;
      const container = this.docker.getContainer(tracked.handle.ref);
      await container.stop({ t: STOP_GRACE_S }).catch(ignoreGone);
      await container.remove({ force: true, v: true }).catch(ignoreGone);
    })();
    await tracked.destroying;
    // Normally the die event has reported it by now; without an event stream, report it here.
    if (tracked.state !== "exited") {
      tracked.state = "exited";
      this.workers.delete(handle.workerId);
      for (const l of this.listeners) l({ handle: tracked.handle, code: null, signal: null });
    }
  }

  status(handle: WorkerHandle): HandleStatus {
    return this.workers.get(handle.workerId)?.state ?? "exited";
  }

  checkImage(image: string): Promise<string | null> {
    return this.images.check(image);
  }

  async health(): Promise<ProviderHealth> {
    const details: Record<string, string> = {
      workers: String(this.workers.size),
      defaultImage: this.opts.defaultImage,
    };
    if (this.engine) details.engine = this.engine.version;
    if (this.agentDirPath) details.agentDir = this.agentDirPath;
    if (this.report) {
      details.agentDirBuild = this.report.agentDirReused ? "reused" : `built in ${this.report.agentDirMs} ms`;
      details.orphansReaped = String(this.report.reapedOrphans);
    }
    if (this.initError) return { healthy: false, message: this.initError, details };
    try {
      await this.ping();
    } catch (err) {
      return { healthy: false, message: (err as Error).message, details };
    }
    if (!this.engine)
      return { healthy: false, message: "docker provider: init() has not completed", details };
    // The stream reconnects by itself (replaying from the last event); say that it broke.
    if (this.eventStreamError) details.lastEventStreamBreak = this.eventStreamError;
    return {
      healthy: true,
      message: `Docker ${this.engine.version}: ${this.workers.size} worker container(s)`,
      details,
    };
  }

  capabilities(): ProviderCapabilities {
    const e = this.engine;
    return {
      cpuCores: e?.cpus ?? 0,
      memoryBytes: e?.memoryBytes ?? 0,
      gpuCount: 0,
      gpuTypes: [],
      architecture: e?.architecture ?? "",
      labels: { ...this.opts.labels },
      images: this.images.list(),
      ...(e ? { details: { engine: e.version, defaultImage: this.opts.defaultImage } } : {}),
    };
  }

  onExit(listener: (e: WorkerExit) => void): void {
    this.listeners.push(listener);
  }

  async shutdown(): Promise<void> {
    await Promise.all([...this.workers.values()].map((t) => this.destroy(t.handle).catch(() => {})));
    this.events?.stop();
    this.events = null;
  }
}
