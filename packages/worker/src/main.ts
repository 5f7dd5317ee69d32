// The worker agent as a program of its own: what providers start. `npm run build` also bundles it
// into dist/hodei-worker.cjs, which starts in a fraction of the time of the module tree.
import { logLevelFromEnv } from "./config.js";
import { stderrLogger } from "./stderr-logger.js";
import { WORKER_EXIT, runWorkerMain } from "./worker-main.js";

let logger = stderrLogger("hodei-worker");
try {
  logger = stderrLogger("hodei-worker", logLevelFromEnv(process.env));
} catch (err) {
  logger.error((err as Error).message);
  process.exit(WORKER_EXIT.CONFIG);
}
runWorkerMain(process.env, logger).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    logger.error({ err }, "worker crashed");
    process.exitCode = 1;
  },
);
