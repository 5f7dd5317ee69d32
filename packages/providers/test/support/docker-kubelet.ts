// A stand-in kubelet: runs the pods created on the fake Kubernetes API server as real Docker
// containers, the way a kubelet runs them (emptyDir volumes, init containers in order and to
// completion, then the app container with its command, env, mounts and CPU/memory limits), and
// reports back through pod status: ErrImagePull for an image it does not have (no registry is
// reachable here, as with imagePullPolicy Never), Running, then Succeeded or Failed with the exit
// code. Pods share the host's network, so a worker reaches a control plane on 127.0.0.1.
import { randomUUID } from "node:crypto";
import type Docker from "dockerode";
import { parseQuantity } from "../../src/kubernetes/quantity.js";
import type { FakeKubeApi, Pod } from "./fake-kube-api.js";

const LABEL = "hodei-test.k8s-kubelet";

interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value: string }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  resources?: { limits?: Record<string, string> };
}

interface RunningPod {
  containers: Docker.Container[];
  volumes: Map<string, string>;
  deleted: boolean;
}

export class DockerKubelet {
  private readonly pods = new Map<string, RunningPod>();
  private readonly work = new Set<Promise<void>>();
  /** Failures of the kubelet itself (not of pods): a test asserts there are none. */
  readonly errors: string[] = [];
  /** Marks everything this kubelet makes, so stop() finds what a race left behind. */
  private readonly id = randomUUID();

  constructor(
    private readonly api: FakeKubeApi,
    private readonly docker: Docker,
  ) {
    api.subscribe((type, pod) => {
      const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
      // Pods a test put there as they are (someone else's, already running) are not run.
      if (type === "ADDED" && pod.spec?.containers && !this.pods.has(key)) this.track(this.run(key, pod));
      if (type === "DELETED") this.track(this.remove(key));
    });
  }

  /** Removes every container and volume it made (also those of pods never deleted). */
  async stop(): Promise<void> {
    for (const key of [...this.pods.keys()]) this.track(this.remove(key));
    while (this.work.size > 0) await Promise.allSettled([...this.work]);
    const filters = JSON.stringify({ label: [`${LABEL}=${this.id}`] });
    for (const c of await this.docker.listContainers({ all: true, filters })) {
      await this.docker.getContainer(c.Id).remove({ force: true });
    }
    for (const v of (await this.docker.listVolumes({ filters })).Volumes ?? []) {
      await this.docker.getVolume(v.Name).remove();
    }
  }

  /** Containers and volumes of this kubelet still on the engine. */
  async leftovers(): Promise<number> {
    const filters = JSON.stringify({ label: [`${LABEL}=${this.id}`] });
    const containers = await this.docker.listContainers({ all: true, filters });
    const volumes = (await this.docker.listVolumes({ filters })).Volumes ?? [];
    return containers.length + volumes.length;
  }

  private track(p: Promise<void>): void {
    const tracked = p.catch((e: unknown) => {
      this.errors.push(String(e instanceof Error ? e.message : e));
    });
    this.work.add(tracked);
    void tracked.finally(() => this.work.delete(tracked));
  }

  private report(pod: Pod, state: RunningPod, status: unknown): void {
    if (state.deleted || !this.api.hasPod(pod.metadata.name, pod.metadata.namespace)) return;
    this.api.setStatus(pod.metadata.name, status, pod.metadata.namespace);
  }

  private async hasImage(image: string): Promise<boolean> {
    return this.docker
      .getImage(image)
      .inspect()
      .then(
        () => true,
        () => false,
      );
  }

