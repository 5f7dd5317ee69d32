// What the Kubernetes end-to-end tests share. No cluster can run here, so the cluster is the
// providers package's fake API server (HTTPS, token auth, the pod watch) with its stand-in kubelet
// running each pod's containers on the real Docker Engine, and a TCP forwarder in the role of a
// Service: pods are told a stable address before the control plane (and its port) exists.
import { createServer, connect, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { buildKubernetesAgentImage } from "@hodei/providers";
import { docker } from "./docker-support.js";
import { repoRoot } from "./support/paths.js";

export const AGENT_IMAGE = "hodei-test/k8s-agent:e2e";

export interface FakePod {
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec?: any;
  status?: any;
}

/** The parts of packages/providers/test/support/fake-kube-api.ts these tests use. */
export interface FakeKubeApi {
  readonly pods: Map<string, FakePod>;
  readonly posted: { namespace: string; body: FakePod }[];
  readonly deleted: string[];
  kubeconfigPath: string;
  addPod(pod: FakePod): void;
  setStatus(name: string, status: unknown, namespace?: string): void;
  close(): Promise<void>;
}

export interface DockerKubelet {
  readonly errors: string[];
  stop(): Promise<void>;
  leftovers(): Promise<number>;
}

/** Loaded from the providers package's compiled tests: they are test code of another package. */
export async function startFakeCluster(): Promise<{ api: FakeKubeApi; kubelet: DockerKubelet }> {
  const support = join(repoRoot, "packages/providers/dist/test/support");
  const apiMod = (await import(pathToFileURL(join(support, "fake-kube-api.js")).href)) as {
    FakeKubeApi: { start(): Promise<FakeKubeApi> };
  };
  const kubeletMod = (await import(pathToFileURL(join(support, "docker-kubelet.js")).href)) as {
    DockerKubelet: new (api: FakeKubeApi, d: typeof docker) => DockerKubelet;
  };
  const api = await apiMod.FakeKubeApi.start();
  return { api, kubelet: new kubeletMod.DockerKubelet(api, docker) };
}

/** Built on each run from this tree's worker bundle (its directory is reused while unchanged). */
export async function buildAgentImage(dataDir: string): Promise<number> {
  const { buildMs } = await buildKubernetesAgentImage(docker, AGENT_IMAGE, {
    dataDir,
    workerBundlePath: join(repoRoot, "packages/worker/dist/hodei-worker.cjs"),
  });
  return buildMs;
}

/** A Service: a fixed 127.0.0.1 port that forwards to whatever target is set later. */
export class ServiceForwarder {
  target: string | undefined;
  address = "";
  private readonly sockets = new Set<Socket>();
  private readonly server: Server = createServer((client) => this.forward(client));

  static async start(): Promise<ServiceForwarder> {
    const self = new ServiceForwarder();
    await new Promise<void>((resolve) => self.server.listen(0, "127.0.0.1", resolve));
    self.address = `127.0.0.1:${(self.server.address() as { port: number }).port}`;
    return self;
  }

  private forward(client: Socket): void {
    const target = this.target;
    if (!target) {
      client.destroy();
      return;
    }
    const colon = target.lastIndexOf(":");
    const upstream = connect(Number(target.slice(colon + 1)), target.slice(0, colon));
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
      s.on("error", () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
