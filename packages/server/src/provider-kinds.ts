// How each kind of provider is built from its variables, and which ones the environment turns on.
import { createHash } from "node:crypto";
import { hostname } from "node:os";
import { resolve } from "node:path";
import {
  DOCKER_ENV,
  DockerProvider,
  KUBERNETES_ENV,
  KubernetesProvider,
  HelperLauncher,
  LocalProvider,
  MICROVM_ENV,
  MicrovmProvider,
  dockerOptionsFromEnv,
  kubernetesOptionsFromEnv,
  microvmOptionsFromEnv,
  type EnvDoc,
  type ProviderCommon,
  type ProviderKind,
  WORKER_CODE_CACHE_VARIABLE,
  WORKER_NODE_FLAGS,
  builtWorkerCodeCacheDir,
  pruneWorkerCodeCaches,
  seedWorkerCodeCache,
  workerCodeCacheFile,
} from "@hodei/providers";
import type { ServerConfig } from "./config.js";
import type { EnvProvider } from "./provider-manager.js";
import type { ProviderFactory } from "./provider-set.js";

function positiveInt(config: Record<string, string>, name: string, fallback: number): number {
  const raw = config[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`${name} must be an integer ≥ 1, got ${JSON.stringify(raw)}`);
  return n;
}

function labelsOf(raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of raw
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean)) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new Error(`labels must be k=v pairs separated by commas, got ${JSON.stringify(pair)}`);
    out[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return out;
}

/** The local provider's own variables (the README lists them with the control plane's). */
const LOCAL_ENV: readonly EnvDoc[] = [
  ["HODEI_LOCAL_MAX_WORKERS", "4", "most local worker processes at once"],
  ["HODEI_LOCAL_WORKER_LABELS", "(none)", "k=v,k=v labels of local workers"],
];

interface Kind {
  factory: ProviderFactory;
  /** The variables it reads: an environment-configured provider's record shows those that are set. */
  env: readonly EnvDoc[];
  /** The variable that turns it on from the environment. */
  enabledBy: string;
}

/**
 * How local workers are started: through the code-cache loader when it is on (the cache file keyed
 * to this bundle and node, first a copy of the build's when there is one; caches of other builds
 * are removed), else the bundle itself.
 */
function localWorkerStart(config: ServerConfig): { command: string[]; env: Record<string, string> } {
  const cache = config.workerCodeCache;
  if (!cache) return { command: config.workerCommand, env: {} };
  const file = workerCodeCacheFile(cache.dir, config.workerBundlePath, WORKER_NODE_FLAGS);
  pruneWorkerCodeCaches(cache.dir, file);
  seedWorkerCodeCache(file, builtWorkerCodeCacheDir(config.workerBundlePath));
  return {
    command: [process.execPath, ...WORKER_NODE_FLAGS, cache.loaderPath],
    env: { [WORKER_CODE_CACHE_VARIABLE]: file },
  };
}

export function providerKinds(config: ServerConfig): Partial<Record<ProviderKind, Kind>> {
  return {
    local: {
      env: LOCAL_ENV,
      enabledBy: "HODEI_LOCAL_ENABLED",
      factory: (name, c, common) => {
        const start = localWorkerStart(config);
        return new LocalProvider({
          name,
          maxWorkers: positiveInt(c, "HODEI_LOCAL_MAX_WORKERS", config.localMaxWorkers),
          idleTimeoutMs: common.idleTimeoutMs,
          workerCommand: start.command,
          workerEnv: start.env,
          workerOutput: config.devMode ? "inherit" : "ignore",
          // Not a fork of this (large) process per worker: see process-launcher.ts.
          ...(config.spawnHelper ? { launcher: new HelperLauncher(config.spawnHelper) } : {}),
          instanceId: common.instanceId,
          ...(common.serverIdentity ? { serverIdentity: common.serverIdentity } : {}),
          labels:
            c.HODEI_LOCAL_WORKER_LABELS !== undefined
              ? labelsOf(c.HODEI_LOCAL_WORKER_LABELS)
              : config.localWorkerLabels,
        });
      },
    },
    docker: {
      env: DOCKER_ENV,
      enabledBy: "HODEI_DOCKER_ENABLED",
      factory: (name, c, common) => new DockerProvider({ ...dockerOptionsFromEnv(c, common), name }),
    },
    microvm: {
      env: MICROVM_ENV,
      enabledBy: "HODEI_FC_ENABLED",
      factory: (name, c, common) => new MicrovmProvider({ ...microvmOptionsFromEnv(c, common), name }),
    },
    kubernetes: {
      env: KUBERNETES_ENV,
      enabledBy: "HODEI_K8S_ENABLED",
      factory: (name, c, common) => new KubernetesProvider({ ...kubernetesOptionsFromEnv(c, common), name }),
    },
  };
}

export function providerFactories(config: ServerConfig): Partial<Record<ProviderKind, ProviderFactory>> {
  return Object.fromEntries(
    Object.entries(providerKinds(config)).map(([kind, k]) => [kind, k.factory]),
  ) as Partial<Record<ProviderKind, ProviderFactory>>;
}

/** The providers the environment turns on: local unless HODEI_LOCAL_ENABLED=0, others when their *_ENABLED=1. */
export function envProviders(config: ServerConfig): EnvProvider[] {
  const out: EnvProvider[] = [];
  for (const [kind, k] of Object.entries(providerKinds(config)) as [ProviderKind, Kind][]) {
    const on = kind === "local" ? config.localEnabled : config.env[k.enabledBy] === "1";
    if (!on) continue;
    const settings: Record<string, string> = {};
    for (const [name] of k.env) {
      const v = config.env[name];
      if (v !== undefined) settings[name] = v;
    }
    out.push({ name: kind, kind, config: settings });
  }
  return out;
}

/** Stable across restarts of the same control plane, different between two of them. */
export function instanceId(config: ServerConfig): string {
  const where = config.databaseUrl ?? resolve(config.dataDir);
  return createHash("sha256").update(`${hostname()}\u0000${where}`).digest("hex").slice(0, 12);
}

export function providerCommon(config: ServerConfig): ProviderCommon {
  return {
    dataDir: resolve(config.dataDir),
    workerBundlePath: config.workerBundlePath,
    idleTimeoutMs: config.workerIdleTimeoutMs,
    instanceId: instanceId(config),
  };
}
