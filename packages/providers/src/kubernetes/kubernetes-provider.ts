import type { V1Pod } from "@kubernetes/client-node";
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
import { apiStatus, describeApiError, withTimeout } from "./api-call.js";
import { connectKube, type KubeClient } from "./kube-client.js";
import type { KubernetesProviderOptions } from "./kubernetes-config.js";
import { buildWorkerPod, instanceSelector, podNameFor, type PodManifestOptions } from "./pod-manifest.js";
import { observePod } from "./pod-state.js";
import { PodWatch, type PodEventType } from "./pod-watch.js";

interface TrackedPod {
  handle: WorkerHandle;
  status: HandleStatus;
  /** When the API server accepted the pod; undefined while the create call is in flight. */
  createdAt?: number;
  destroying: boolean;
  /** Why the pod is still pending, when the scheduler says: told with its exit if it is destroyed so. */
  waiting?: string;
}

type ExitFacts = Omit<WorkerExit, "handle">;

/** Workers as pods: one per worker, watched (not polled) for phase changes and failures. */
export class KubernetesProvider implements Provider {
  readonly name: string;
  readonly kind = "kubernetes" as const;
  readonly limits: ProviderLimits;
  private client: Promise<KubeClient> | undefined;
  private serverUrl: string | undefined;
  private readonly manifest: PodManifestOptions;
  private readonly selector: string;
  private readonly watch: PodWatch;
  private readonly caps: ProviderCapabilities;
  /** By pod name, which is also each handle's ref. */
  private readonly pods = new Map<string, TrackedPod>();
  private readonly listeners: ((e: WorkerExit) => void)[] = [];
  private reapedAtStart = 0;

  constructor(private readonly opts: KubernetesProviderOptions) {
    this.name = opts.name ?? "kubernetes";
    this.limits = { maxWorkers: opts.maxWorkers, idleTimeoutMs: opts.idleTimeoutMs };
    this.manifest = {
      ...opts.pod,
      providerName: this.name,
      // The server ends idle workers; the agent's own idle exit is only a fallback for a vanished server.
      agentIdleTimeoutMs: opts.idleTimeoutMs > 0 ? opts.idleTimeoutMs * 2 + 5_000 : 0,
    };
    this.selector = instanceSelector(opts.pod.instanceId, this.name);
    this.watch = new PodWatch({
      connect: () => this.connect(),
      namespace: opts.pod.namespace,
      labelSelector: this.selector,
      listTimeoutMs: opts.apiTimeoutMs,
      onEvent: (type, pod) => this.onPodEvent(type, pod),
      onResync: (pods, listStartedAt) => this.onResync(pods, listStartedAt),
    });
    this.caps = Object.freeze({
      cpuCores: opts.maxCpuCores,
      memoryBytes: opts.maxMemoryBytes,
      gpuCount: opts.maxGpus,
      gpuTypes: opts.maxGpus > 0 ? [opts.pod.gpuResourceName] : [],
      architecture: opts.architecture,
      labels: { ...opts.pod.nodeSelector },
      images: [opts.pod.defaultImage],
      details: { namespace: opts.pod.namespace },
    });
  }

  /** Deletes this instance's pods left by an earlier run (a crash), then starts watching. */
  async init(): Promise<void> {
    try {
      const { core } = await this.connect();
      const list = await withTimeout(
        core.listNamespacedPod({ namespace: this.opts.pod.namespace, labelSelector: this.selector }),
        this.opts.apiTimeoutMs,
        "listing orphan pods",
      );
      const orphans = list.items.filter((p) => !this.pods.has(p.metadata?.name ?? ""));
      await Promise.all(orphans.map((p) => this.deletePod(p.metadata?.name ?? "")));
      this.reapedAtStart = orphans.length;
    } catch (e) {
      throw new Error(`kubernetes provider (${this.server()}): ${describeApiError(e)}`);
    } finally {
      // Even after a failure: once the API server answers, the watch's resync reaps what is left.
      this.watch.start();
    }
  }

  async create(spec: WorkerSpec): Promise<WorkerHandle> {
    this.watch.start();
    const body = buildWorkerPod(spec, this.manifest);
    const podName = body.metadata?.name ?? podNameFor(spec.workerId);
    if (this.pods.has(podName))
      throw new Error(`kubernetes: worker ${spec.workerId} already has pod ${podName}`);
    const tracked: TrackedPod = {
      handle: { workerId: spec.workerId, provider: this.name, ref: podName },
      status: "starting",
      destroying: false,
    };
    // Tracked before the call: the watch may report the pod before the call returns.
    this.pods.set(podName, tracked);
    try {
      const { core } = await this.connect();
      await withTimeout(
        core.createNamespacedPod({
          namespace: this.opts.pod.namespace,
          body,
          // A field the API server does not know is an error, not silently dropped.
          fieldValidation: "Strict",
        }),
        this.opts.apiTimeoutMs,
        `creating pod ${podName}`,
      );
      tracked.createdAt = Date.now();
    } catch (e) {
      if (this.pods.get(podName) === tracked) this.pods.delete(podName);
      throw new Error(`kubernetes: creating pod ${podName} failed: ${describeApiError(e)}`);
    }
    return tracked.handle;
  }

