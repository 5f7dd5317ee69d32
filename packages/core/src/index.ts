export * from "./errors.js";
export * from "./job-state.js";
export * from "./worker-state.js";
export * from "./command-line.js";
export * from "./priority.js";
export * from "./backoff.js";
export * from "./job-spec.js";
export * from "./retry-policy.js";
