// The worker agent's entry point when its provider keeps a V8 code cache for it (the local provider
// does: HODEI_WORKER_CODE_CACHE names the file). `npm run build` bundles this alone into
// dist/hodei-worker-cached.cjs, which loads dist/hodei-worker.cjs beside it through the cache; it is
// not meant to run from the module tree.
import { join } from "node:path";
import { parseLogLevel } from "@hodei/core";
import { CODE_CACHE_VARIABLE, runBundleWithCodeCache } from "./code-cache.js";
import { stderrLogger } from "./stderr-logger.js";

const cachePath = process.env[CODE_CACHE_VARIABLE] || undefined;
delete process.env[CODE_CACHE_VARIABLE];
const outcome = runBundleWithCodeCache(join(__dirname, "hodei-worker.cjs"), cachePath);
stderrLogger("hodei-worker", parseLogLevel(process.env.LOG_LEVEL ?? "") ?? "info").debug(
  { codeCache: outcome, path: cachePath },
  "worker code cache",
);