  private async run(key: string, pod: Pod): Promise<void> {
    const state: RunningPod = { containers: [], volumes: new Map(), deleted: false };
    this.pods.set(key, state);
    for (const v of (pod.spec.volumes ?? []) as { name: string; emptyDir?: unknown }[]) {
      if (!v.emptyDir) throw new Error(`pod ${key}: only emptyDir volumes are supported, not ${v.name}`);
      const name = `hodei-k8s-${pod.metadata.uid as string}-${v.name}`;
      await this.docker.createVolume({ Name: name, Labels: { [LABEL]: this.id } });
      state.volumes.set(v.name, name);
    }
    const initStatuses: unknown[] = [];
    for (const c of (pod.spec.initContainers ?? []) as Container[]) {
      if (!(await this.hasImage(c.image))) {
        return this.report(pod, state, { phase: "Pending", initContainerStatuses: [pulling(c)] });
      }
      const container = await this.start(pod, c, state);
      if (!container) return;
      const StatusCode = await this.exitOf(container, state);
      if (StatusCode === undefined) return;
      const terminated = { exitCode: StatusCode, reason: StatusCode === 0 ? "Completed" : "Error" };
      initStatuses.push({ name: c.name, image: c.image, ready: StatusCode === 0, state: { terminated } });
      if (StatusCode !== 0) {
        return this.report(pod, state, { phase: "Failed", initContainerStatuses: initStatuses });
      }
    }
    const [app] = pod.spec.containers as Container[];
    if (!app) throw new Error(`pod ${key}: no container`);
    if (!(await this.hasImage(app.image))) {
      return this.report(pod, state, {
        phase: "Pending",
        initContainerStatuses: initStatuses,
        containerStatuses: [pulling(app)],
      });
    }
    const container = await this.start(pod, app, state);
    if (!container) return;
    this.report(pod, state, {
      phase: "Running",
      initContainerStatuses: initStatuses,
      containerStatuses: [{ name: app.name, image: app.image, ready: true, state: { running: {} } }],
    });
    const StatusCode = await this.exitOf(container, state);
    if (StatusCode === undefined) return;
    const info = await container.inspect().catch(() => undefined);
    const reason = info?.State.OOMKilled ? "OOMKilled" : StatusCode === 0 ? "Completed" : "Error";
    this.report(pod, state, {
      phase: StatusCode === 0 ? "Succeeded" : "Failed",
      initContainerStatuses: initStatuses,
      containerStatuses: [
        {
          name: app.name,
          image: app.image,
          ready: false,
          state: { terminated: { exitCode: StatusCode, reason } },
        },
      ],
    });
  }

  /** Creates and starts one container of the pod; undefined when the pod was deleted meanwhile. */
  private async start(pod: Pod, c: Container, state: RunningPod): Promise<Docker.Container | undefined> {
    const limits = c.resources?.limits ?? {};
    const cpu = limits.cpu ? parseQuantity(limits.cpu) : undefined;
    const memory = limits.memory ? parseQuantity(limits.memory) : undefined;
    const binds = (c.volumeMounts ?? []).map((m) => {
      const volume = state.volumes.get(m.name);
      if (!volume) throw new Error(`pod ${pod.metadata.name}: no volume ${m.name}`);
      return `${volume}:${m.mountPath}${m.readOnly ? ":ro" : ""}`;
    });
    const container = await this.docker.createContainer({
      Image: c.image,
      ...(c.command ? { Entrypoint: c.command } : {}),
      Cmd: c.args ?? [],
      Env: (c.env ?? []).map((e) => `${e.name}=${e.value}`),
      Labels: {
        [LABEL]: this.id,
        "io.kubernetes.pod.name": pod.metadata.name,
        "io.kubernetes.container.name": c.name,
      },
      HostConfig: {
        NetworkMode: "host",
        Binds: binds,
        ...(cpu ? { NanoCpus: Math.round(cpu * 1e9) } : {}),
        ...(memory ? { Memory: Math.round(memory) } : {}),
      },
    });
    state.containers.push(container);
    if (state.deleted) {
      await container.remove({ force: true });
      return undefined;
    }
    try {
      await container.start();
    } catch (err) {
      if (state.deleted) return undefined; // deleted (its container removed) while it started
      throw err;
    }
    return container;
  }

  /** The container's exit status; undefined when its pod was deleted (and the container removed) first. */
  private async exitOf(container: Docker.Container, state: RunningPod): Promise<number | undefined> {
    try {
      return ((await container.wait()) as { StatusCode: number }).StatusCode;
    } catch (err) {
      if (state.deleted) return undefined;
      throw err;
    }
  }

  private async remove(key: string): Promise<void> {
    const state = this.pods.get(key);
    if (!state || state.deleted) return;
    state.deleted = true;
    for (const c of state.containers) await c.remove({ force: true }).catch(() => undefined);
    for (const v of state.volumes.values()) {
      await this.docker
        .getVolume(v)
        .remove()
        .catch(() => undefined);
    }
  }
}

function pulling(c: Container): unknown {
  return {
    name: c.name,
    image: c.image,
    ready: false,
    state: {
      waiting: {
        reason: "ErrImagePull",
        message: `pull access denied for ${c.image.split(":")[0]}, repository does not exist or may require authorization`,
      },
    },
  };
}
