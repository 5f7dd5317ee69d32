import { createHash } from "node:crypto";
import { chmod, copyFile, mkdir, readFile, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { bundleProgram } from "./elf-bundle.js";

/** Where the agent directory appears inside every worker container (read-only). */
export const AGENT_MOUNT = "/opt/hodei";

/** Bump when the directory's layout changes, so old directories are not reused. */
const LAYOUT_VERSION = 1;

/**
 * The container's command: picks the bundled bash when the image has none (busybox, distroless),
 * then runs the worker. Plain CommonJS, run by the bundled node.
 */
const START_SCRIPT = `"use strict";
// Started by the Docker provider as ${AGENT_MOUNT}/bin/node ${AGENT_MOUNT}/start.cjs.
if (!process.env.HODEI_SHELL && !require("node:fs").existsSync("/bin/bash")) {
  process.env.HODEI_SHELL = __dirname + "/bin/bash";
}
require("./hodei-worker.cjs");
`;

export interface AgentDirOptions {
  /** The control plane's data directory; the agent directory goes under `<dataDir>/docker-agent/`. */
  dataDir: string;
  workerBundlePath: string;
  /** The node binary to bundle; default: the one running this code. */
  nodePath?: string;
  /** The bash to bundle for images without one. */
  bashPath?: string;
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
  const bundle = createHash("sha256")
    .update(await readFile(o.workerBundlePath))
    .digest("hex");
  const parts = [LAYOUT_VERSION, await fileIdentity(o.nodePath), await fileIdentity(o.bashPath), bundle];
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
 * architecture: node and bash patched to use their own loader and libraries, the worker bundle and
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
  const o: Required<AgentDirOptions> = {
    nodePath: process.execPath,
    bashPath: "/bin/bash",
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
      await copyFile(o.workerBundlePath, join(tmp, "hodei-worker.cjs"));
      await writeFile(join(tmp, "start.cjs"), START_SCRIPT);
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