  async destroy(handle: WorkerHandle): Promise<void> {
    const tracked = this.pods.get(handle.ref);
    if (!tracked) return;
    tracked.destroying = true;
    try {
      await this.deletePod(handle.ref);
    } catch (e) {
      // Still there: keep following it, a later destroy or its own end will settle it.
      tracked.destroying = false;
      throw e;
    }
    const neverScheduled = tracked.status === "starting" && tracked.waiting;
    this.finish(tracked, {
      code: null,
      signal: "SIGTERM",
      ...(neverScheduled ? { reason: `pod never scheduled: ${tracked.waiting}` } : {}),
    });
  }

  status(handle: WorkerHandle): HandleStatus {
    return this.pods.get(handle.ref)?.status ?? "exited";
  }

  /** Why the worker's pod is still pending, when the scheduler has said (e.g. insufficient CPU). */
  waitingReason(handle: WorkerHandle): string | undefined {
    return this.pods.get(handle.ref)?.waiting;
  }

  /** A cluster pulls from registries this host cannot see: only the pod's own pull can tell. */
  async checkImage(_image: string): Promise<string | null> {
    return null;
  }

  async health(): Promise<ProviderHealth> {
    const details: Record<string, string> = {
      server: this.server(),
      namespace: this.opts.pod.namespace,
      pods: String(this.pods.size),
      watch: this.watch.lastError ?? "connected",
      reapedAtStart: String(this.reapedAtStart),
    };
    try {
      const client = await this.connect();
      details.server = client.server;
      const version = await withTimeout(client.version.getCode(), this.opts.apiTimeoutMs, "GET /version");
      // Reading the pods proves the credentials reach the namespace, not only the server.
      await withTimeout(
        client.core.listNamespacedPod({
          namespace: this.opts.pod.namespace,
          labelSelector: this.selector,
          limit: 1,
        }),
        this.opts.apiTimeoutMs,
        "listing pods",
      );
      details.version = version.gitVersion;
      const where = `Kubernetes ${version.gitVersion} at ${details.server}, namespace ${details.namespace}`;
      const watchError = this.watch.lastError;
      if (watchError && watchError !== "not started" && watchError !== "reconnecting") {
        return { healthy: false, message: `${where}: watching pods fails: ${watchError}`, details };
      }
      return { healthy: true, message: `${where}: ${this.pods.size} worker pod(s)`, details };
    } catch (e) {
      return {
        healthy: false,
        message: `Kubernetes API server ${details.server}: ${describeApiError(e)}`,
        details,
      };
    }
  }

  capabilities(): ProviderCapabilities {
    return this.caps;
  }

  onExit(listener: (e: WorkerExit) => void): void {
    this.listeners.push(listener);
  }

  async shutdown(): Promise<void> {
    await Promise.allSettled([...this.pods.values()].map((t) => this.destroy(t.handle)));
    await this.watch.stop();
  }

  private server(): string {
    return this.serverUrl ?? this.opts.kubeconfig.file ?? "in-cluster";
  }

  /** The client, loaded once; a failure (a broken kubeconfig) is retried on the next call. */
  private connect(): Promise<KubeClient> {
    this.client ??= connectKube(this.opts.kubeconfig).then(
      (c) => {
        this.serverUrl = c.server;
        return c;
      },
      (e: unknown) => {
        this.client = undefined;
        throw e;
      },
    );
    return this.client;
  }

  private async deletePod(name: string): Promise<void> {
    try {
      const { core } = await this.connect();
      await withTimeout(
        core.deleteNamespacedPod({ name, namespace: this.opts.pod.namespace }),
        this.opts.apiTimeoutMs,
        `deleting pod ${name}`,
      );
    } catch (e) {
      if (apiStatus(e) === 404) return;
      throw new Error(`kubernetes: deleting pod ${name} failed: ${describeApiError(e)}`);
    }
  }

  private finish(tracked: TrackedPod, facts: ExitFacts): void {
    if (this.pods.get(tracked.handle.ref) !== tracked) return;
    this.pods.delete(tracked.handle.ref);
    tracked.status = "exited";
    const exit: WorkerExit = { handle: tracked.handle, ...facts };
    for (const l of this.listeners) l(exit);
  }

  private onPodEvent(type: PodEventType, pod: V1Pod): void {
    const name = pod.metadata?.name ?? "";
    const tracked = this.pods.get(name);
    if (!tracked || tracked.destroying) return;
    const seen = observePod(pod);
    if (type === "DELETED") {
      this.finish(tracked, seen.exit ?? { code: null, signal: null, reason: "pod deleted outside Hodei" });
      return;
    }
    tracked.status = seen.status;
    tracked.waiting = seen.waiting;
    if (!seen.exit) return;
    this.finish(tracked, seen.exit);
    // An ended pod stays listed (restartPolicy Never) and a stuck pull retries forever: remove both.
    this.deletePod(name).catch(() => {
      // The next resync lists it again and retries as an orphan.
    });
  }

  private onResync(pods: V1Pod[], listStartedAt: number): void {
    const listed = new Set<string>();
    for (const pod of pods) {
      const name = pod.metadata?.name ?? "";
      listed.add(name);
      if (this.pods.has(name)) this.onPodEvent("MODIFIED", pod);
      // Labelled as ours but not tracked: left by a crash of this instance, or already ended.
      else this.deletePod(name).catch(() => undefined);
    }
    for (const [name, tracked] of this.pods) {
      const vanished =
        tracked.createdAt !== undefined && tracked.createdAt < listStartedAt && !listed.has(name);
      if (vanished && !tracked.destroying) {
        this.finish(tracked, { code: null, signal: null, reason: "pod deleted outside Hodei" });
      }
    }
  }
}
