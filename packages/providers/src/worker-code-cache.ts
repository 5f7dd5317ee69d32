import { createHash } from "node:crypto";
import { readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";

/** The variable that names a worker's code cache file (read by dist/hodei-worker-cached.cjs). */
export const WORKER_CODE_CACHE_VARIABLE = "HODEI_WORKER_CODE_CACHE";

const PREFIX = "hodei-worker-";
const SUFFIX = ".v8";

/**
 * The file in `dir` for the V8 code cache of the worker bundle at `bundlePath`, run by this node with
 * `nodeFlags`. Its name is a hash of all three: V8 checks a cache against its version and flags but
 * only the length of the source, so a rebuilt bundle of the same length must not find the old cache.
 */
export function workerCodeCacheFile(dir: string, bundlePath: string, nodeFlags: readonly string[]): string {
  const key = createHash("sha256")
    .update(readFileSync(bundlePath))
    .update(`\0${process.version}\0${process.arch}\0${nodeFlags.join(" ")}`)
    .digest("hex")
    .slice(0, 16);
  return join(dir, `${PREFIX}${key}${SUFFIX}`);
}

/** Removes the caches in `dir` of other bundles or nodes (and any left half-written), keeping `keep`. */
export function pruneWorkerCodeCaches(dir: string, keep: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return; // no cache yet
  }
  for (const name of names) {
    const path = join(dir, name);
    if (name.startsWith(PREFIX) && path !== keep) rmSync(path, { force: true });
  }
}
