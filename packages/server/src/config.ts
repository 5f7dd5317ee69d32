// Environment → a frozen, typed config. The only place below main that reads process.env.
import { existsSync } from "node:fs";
import {
  DEFAULT_RETRY_POLICY,
  LOG_LEVELS,
  parseLogLevel,
  type LogLevel,
  type RetryPolicy,
} from "@hodei/core";
import { WORKER_NODE_FLAGS, workerCachedLoaderPath } from "@hodei/providers";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export interface ServerConfig {
  grpcHost: string;
  grpcPort: number;
  httpPort: number;
  databaseUrl: string | null;
  dataDir: string;
  devMode: boolean;
  serverAddress: string | null;
  maxQueueSize: number;
  localMaxWorkers: number;
  workerIdleTimeoutMs: number;
  otpTtlMs: number;
  provisioningTimeoutMs: number;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  sweepIntervalMs: number;
  logLevel: LogLevel;
  workerCommand: string[];
  /** `hodei-spawn` that local workers are started through; undefined: Node's spawn. */
  spawnHelper: string | undefined;
  retryPolicy: RetryPolicy;
  localWorkerLabels: Record<string, string>;
  logRetentionDays: number;
  /** Whether local workers are offered at all. */
  localEnabled: boolean;
  /** Provider kinds, cheapest first: a job with no preference goes to the first that can run it. */
  providerOrder: string[];
  /** The environment, for the providers configured in it (HODEI_DOCKER_ENABLED, ...). */
  env: Readonly<Record<string, string>>;
  /** The bundled worker agent, for providers that bring it into a container or a VM. */
  workerBundlePath: string;
  /**
   * Where local workers keep the V8 code cache of the bundle, and the loader that reads it
   * (dist/hodei-worker-cached.cjs); null when turned off or not built.
   */
  workerCodeCache: { dir: string; loaderPath: string } | null;
}

/** Every variable the control plane reads, with its default and meaning (the README table). */
export const SERVER_ENV: readonly [name: string, fallback: string, meaning: string][] = [
  ["GRPC_PORT", "50051", "gRPC port (JobExecution, LogStream, Scheduler, WorkerAgent, reflection, health)"],
  ["HODEI_GRPC_HOST", "0.0.0.0", "address the gRPC server binds"],
  ["HODEI_HTTP_PORT", "8080", "HTTP port (REST API, SSE logs, health)"],
  ["HODEI_DATABASE_URL", "(unset)", "PostgreSQL URL; unset means the embedded database in HODEI_DATA_DIR"],
  ["HODEI_DATA_DIR", "./.hodei/data", "directory of the embedded database"],
  ["HODEI_DEV_MODE", "0", "1: worker output shown in the server's terminal, debug logging"],
  ["HODEI_SERVER_ADDRESS", "127.0.0.1:<GRPC_PORT>", "address workers use to reach this server"],
  ["HODEI_MAX_QUEUE_SIZE", "100000", "pending jobs accepted before QueueJob answers RESOURCE_EXHAUSTED"],
  ["HODEI_LOCAL_ENABLED", "1", "0: no local workers (jobs need another provider)"],
  ["HODEI_LOCAL_MAX_WORKERS", "4", "most local worker processes at once"],
  [
    "HODEI_PROVIDER_ORDER",
    "local,docker,microvm,kubernetes",
    "provider kinds, cheapest first: a job with no preferred provider goes to the first that can run it",
  ],
  [
    "HODEI_LOCAL_WORKER_LABELS",
    "(none)",
    "k=v,k=v labels of local workers, matched by jobs' required labels",
  ],
  [
    "HODEI_WORKER_CODE_CACHE_DIR",
    "<HODEI_DATA_DIR>/cache",
    "where local workers keep the compiled code of the agent, which makes their start faster; off: none",
  ],
  ["HODEI_WORKER_IDLE_TIMEOUT", "60000", "ms a worker stays idle before it is terminated"],
  ["HODEI_OTP_TTL", "120000", "ms a worker's one-time registration token stays valid"],
  ["HODEI_PROVISIONING_TIMEOUT", "30000", "ms a new worker has to register before it is destroyed"],
  ["HODEI_HEARTBEAT_INTERVAL", "5000", "ms between worker heartbeats"],
  ["HODEI_HEARTBEAT_TIMEOUT", "20000", "ms without a heartbeat before a worker is declared lost"],
  [
    "HODEI_SWEEP_INTERVAL",
    "2000",
    "ms between safety sweeps (lost heartbeats, idle workers, overdue jobs; scheduling never waits for one)",
  ],
  [
    "HODEI_LOG_RETENTION_DAYS",
    "7",
    "days a finished job's log is kept (checked at start and hourly; 0: forever)",
  ],
  ["HODEI_RETRY_BACKOFF_BASE", "1000", "ms: a retry waits a random time below base·2^(attempt-1)"],
  ["HODEI_RETRY_BACKOFF_MAX", "60000", "ms: the longest wait before a retry"],
  [
    "LOG_LEVEL",
    "info",
    "log level (trace, debug, info, warn, error, fatal, silent) of the server and of the local workers it starts",
  ],
];

function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min)
    throw new Error(`${name} must be an integer ≥ ${min}, got ${JSON.stringify(raw)}`);
  return n;
}

