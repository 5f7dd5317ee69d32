// The worker agent as a program of its own: what providers start. `npm run build` also bundles it
// into dist/hodei-worker.cjs, which starts in a fraction of the time of the module tree.
import { loggerLevel } from "./config.js";
import { stderrLogger } from "./stderr-logger.js";
import { runWorkerMain } from "./worker-main.js";

const logger = stderrLogger("hodei-worker", loggerLevel(process.env));
runWorkerMain(process.env, logger).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    logger.error({ err }, "worker crashed");
    process.exitCode = 1;
  },
);
