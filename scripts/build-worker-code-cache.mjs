// Makes the worker agent's V8 code cache at build time (packages/worker/dist/code-cache): the agent
// runs once, through its code-cache loader, against a stand-in control plane that gives it one job
// (packages/worker/src/code-cache-rehearsal.ts). The control plane copies it into a new data
// directory's cache, so the first local worker starts with it (packages/providers/src/
// worker-code-cache.ts). Named by the bundle's content, this node and the agent's flags: kept while
// all three stay the same, and without it everything still works, one compile slower.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  WORKER_NODE_FLAGS,
  builtWorkerCodeCacheDir,
  pruneWorkerCodeCaches,
  workerCachedLoaderPath,
  workerCodeCacheFile,
} from "../packages/providers/dist/src/index.js";
import { rehearseAgentForCodeCache } from "../packages/worker/dist/src/index.js";

const bundle = fileURLToPath(new URL("../packages/worker/dist/hodei-worker.cjs", import.meta.url));
const dir = builtWorkerCodeCacheDir(bundle);
const cachePath = workerCodeCacheFile(dir, bundle, WORKER_NODE_FLAGS);
if (!existsSync(cachePath)) {
  pruneWorkerCodeCaches(dir, cachePath);
  const started = Date.now();
  try {
    await rehearseAgentForCodeCache({
      node: process.execPath,
      nodeFlags: WORKER_NODE_FLAGS,
      loaderPath: workerCachedLoaderPath(bundle),
      cachePath,
    });
    console.log(`made the worker's code cache in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } catch (err) {
    console.warn(`note: no code cache for the worker (${err.message}); its first start compiles instead`);
  }
}
