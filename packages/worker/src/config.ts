import { hostname } from "node:os";
import { HodeiError, LOG_LEVELS, parseLogLevel, type LogLevel } from "@hodei/core";
import { defaultSpawnHelper } from "./job-process.js";

/** Paths of PEM files for TLS / mTLS to the control plane; all absent means plaintext. */
export interface WorkerTlsConfig {
  caCertPath?: string;
  certPath?: string;
  keyPath?: string;
}

export interface WorkerConfig {
  serverAddress: string;
  otpToken: string;
  workerId: string;
  /** Lines per log batch: a batch is sent when it holds this many lines. */
  logBatchSize: number;
  /** A batch is sent at the latest this long after its first line was buffered. */
  logFlushIntervalMs: number;
  /** Used until the server's RegisterResponse names its own interval. */
  heartbeatIntervalMs: number;
  provider: string;
  labels: Record<string, string>;
  maxReconnectDelayMs: number;
  /** Stop (with self_terminate "idle") after this long without a job; 0 = never. */
  idleTimeoutMs: number;
  /** The shell commands run under (`<shell> -c`), default /bin/bash; an image without bash gets one from its provider. */
  shell?: string;
  /** `hodei-spawn`, which starts jobs cheaper than Node's spawn; undefined: Node's spawn. */
  spawnHelper?: string;
  tls?: WorkerTlsConfig;
}

export const workerConfigDefaults = {
  serverAddress: "127.0.0.1:50051",
  logBatchSize: 4096,
  logFlushIntervalMs: 5,
  heartbeatIntervalMs: 10_000,
  provider: "local",
  maxReconnectDelayMs: 5_000,
  idleTimeoutMs: 0,
  shell: "/bin/bash",
} as const;

/**
 * LOG_LEVEL, default info. Local workers inherit the control plane's environment, so they log at
 * the level it does.
 */
export function logLevelFromEnv(env: NodeJS.ProcessEnv): LogLevel {
  const raw = env.LOG_LEVEL ?? "";
  if (raw.trim() === "") return "info";
  const level = parseLogLevel(raw);
  if (!level) throw configError("LOG_LEVEL", `expected one of ${LOG_LEVELS.join(", ")}, got "${raw}"`);
  return level;
}

/**
 * The level an entry point makes its logger at before the configuration is read: LOG_LEVEL when it
 * names one, else info (so that the configuration's refusal of a bad one is seen).
 */
export function loggerLevel(env: NodeJS.ProcessEnv): LogLevel {
  return parseLogLevel(env.LOG_LEVEL ?? "") ?? "info";
}

function configError(variable: string, problem: string): HodeiError {
  return new HodeiError("INVALID_ARGUMENT", `${variable}: ${problem}`, { details: { variable } });
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d+$/.test(raw)) throw configError(name, `expected a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw configError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

/** Parses `k=v,k=v` (spaces around items ignored). */
export function parseLabels(
  raw: string | undefined,
  variable = "HODEI_WORKER_LABELS",
): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const item of (raw ?? "").split(",")) {
    const text = item.trim();
    if (text === "") continue;
    const eq = text.indexOf("=");
    if (eq <= 0) throw configError(variable, `expected key=value, got "${text}"`);
    labels[text.slice(0, eq).trim()] = text.slice(eq + 1).trim();
  }
  return labels;
}

function optional(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name]?.trim();
  return v ? v : undefined;
}

/**
 * The worker's configuration from its environment; the only place the worker reads env.
 * Reads HODEI_SERVER_ADDRESS, HODEI_OTP_TOKEN, HODEI_WORKER_ID, HODEI_LOG_BATCH_SIZE,
 * HODEI_LOG_FLUSH_INTERVAL (ms), HODEI_WORKER_PROVIDER, HODEI_WORKER_LABELS,
 * HODEI_WORKER_IDLE_TIMEOUT (ms, 0 = never), HODEI_SHELL (absolute path), HODEI_SPAWN_HELPER (absolute
 * path, or `off` for Node's spawn; default: the built one next to the worker, if any),
 * HODEI_CA_CERT_PATH, HODEI_CLIENT_CERT_PATH, HODEI_CLIENT_KEY_PATH, and checks LOG_LEVEL.
 */
export function workerConfigFromEnv(env: NodeJS.ProcessEnv): WorkerConfig {
  // LOG_LEVEL is checked with the rest; the entry point made its logger from it (loggerLevel).
  logLevelFromEnv(env);
  const otpToken = env.HODEI_OTP_TOKEN?.trim() ?? "";
  if (otpToken === "") {
    throw configError(
      "HODEI_OTP_TOKEN",
      "required, not set (the one-time token the control plane issues to each worker)",
    );
  }
  const certPath = optional(env, "HODEI_CLIENT_CERT_PATH");
  const keyPath = optional(env, "HODEI_CLIENT_KEY_PATH");
  if ((certPath === undefined) !== (keyPath === undefined)) {
    throw configError(
      certPath ? "HODEI_CLIENT_KEY_PATH" : "HODEI_CLIENT_CERT_PATH",
      "client certificate and key go together",
    );
  }
  const caCertPath = optional(env, "HODEI_CA_CERT_PATH");
  const d = workerConfigDefaults;
  const shell = optional(env, "HODEI_SHELL") ?? d.shell;
  if (!shell.startsWith("/")) throw configError("HODEI_SHELL", `expected an absolute path, got "${shell}"`);
  const helper = optional(env, "HODEI_SPAWN_HELPER");
  if (helper !== undefined && helper !== "off" && !helper.startsWith("/")) {
    throw configError("HODEI_SPAWN_HELPER", `expected an absolute path or "off", got "${helper}"`);
  }
  const spawnHelper = helper === undefined ? defaultSpawnHelper() : helper === "off" ? undefined : helper;
  // "http://host:port" (as the original docs write it) is plaintext, "https://" asks for TLS.
  const address = optional(env, "HODEI_SERVER_ADDRESS") ?? d.serverAddress;
  const secure = address.startsWith("https://");
  const tls = caCertPath || certPath || secure ? { caCertPath, certPath, keyPath } : undefined;
  return {
    serverAddress: address.replace(/^https?:\/\//, "").replace(/\/+$/, ""),
    otpToken,
    workerId: optional(env, "HODEI_WORKER_ID") ?? `${hostname()}-${process.pid}`,
    logBatchSize: integer(env, "HODEI_LOG_BATCH_SIZE", d.logBatchSize, 1, 100_000),
    logFlushIntervalMs: integer(env, "HODEI_LOG_FLUSH_INTERVAL", d.logFlushIntervalMs, 0, 60_000),
    heartbeatIntervalMs: d.heartbeatIntervalMs,
    provider: optional(env, "HODEI_WORKER_PROVIDER") ?? d.provider,
    labels: parseLabels(env.HODEI_WORKER_LABELS),
    maxReconnectDelayMs: d.maxReconnectDelayMs,
    idleTimeoutMs: integer(env, "HODEI_WORKER_IDLE_TIMEOUT", d.idleTimeoutMs, 0, 2_147_483_647),
    shell,
    ...(spawnHelper ? { spawnHelper } : {}),
    ...(tls ? { tls } : {}),
  };
}
