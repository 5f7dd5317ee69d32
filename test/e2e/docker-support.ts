// What the Docker end-to-end tests share: the engine (reused, or started by scripts/dockerd.mjs),
// test images built here by `docker import` (no registry is reachable), and the containers a given
// platform's Docker provider owns.
import { createHash } from "node:crypto";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import Docker from "dockerode";
import { buildBusyboxImage, LABEL_INSTANCE } from "@hodei/providers";
import { repoRoot } from "./support/paths.js";

interface DockerdScript {
  findDockerd(): string | null;
  ping(socketPath: string): Promise<boolean>;
  dockerSocketPath(): string | null;
  ensureDockerd(): Promise<unknown>;
}

/** A reason to skip (dockerd not installed at all), or false once an engine answers. */
export async function dockerEngine(): Promise<string | false> {
  const script = (await import(pathToFileURL(join(repoRoot, "scripts/dockerd.mjs")).href)) as DockerdScript;
  const socket = script.dockerSocketPath();
  if (socket !== null && !(await script.ping(socket)) && !script.findDockerd()) {
    const why =
      "dockerd is not installed (Debian: apt-get install docker.io): the Docker e2e tests did NOT run";
    console.warn(`\n*** WARNING: ${why} ***\n`);
    return why;
  }
  await script.ensureDockerd();
  return false;
}

export const docker = new Docker();

/** Busybox images without bash or node, told apart by /etc/os-release. */
export const IMAGE_A = "hodei-test/os-a:1";
export const IMAGE_B = "hodei-test/os-b:1";
/** Its NODE_OPTIONS makes the agent block before it registers: a worker that never registers. */
export const IMAGE_NEVER_REGISTERS = "hodei-test/never-registers:1";

export async function ensureTestImages(): Promise<void> {
  const have = new Set((await docker.listImages()).flatMap((i) => i.RepoTags ?? []));
  const wanted: [string, Parameters<typeof buildBusyboxImage>[2]][] = [
    [IMAGE_A, { osRelease: 'ID=hodei-test-a\nNAME="hodei-test-a"\n' }],
    [IMAGE_B, { osRelease: 'ID=hodei-test-b\nNAME="hodei-test-b"\n' }],
    [
      IMAGE_NEVER_REGISTERS,
      {
        osRelease: "ID=hodei-test-never\n",
        files: { "hang.cjs": "Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);\n" },
        changes: ['ENV NODE_OPTIONS="--require /hang.cjs"'],
      },
    ],
  ];
  for (const [tag, opts] of wanted) if (!have.has(tag)) await buildBusyboxImage(docker, tag, opts);
}

/**
 * The instance id the server derives for a data directory (hostname and path, as in
 * packages/server/src/provider-kinds.ts). Tests also check that containers carry it, so a change
 * there fails them instead of making them look at nothing.
 */
export function instanceIdFor(dataDir: string): string {
  return createHash("sha256")
    .update(`${hostname()}\u0000${resolve(dataDir)}`)
    .digest("hex")
    .slice(0, 12);
}

export async function containersOf(instanceId: string, all = true): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all, filters: { label: [`${LABEL_INSTANCE}=${instanceId}`] } });
}

/**
 * Fails clearly when the server did not start a healthy Docker provider (HODEI_DOCKER_ENABLED=1
 * not wired, or its init failed), instead of letting jobs wait for workers that never come.
 */
export async function assertDockerProvider(httpUrl: string): Promise<void> {
  const res = await fetch(`${httpUrl}/api/providers`);
  const body = (await res.json()) as { providers?: { type: string; healthy: boolean; health?: unknown }[] };
  const docker = body.providers?.find((p) => p.type === "docker");
  if (!docker) throw new Error(`the server started no Docker provider: ${JSON.stringify(body)}`);
  if (!docker.healthy) throw new Error(`the Docker provider is unhealthy: ${JSON.stringify(docker.health)}`);
}
