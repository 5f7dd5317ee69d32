import type { CoreV1Api, KubeConfig, VersionApi, Watch } from "@kubernetes/client-node";

/** Where the credentials come from: a kubeconfig file (and context), or the pod's service account. */
export interface KubeConfigSource {
  /** Undefined: in-cluster (KUBERNETES_SERVICE_HOST and the mounted service account). */
  file?: string;
  context?: string;
}

export interface KubeClient {
  kubeConfig: KubeConfig;
  core: CoreV1Api;
  version: VersionApi;
  watch: Watch;
  /** The API server's URL, for messages. */
  server: string;
}

function configError(variable: string, problem: string): Error {
  return new Error(`${variable}: ${problem}`);
}

/**
 * Loads the client library and the credentials. The library is imported here, on first use, not
 * with the module: it costs over a second and ~70 MB to load, which every control plane would pay
 * at start even with Kubernetes off.
 */
export async function connectKube(source: KubeConfigSource): Promise<KubeClient> {
  const k8s = await import("@kubernetes/client-node");
  const kc = new k8s.KubeConfig();
  const where = source.file ?? "the in-cluster configuration";
  try {
    if (source.file) kc.loadFromFile(source.file);
    else kc.loadFromCluster();
  } catch (e) {
    throw configError(
      "HODEI_K8S_KUBECONFIG",
      `cannot load ${where}: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  if (source.context) {
    if (!kc.getContextObject(source.context)) {
      throw configError("HODEI_K8S_CONTEXT", `no context "${source.context}" in ${where}`);
    }
    kc.setCurrentContext(source.context);
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw configError("HODEI_K8S_KUBECONFIG", `${where}: no current cluster`);
  return {
    kubeConfig: kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    version: kc.makeApiClient(k8s.VersionApi),
    watch: new k8s.Watch(kc),
    server: cluster.server,
  };
}
