export {
  workerConfigFromEnv,
  parseLabels,
  workerConfigDefaults,
  logLevelFromEnv,
  loggerLevel,
} from "./config.js";
export type { WorkerConfig, WorkerTlsConfig } from "./config.js";
export { WorkerAgent, type WorkerAgentOptions } from "./worker-agent.js";
export { runWorkerMain, WORKER_EXIT } from "./worker-main.js";
export type { Logger } from "./logger.js";
export { silentLogger } from "./logger.js";
export { JobExecution, type JobRequest, type JobOutcome, type JobExecutionOptions } from "./job-execution.js";
export { LineSplitter, MAX_LINE_BYTES } from "./line-splitter.js";
export { LogBatcher } from "./log-batcher.js";
export { secretRedactor, secretForms, REDACTED } from "./secret-redaction.js";
export { SECRET_DELIVERY_VARIABLE, type SecretDelivery } from "./secret-delivery.js";
export { planCommand, prepareCommand, type CommandPlan, type CommandSpec } from "./command-plan.js";
export { architectureName, WORKER_VERSION } from "./worker-info.js";
export {
  HelperSpawner,
  NodeSpawner,
  jobSpawner,
  defaultSpawnHelper,
  type JobSpawner,
  type JobProcess,
  type JobProcessSpec,
  type JobProcessEvents,
} from "./job-process.js";
export { rehearseAgentForCodeCache, type RehearsalOptions } from "./code-cache-rehearsal.js";
