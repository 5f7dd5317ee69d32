export { DockerProvider, type DockerInitReport } from "./docker-provider.js";
export { dockerOptionsFromEnv, DOCKER_ENV, type DockerProviderOptions } from "./docker-options.js";
export {
  LABEL_INSTANCE,
  LABEL_PROVIDER,
  LABEL_SERVER,
  LABEL_WORKER,
  LABEL_MANAGED,
  containerPlan,
} from "./container-spec.js";
export { ensureAgentDir, AGENT_MOUNT } from "./agent-dir.js";
export { buildBusyboxImage, importDirectory, makeBusyboxRootfs, LOCAL_BASE_IMAGE } from "./rootfs-image.js";
