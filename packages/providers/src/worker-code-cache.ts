import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from "node:fs";
import { stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { runCommand } from "./microvm/run-command.js";

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

/**
 * Where `npm run build` leaves the code cache of the worker bundle beside it, made by a rehearsal of
 * the agent (a job included) under this node and WORKER_NODE_FLAGS (scripts/build-worker-code-cache.mjs).
 */
export function builtWorkerCodeCacheDir(bundlePath: string): string {
  return join(dirname(bundlePath), "code-cache");
}

/**
 * Gives `file` the build's cache when it has none yet and the build made one under the same name
 * (the same bundle, node and flags: see workerCodeCacheFile): the first worker of a new data
 * directory then starts as fast as the later ones (it would otherwise compile the agent and leave
 * the cache for them). Copied beside it, then renamed: a reader never sees half a file. False when
 * there was nothing to copy or the copy failed (a cache is an optimisation).
 */
export function seedWorkerCodeCache(file: string, builtDir: string): boolean {
  const built = join(builtDir, basename(file));
  if (existsSync(file) || !existsSync(built)) return false;
  const tmp = `${file}.${process.pid}.seed`;
  try {
    mkdirSync(dirname(file), { recursive: true });
    copyFileSync(built, tmp);
    renameSync(tmp, file);
    return true;
  } catch {
    rmSync(tmp, { force: true });
    return false;
  }
}

/** The file name of the loader that runs the worker bundle through a code cache. */
export const WORKER_CACHED_LOADER_FILE = "hodei-worker-cached.cjs";

/** That loader, built next to the bundle. */
export function workerCachedLoaderPath(bundlePath: string): string {
  return join(dirname(bundlePath), WORKER_CACHED_LOADER_FILE);
}

/**
 * Makes the code cache at `cachePath` for the loader at `loaderPath` (the bundle beside it) ahead of
 * time, for agents that cannot write one themselves (a read-only mount, a VM's throwaway memory):
 * runs it with `node` under `nodeFlags` and no worker environment, so that the agent loads in full,
 * stops for want of a token, and the loader writes the cache as it exits. V8 refuses a cache made
 * under other flags, so these must be the flags the agent will run under.
 */
export async function makeWorkerCodeCache(
  node: string,
  nodeFlags: readonly string[],
  loaderPath: string,
  cachePath: string,
): Promise<void> {
  const { code, stderr } = await runCommand(node, [...nodeFlags, loaderPath], {
    env: { PATH: "/usr/bin:/bin", [WORKER_CODE_CACHE_VARIABLE]: cachePath },
    timeoutMs: 60_000,
  });
  const made = await stat(cachePath).then(
    (s) => s.size > 0,
    () => false,
  );
  // Exit code 2: the configuration error (no token) it was run for.
  if (code !== 2 || !made)
    throw new Error(`could not make the agent's code cache ${cachePath} (exit ${code}): ${stderr.trim()}`);
}
