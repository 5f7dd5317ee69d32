// The Docker Engine the Docker provider's tests run against: reused when one answers, started
// through scripts/dockerd.mjs otherwise. Tests are skipped (loudly) only when dockerd is not
// installed at all; an installed engine that fails to start fails them.
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import Docker from "dockerode";
import { buildBusyboxImage } from "../../src/docker/rootfs-image.js";
import type { ProviderCommon } from "../../src/provider.js";

/** packages/providers/dist/test/support → the repository root. */
export const repoRoot = fileURLToPath(new URL("../../../../../", import.meta.url));

export const workerBundlePath = join(repoRoot, "packages/worker/dist/hodei-worker.cjs");

interface DockerdScript {
  findDockerd(): string | null;
  ping(socketPath: string, timeoutMs?: number): Promise<boolean>;
  dockerSocketPath(env?: NodeJS.ProcessEnv): string | null;
  ensureDockerd(o?: {
    timeoutMs?: number;
  }): Promise<{ socketPath: string | null; started: boolean; readyMs: number }>;
}

/** A reason to skip, or null once an engine answers. */
export async function dockerEngine(): Promise<string | null> {
  const script = (await import(pathToFileURL(join(repoRoot, "scripts/dockerd.mjs")).href)) as DockerdScript;
  const socket = script.dockerSocketPath();
  const answering = socket === null || (await script.ping(socket));
  if (!answering && !script.findDockerd()) {
    const why =
      "dockerd is not installed (Debian: apt-get install docker.io): the Docker provider tests did NOT run";
    console.warn(`\n*** WARNING: ${why} ***\n`);
    return why;
  }
  const r = await script.ensureDockerd({ timeoutMs: 30_000 });
  if (r.started) console.log(`# dockerd started for the tests, answering after ${r.readyMs} ms`);
  return null;
}

export function dockerClient(): Docker {
  const host = process.env.DOCKER_HOST;
  return host && host.startsWith("unix://") ? new Docker({ socketPath: host.slice(7) }) : new Docker();
}

/** Two user images that differ in /etc/os-release and have no bash (busybox only). */
export const IMAGE_A = "hodei-test/os-a:1";
export const IMAGE_B = "hodei-test/os-b:1";

export async function ensureTestImages(docker: Docker): Promise<void> {
  const have = new Set((await docker.listImages()).flatMap((i) => i.RepoTags ?? []));
  for (const [tag, id] of [
    [IMAGE_A, "hodei-test-a"],
    [IMAGE_B, "hodei-test-b"],
  ] as const) {
    if (!have.has(tag)) await buildBusyboxImage(docker, tag, { osRelease: `ID=${id}\nNAME="${id}"\n` });
  }
}

/** A fresh data directory and instance id: each test file is its own control plane. */
export function testCommon(over: Partial<ProviderCommon> = {}): ProviderCommon {
  return {
    dataDir: mkdtempSync(join(tmpdir(), "hodei-docker-test-")),
    workerBundlePath,
    idleTimeoutMs: 60_000,
    instanceId: `test-${randomUUID().slice(0, 8)}`,
    ...over,
  };
}
