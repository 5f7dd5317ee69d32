import { createHash } from "node:crypto";
import { chmod, copyFile, mkdir, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { sha256File } from "../file-hash.js";
import { WORKER_NODE_FLAGS } from "../provider.js";
import {
  WORKER_CACHED_LOADER_FILE,
  WORKER_CODE_CACHE_VARIABLE,
  makeWorkerCodeCache,
  workerCachedLoaderPath,
} from "../worker-code-cache.js";
import { bundleProgram } from "./elf-bundle.js";

/** Where the agent directory appears inside every worker container (read-only). */
export const AGENT_MOUNT = "/opt/hodei";

/** Bump when the directory's layout changes, so old directories are not reused. */
const LAYOUT_VERSION = 5;

const CODE_CACHE_FILE = "hodei-worker.cjs.v8cache";

/**
 * The container's command. Picks the bundled bash when the image has none (busybox, distroless),
 * and the bundled hodei-spawn to start jobs through, then runs the worker through the code-cache
 * loader with the cache made when the directory was built: compiling the bundle is much of the
 * agent's start-up (measured here, on 2 busy cores: container start → the agent's first connection
 * 749 → 656 ms, medians of 15 interleaved runs). A cache that does not fit (another node, flags from
 * NODE_OPTIONS) is ignored by V8, and the read-only mount keeps the loader from writing another.
 * Plain CommonJS, run by the bundled node.
 */
const START_SCRIPT = `"use strict";
// Started by the Docker provider as ${AGENT_MOUNT}/bin/node ${AGENT_MOUNT}/start.cjs.
const fs = require("node:fs");
const path = require("node:path");
if (!process.env.HODEI_SHELL && !fs.existsSync("/bin/bash")) {
  process.env.HODEI_SHELL = path.join(__dirname, "bin/bash");
}
if (!process.env.HODEI_SPAWN_HELPER && fs.existsSync(path.join(__dirname, "bin/hodei-spawn"))) {
  process.env.HODEI_SPAWN_HELPER = path.join(__dirname, "bin/hodei-spawn");
}
process.env.${WORKER_CODE_CACHE_VARIABLE} = path.join(__dirname, "${CODE_CACHE_FILE}");
require("./${WORKER_CACHED_LOADER_FILE}");
`;

export interface AgentDirOptions {
  /** The control plane's data directory; the agent directory goes under `<dataDir>/docker-agent/`. */
  dataDir: string;
  workerBundlePath: string;
  /** The node binary to bundle; default: the one running this code. */
  nodePath?: string;
  /** The bash to bundle for images without one. */
  bashPath?: string;
  /** hodei-spawn, which the worker starts jobs through; default: next to the worker bundle, if built. */
  spawnHelperPath?: string;
}

export interface AgentDir {
  /** Host path to mount at AGENT_MOUNT. */
  path: string;
  reused: boolean;
  buildMs: number;
}

async function fileIdentity(path: string): Promise<string> {
  const s = await stat(path);
  return `${path}:${s.size}:${s.mtimeMs}`;
}

/**
 * What the directory is built from: node and bash by path, size and mtime (hashing a 100 MB binary
 * on every start would cost more than it saves), the bundle by content (it changes on every build).
 */
async function fingerprint(o: Required<AgentDirOptions>): Promise<string> {
  const parts = [
    LAYOUT_VERSION,
    await fileIdentity(o.nodePath),
    await fileIdentity(o.bashPath),
    await sha256File(o.workerBundlePath),
    await sha256File(workerCachedLoaderPath(o.workerBundlePath)),
  ];
  if (o.spawnHelperPath) parts.push(await fileIdentity(o.spawnHelperPath));
  return createHash("sha256").update(parts.join("\n")).digest("hex").slice(0, 16);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * A self-contained directory that runs the worker agent in any Linux image of the host's
 * architecture: node, bash and hodei-spawn patched to use their own loader and libraries, the worker bundle and
 * a start script. Built once per (node, bash, bundle) under the data directory and reused; older
 * builds are removed (call it only while no container of this provider runs from them).
 */
export function ensureAgentDir(opts: AgentDirOptions): Promise<AgentDir> {
  // Two Docker providers of one control plane start together: one builds, the other waits.
  const root = join(opts.dataDir, "docker-agent");
  const previous = building.get(root) ?? Promise.resolve();
  const next = previous.catch(() => {}).then(() => buildOrReuse(opts));
  building.set(root, next);
  return next;
}

const building = new Map<string, Promise<AgentDir>>();

async function buildOrReuse(opts: AgentDirOptions): Promise<AgentDir> {
  const started = Date.now();
  const builtHelper = join(dirname(opts.workerBundlePath), "hodei-spawn");
  const o: Required<AgentDirOptions> = {
    nodePath: process.execPath,
    bashPath: "/bin/bash",
    spawnHelperPath: (await exists(builtHelper)) ? builtHelper : "",
    ...opts,
  };
  const root = join(o.dataDir, "docker-agent");
  await mkdir(root, { recursive: true });
  const id = await fingerprint(o);
  const path = join(root, id);
  let reused = true;
  if (!(await exists(join(path, ".complete")))) {
    reused = false;
    const tmp = join(root, `${id}.tmp-${process.pid}-${Date.now()}`);
    try {
      await mkdir(tmp, { recursive: true });
      await bundleProgram(o.nodePath, tmp, AGENT_MOUNT);
      await bundleProgram(o.bashPath, tmp, AGENT_MOUNT);
      if (o.spawnHelperPath) await bundleProgram(o.spawnHelperPath, tmp, AGENT_MOUNT);
      await copyFile(o.workerBundlePath, join(tmp, "hodei-worker.cjs"));
      await copyFile(workerCachedLoaderPath(o.workerBundlePath), join(tmp, WORKER_CACHED_LOADER_FILE));
      await writeFile(join(tmp, "start.cjs"), START_SCRIPT);
      // With the worker's own flags: V8 rejects a cache made under other flags.
      await makeWorkerCodeCache(
        o.nodePath,
        WORKER_NODE_FLAGS,
        join(tmp, WORKER_CACHED_LOADER_FILE),
        join(tmp, CODE_CACHE_FILE),
      );
      await writeFile(join(tmp, ".complete"), `${new Date().toISOString()}\n`);
      // Readable by whatever user the image runs as.
      await chmod(tmp, 0o755);
      await rm(path, { recursive: true, force: true });
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
  }
  for (const entry of await readdir(root)) {
    if (entry !== id) await rm(join(root, entry), { recursive: true, force: true });
  }
  return { path, reused, buildMs: Date.now() - started };
}
