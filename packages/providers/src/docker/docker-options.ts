import { ownServerIdentity } from "../server-identity.js";
import type { EnvDoc, ProviderCommon, ProviderLimits } from "../provider.js";
import { LOCAL_BASE_IMAGE } from "./rootfs-image.js";

/** How to reach the engine: a unix socket, or plain HTTP on host:port. */
export type DockerEndpoint = { socketPath: string } | { host: string; port: number };

export interface DockerProviderOptions extends ProviderLimits {
  /** Default "docker"; a control plane may run several Docker providers under different names. */
  name?: string;
  endpoint: DockerEndpoint;
  /** Image for jobs that name none; LOCAL_BASE_IMAGE is built from this machine's files when absent. */
  defaultImage: string;
  /** Memory limit of a worker whose job asks for none (bytes); every container gets a limit. */
  defaultMemoryBytes: number;
  /** CPU limit of a worker whose job asks for none; 0: no limit. */
  defaultCpus: number;
  /** Labels of every Docker worker, which jobs' required labels are matched against. */
  labels: Record<string, string>;
  /** How long checkImage may spend pulling a missing image; 0: never pull. */
  pullTimeoutMs: number;
  dataDir: string;
  workerBundlePath: string;
  instanceId: string;
  /** See ProviderCommon.serverIdentity. */
  serverIdentity: string;
}

export const DOCKER_ENV: readonly EnvDoc[] = [
  [
    "HODEI_DOCKER_ENABLED",
    "0",
    "1: run workers as Docker containers (one per worker) through the Docker Engine API",
  ],
  [
    "DOCKER_HOST",
    "unix:///var/run/docker.sock",
    "the engine: unix://<socket> or tcp://host:port (plain HTTP); it must run on this host, since the agent directory is bind-mounted",
  ],
  ["HODEI_DOCKER_MAX_WORKERS", "4", "most Docker workers at once"],
  [
    "HODEI_DOCKER_MAX_CONCURRENT_PROVISIONING",
    "0",
    "most containers being started at once; 0: no limit beyond the maximum",
  ],
  [
    "HODEI_DOCKER_DEFAULT_IMAGE",
    LOCAL_BASE_IMAGE,
    `image for jobs that name none; ${LOCAL_BASE_IMAGE} is built at start-up from this machine's busybox and bash when absent (no registry needed); another image must be on the engine or pullable within HODEI_DOCKER_PULL_TIMEOUT`,
  ],
  [
    "HODEI_DOCKER_DEFAULT_MEMORY",
    "512Mi",
    "memory limit of a worker whose job asks for none (bytes, or with k/Ki/M/Mi/G/Gi); covers the agent (about 50 MB) and the job",
  ],
  [
    "HODEI_DOCKER_DEFAULT_CPUS",
    "1",
    "CPU limit of a worker whose job asks for none (may be fractional); 0: no limit",
  ],
  [
    "HODEI_DOCKER_LABELS",
    "",
    "labels of every Docker worker (k=v,k=v), matched against jobs' required labels",
  ],
  [
    "HODEI_DOCKER_PULL_TIMEOUT",
    "3000",
    "ms a queue-time check may spend pulling an image the engine lacks before refusing the job; 0: never pull",
  ],
];

function problem(variable: string, message: string): Error {
  return new Error(`${variable}: ${message}`);
}

function read(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name]?.trim();
  return v ? v : undefined;
}

