import { cp, mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type Docker from "dockerode";
import { ensureAgentDir } from "../docker/agent-dir.js";
import { importDirectory } from "../docker/rootfs-image.js";
import { AGENT_DIR } from "./pod-manifest.js";

export interface AgentImageOptions {
  /** Scratch space; the agent directory is built under `<dataDir>/k8s-agent-image/`. */
  dataDir: string;
  workerBundlePath: string;
}

/**
 * Builds HODEI_K8S_AGENT_IMAGE into a Docker engine, from this machine's node, bash and worker
 * bundle: an image holding nothing but the agent directory at AGENT_DIR (no shell, no `cp`: the
 * init container copies with the bundled node). Push it to a registry the cluster pulls from.
 * The nodes must have this machine's CPU architecture.
 */
export async function buildKubernetesAgentImage(
  docker: Docker,
  repoTag: string,
  o: AgentImageOptions,
): Promise<{ buildMs: number }> {
  const started = Date.now();
  // Its own build root: the Docker provider removes stale agent directories under its own.
  const agent = await ensureAgentDir({
    dataDir: join(o.dataDir, "k8s-agent-image"),
    workerBundlePath: o.workerBundlePath,
  });
  const stage = await mkdtemp(join(tmpdir(), "hodei-k8s-agent-"));
  try {
    await mkdir(join(stage, AGENT_DIR, ".."), { recursive: true });
    await cp(agent.path, join(stage, AGENT_DIR), { recursive: true, preserveTimestamps: true });
    await importDirectory(docker, stage, repoTag);
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
  return { buildMs: Date.now() - started };
}
