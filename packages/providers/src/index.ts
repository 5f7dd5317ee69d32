export * from "./provider.js";
export * from "./local-provider.js";
export * from "./server-identity.js";
export * from "./kubernetes/index.js";
export * from "./docker/index.js";
export * from "./microvm/index.js";
export * from "./process-launcher.js";
export * from "./worker-code-cache.js";
