import { restoreNodeCaCerts } from "@hodei/core";
import { workerConfigFromEnv, type WorkerConfig } from "./config.js";
import { tuneHeapForStreaming } from "./heap-tuning.js";
import type { Logger } from "./logger.js";
import { WorkerAgent } from "./worker-agent.js";

/** Exit codes of `hodei worker`. */
export const WORKER_EXIT = { OK: 0, FAILED: 1, CONFIG: 2 } as const;

/**
 * `hodei worker`: configuration from `env`, runs the agent until it is told to stop (SIGTERM/SIGINT,
 * idle timeout, the control plane closing the stream) and resolves the process exit code.
 * Jobs inherit `env` minus HODEI_OTP_TOKEN.
 */
export async function runWorkerMain(env: NodeJS.ProcessEnv, logger: Logger): Promise<number> {
  restoreNodeCaCerts(env); // for the jobs (see @hodei/core's agent-env.ts)
  let config: WorkerConfig;
  try {
    config = workerConfigFromEnv(env);
  } catch (err) {
    logger.error((err as Error).message);
    return WORKER_EXIT.CONFIG;
  }
  tuneHeapForStreaming();
  const agent = new WorkerAgent(config, logger, { jobEnv: env });
  const onSignal = (signal: NodeJS.Signals): void => {
    logger.info({ signal }, "stopping worker");
    void agent.stop(`signal ${signal}`);
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  logger.info({ workerId: config.workerId, server: config.serverAddress }, "worker starting");
  try {
    await agent.start();
    await agent.done;
    logger.info({ workerId: config.workerId }, "worker stopped");
    return WORKER_EXIT.OK;
  } catch (err) {
    logger.error({ err: (err as Error).message }, "worker failed");
    return WORKER_EXIT.FAILED;
  } finally {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
  }
}