function wholeNumber(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number): number {
  const raw = read(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) throw problem(name, `expected a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > 2_147_483_647) throw problem(name, `must be between ${min} and 2147483647, got ${n}`);
  return n;
}

const UNITS: Record<string, number> = {
  "": 1,
  k: 1e3,
  ki: 1024,
  m: 1e6,
  mi: 1024 ** 2,
  g: 1e9,
  gi: 1024 ** 3,
};

/** "536870912", "512Mi", "1G" → bytes. */
export function parseBytes(raw: string, variable: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kKmMgG]i?)?[bB]?$/.exec(raw.trim());
  const unit = UNITS[(m?.[2] ?? "").toLowerCase()];
  if (!m || unit === undefined)
    throw problem(variable, `expected bytes such as 536870912, 512Mi or 1G, got "${raw}"`);
  return Math.round(Number(m[1]) * unit);
}

export function parseDockerHost(raw: string | undefined): DockerEndpoint {
  const value = raw?.trim() || "unix:///var/run/docker.sock";
  if (value.startsWith("unix://")) {
    const socketPath = value.slice("unix://".length);
    if (!socketPath.startsWith("/"))
      throw problem("DOCKER_HOST", `expected unix:///absolute/path, got "${value}"`);
    return { socketPath };
  }
  const tcp = /^(?:tcp|http):\/\/([^:/]+):(\d+)\/?$/.exec(value);
  if (tcp) return { host: tcp[1]!, port: Number(tcp[2]) };
  throw problem("DOCKER_HOST", `expected unix:///path or tcp://host:port, got "${value}"`);
}

function parseLabels(raw: string | undefined, variable: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const item of (raw ?? "").split(",")) {
    const text = item.trim();
    if (!text) continue;
    const eq = text.indexOf("=");
    if (eq <= 0) throw problem(variable, `expected key=value, got "${text}"`);
    labels[text.slice(0, eq).trim()] = text.slice(eq + 1).trim();
  }
  return labels;
}

/** The Docker provider's options from the environment; throws naming the variable on a bad value. */
export function dockerOptionsFromEnv(env: NodeJS.ProcessEnv, common: ProviderCommon): DockerProviderOptions {
  const memoryRaw = read(env, "HODEI_DOCKER_DEFAULT_MEMORY");
  const defaultMemoryBytes = memoryRaw
    ? parseBytes(memoryRaw, "HODEI_DOCKER_DEFAULT_MEMORY")
    : 512 * 1024 ** 2;
  // Docker refuses less than 6 MB; the agent alone needs several times that.
  if (defaultMemoryBytes < 64 * 1024 ** 2)
    throw problem("HODEI_DOCKER_DEFAULT_MEMORY", "must be at least 64Mi");
  const cpusRaw = read(env, "HODEI_DOCKER_DEFAULT_CPUS");
  const defaultCpus = cpusRaw === undefined ? 1 : Number(cpusRaw);
  if (!Number.isFinite(defaultCpus) || defaultCpus < 0 || !/^\d+(\.\d+)?$/.test(cpusRaw ?? "1")) {
    throw problem(
      "HODEI_DOCKER_DEFAULT_CPUS",
      `expected a number of CPUs such as 1 or 0.5, got "${cpusRaw}"`,
    );
  }
  const defaultImage = read(env, "HODEI_DOCKER_DEFAULT_IMAGE") ?? LOCAL_BASE_IMAGE;
  if (/\s/.test(defaultImage))
    throw problem("HODEI_DOCKER_DEFAULT_IMAGE", `not an image name: "${defaultImage}"`);
  return {
    endpoint: parseDockerHost(env.DOCKER_HOST),
    maxWorkers: wholeNumber(env, "HODEI_DOCKER_MAX_WORKERS", 4, 1),
    maxConcurrentProvisionings: wholeNumber(env, "HODEI_DOCKER_MAX_CONCURRENT_PROVISIONING", 0, 0),
    idleTimeoutMs: common.idleTimeoutMs,
    defaultImage,
    defaultMemoryBytes,
    defaultCpus,
    labels: parseLabels(env.HODEI_DOCKER_LABELS, "HODEI_DOCKER_LABELS"),
    pullTimeoutMs: wholeNumber(env, "HODEI_DOCKER_PULL_TIMEOUT", 3_000, 0),
    dataDir: common.dataDir,
    workerBundlePath: common.workerBundlePath,
    instanceId: common.instanceId,
    serverIdentity: common.serverIdentity ?? ownServerIdentity(),
  };
}