function labels(env: NodeJS.ProcessEnv, name: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of (env[name] ?? "")
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean)) {
    const eq = pair.indexOf("=");
    if (eq <= 0)
      throw new Error(`${name} must be k=v pairs separated by commas, got ${JSON.stringify(pair)}`);
    out[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return out;
}

function flag(env: NodeJS.ProcessEnv, name: string): boolean {
  return ["1", "true", "yes", "on"].includes((env[name] ?? "").toLowerCase());
}

const WORKER_BUNDLE = fileURLToPath(new URL("../../../worker/dist/hodei-worker.cjs", import.meta.url));
const CLI = fileURLToPath(new URL("../../../cli/bin/hodei.js", import.meta.url));
/** The bundled agent when the build made it (it starts about twice as fast), else `hodei worker`. */
const DEFAULT_WORKER_COMMAND = existsSync(WORKER_BUNDLE)
  ? [process.execPath, ...WORKER_NODE_FLAGS, WORKER_BUNDLE]
  : [process.execPath, ...WORKER_NODE_FLAGS, CLI, "worker"];

const WORKER_CACHED_LOADER = workerCachedLoaderPath(WORKER_BUNDLE);

/** HODEI_WORKER_CODE_CACHE_DIR: a directory, "off", or unset for <data dir>/cache. */
function workerCodeCacheOf(env: NodeJS.ProcessEnv, dataDir: string): ServerConfig["workerCodeCache"] {
  const v = env.HODEI_WORKER_CODE_CACHE_DIR;
  if (v === "off" || !existsSync(WORKER_BUNDLE) || !existsSync(WORKER_CACHED_LOADER)) return null;
  return { dir: resolve(v || join(dataDir, "cache")), loaderPath: WORKER_CACHED_LOADER };
}

const BUILT_SPAWN_HELPER = fileURLToPath(new URL("../../../worker/dist/hodei-spawn", import.meta.url));

/** HODEI_SPAWN_HELPER as workers read it: an absolute path, "off", or unset for the built one. */
function spawnHelperOf(env: NodeJS.ProcessEnv): string | undefined {
  const v = env.HODEI_SPAWN_HELPER;
  if (v === "off") return undefined;
  if (v) {
    if (!v.startsWith("/"))
      throw new Error(`HODEI_SPAWN_HELPER must be an absolute path or "off", got ${JSON.stringify(v)}`);
    return v;
  }
  return existsSync(BUILT_SPAWN_HELPER) ? BUILT_SPAWN_HELPER : undefined;
}

function logLevelOf(env: NodeJS.ProcessEnv, devMode: boolean): LogLevel {
  const raw = env.LOG_LEVEL ?? "";
  if (raw.trim() === "") return devMode ? "debug" : "info";
  const level = parseLogLevel(raw);
  if (!level)
    throw new Error(`LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, got ${JSON.stringify(raw)}`);
  return level;
}

export function loadServerConfig(
  env: NodeJS.ProcessEnv,
  overrides: Partial<ServerConfig> = {},
): ServerConfig {
  const devMode = flag(env, "HODEI_DEV_MODE");
  const dataDir = env.HODEI_DATA_DIR || "./.hodei/data";
  const config: ServerConfig = {
    grpcHost: env.HODEI_GRPC_HOST || "0.0.0.0",
    grpcPort: int(env, "GRPC_PORT", 50051),
    httpPort: int(env, "HODEI_HTTP_PORT", 8080),
    databaseUrl: env.HODEI_DATABASE_URL || null,
    dataDir,
    devMode,
    serverAddress: env.HODEI_SERVER_ADDRESS || null,
    maxQueueSize: int(env, "HODEI_MAX_QUEUE_SIZE", 100_000, 1),
    localMaxWorkers: int(env, "HODEI_LOCAL_MAX_WORKERS", 4, 1),
    workerIdleTimeoutMs: int(env, "HODEI_WORKER_IDLE_TIMEOUT", 60_000),
    otpTtlMs: int(env, "HODEI_OTP_TTL", 120_000, 1),
    provisioningTimeoutMs: int(env, "HODEI_PROVISIONING_TIMEOUT", 30_000, 1),
    heartbeatIntervalMs: int(env, "HODEI_HEARTBEAT_INTERVAL", 5_000, 10),
    heartbeatTimeoutMs: int(env, "HODEI_HEARTBEAT_TIMEOUT", 20_000, 20),
    sweepIntervalMs: int(env, "HODEI_SWEEP_INTERVAL", 2_000, 10),
    logLevel: logLevelOf(env, devMode),
    workerCommand: DEFAULT_WORKER_COMMAND,
    spawnHelper: spawnHelperOf(env),
    localWorkerLabels: labels(env, "HODEI_LOCAL_WORKER_LABELS"),
    logRetentionDays: int(env, "HODEI_LOG_RETENTION_DAYS", 7),
    retryPolicy: {
      baseMs: int(env, "HODEI_RETRY_BACKOFF_BASE", DEFAULT_RETRY_POLICY.baseMs, 1),
      capMs: int(env, "HODEI_RETRY_BACKOFF_MAX", DEFAULT_RETRY_POLICY.capMs, 1),
    },
    localEnabled: (env.HODEI_LOCAL_ENABLED ?? "1") !== "0",
    providerOrder: (env.HODEI_PROVIDER_ORDER || "local,docker,microvm,kubernetes")
      .split(",")
      .map((k) => k.trim())
      .filter(Boolean),
    env: Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined)),
    workerBundlePath: WORKER_BUNDLE,
    workerCodeCache: workerCodeCacheOf(env, dataDir),
    ...overrides,
  };
  return Object.freeze(config);
}
