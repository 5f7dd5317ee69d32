export { KubernetesProvider } from "./kubernetes-provider.js";
export {
  KUBERNETES_ENV,
  kubernetesOptionsFromEnv,
  type KubernetesProviderOptions,
} from "./kubernetes-config.js";
export { buildWorkerPod, podNameFor, instanceSelector, type PodManifestOptions } from "./pod-manifest.js";
export { observePod, type PodObservation } from "./pod-state.js";
export { buildKubernetesAgentImage, type AgentImageOptions } from "./agent-image.js";
