// The control plane as the benchmarks drive it: a real `hodei server` child process on free ports,
// embedded (PGlite in a temp dir) or on a PostgreSQL database of its own, and a grpc-js client
// through the @hodei/api bridge. Plus a tracker of every job's terminal event, from
// ExecutionEventStream, counting each job once.
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { connect } from "node:net";
import { JobExecutionService, JobStatus, connectClient, health, serverStream, unary } from "@hodei/api";
import { freePort } from "../scripts/pg-cluster.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const CLI = join(root, "packages", "cli", "bin", "hodei.js");
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;

export const TERMINAL = new Set([
  JobStatus.COMPLETED,
  JobStatus.FAILED,
  JobStatus.CANCELLED,
  JobStatus.TIMEOUT,
]);

const live = new Set();
/** Kills every server still running (for `process.on("exit")`, where nothing can be awaited). */
export function killAllControlPlanes() {
  for (const pid of live) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  live.clear();
}

/** A fresh database on the PostgreSQL server at `url`; resolves to its URL. */
export async function createDatabase(url, name) {
  const { default: pg } = await import("pg");
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${name}"`);
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/**
 * The local provider's workers: children of the server, or of the `hodei-spawn` it starts them
 * through (the helper itself is not a worker).
 */
export function workerPidsOf(serverPid) {
  return childPids(serverPid).flatMap((pid) => (commOf(pid) === "hodei-spawn" ? childPids(pid) : [pid]));
}

/** A process's command name, "" once it is gone. */
export function commOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}

/** Child pids of `pid`. */
export function childPids(pid) {
  const out = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

function accepts(port) {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * Resolves to a client once the server answers the health check (or, without one, GetJobStatus).
 * The port is polled with plain TCP first: a grpc-js channel that failed to connect backs off for
 * seconds, which would be counted as start-up time.
 */
async function waitUntilServing(address, port, child, output) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const check = () => {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `hodei server exited (${child.exitCode ?? child.signalCode}) while starting:\n${output()}`,
      );
    }
    if (Date.now() > deadline)
      throw new Error(`hodei server not serving within ${READY_TIMEOUT_MS} ms:\n${output()}`);
  };
  while (!(await accepts(port))) {
    check();
    await delay(10);
  }
  const client = connectClient(address);
  try {
    for (;;) {
      check();
      if (await answers(client)) return client;
      await delay(20);
    }
  } catch (err) {
    client.close();
    throw err;
  }
}

async function answers(client) {
  try {
    const res = await unary(client, health.Health.method.check, { service: "" }, { deadlineMs: 1000 });
    return res.status === health.HealthCheckResponse_ServingStatus.SERVING;
  } catch (err) {
    if (err.code !== 12 /* UNIMPLEMENTED */) return false;
  }
  try {
    await unary(client, JobExecutionService.method.getJobStatus, { jobId: { value: "bench-probe" } });
    return true;
  } catch (err) {
    return err.code === 5; /* NOT_FOUND */
  }
}

/**
 * Starts `node packages/cli/bin/hodei.js server`. Options: databaseUrl (else embedded), maxWorkers,
 * idleTimeoutMs. Resolves to { client, address, pid, startMs, workerPids(), stop() }.
 */
export async function startControlPlane({
  databaseUrl,
  maxWorkers = 8,
  idleTimeoutMs = 600_000,
  env = {},
} = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), "hodei-bench-"));
  const [grpcPort, httpPort] = [await freePort(), await freePort()];
  const started = performance.now();
  const child = spawn(process.execPath, [CLI, "server"], {
    cwd: dataDir,
    detached: true, // its own process group, so that stop() also reaches its workers
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      GRPC_PORT: String(grpcPort),
      HODEI_GRPC_HOST: "127.0.0.1",
      HODEI_HTTP_PORT: String(httpPort),
      HODEI_DATA_DIR: join(dataDir, "data"),
      ...(databaseUrl ? { HODEI_DATABASE_URL: databaseUrl } : {}),
      HODEI_LOCAL_MAX_WORKERS: String(maxWorkers),
      HODEI_WORKER_IDLE_TIMEOUT: String(idleTimeoutMs),
      LOG_LEVEL: "warn",
      ...env,
    },
  });
  live.add(child.pid);
  let log = "";
  const keep = (chunk) => {
    log = (log + chunk.toString()).slice(-8000);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  const exited = new Promise((resolve) => child.once("exit", resolve));

  const address = `127.0.0.1:${grpcPort}`;
  let client;
  let stopping;
  const stop = () => {
    stopping ??= (async () => {
      client?.close();
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const timer = delay(STOP_TIMEOUT_MS).then(() => "timeout");
        if ((await Promise.race([exited, timer])) === "timeout")
          console.error("hodei server did not stop in time");
      }
      try {
        process.kill(-child.pid, "SIGKILL"); // stragglers: workers, their commands
      } catch {
        // none left
      }
      live.delete(child.pid);
      rmSync(dataDir, { recursive: true, force: true });
    })();
    return stopping;
  };
  try {
    client = await waitUntilServing(address, grpcPort, child, () => log);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    client,
    address,
    pid: child.pid,
    startMs: performance.now() - started,
    workerPids: () => workerPidsOf(child.pid),
    output: () => log,
    stop,
  };
}

/**
 * Follows ExecutionEventStream for every job. `waitTerminal(id)` resolves to { status, at } (at:
 * performance.now() when the event arrived) the first time a terminal event for `id` is seen;
 * later terminal events for the same job are counted in `duplicates` (and kept in `later`, by job),
 * never twice.
 */
export function trackTerminalEvents(client) {
  const terminal = new Map();
  const waiters = new Map();
  const state = { duplicates: 0, events: 0, error: undefined };
  const later = new Map();
  // Only the ends, as the peers' clients learn only of completions.
  const call = serverStream(client, JobExecutionService.method.executionEventStream, {
    statuses: [...TERMINAL],
  });
  call.on("data", (ev) => {
    state.events += 1;
    if (!TERMINAL.has(ev.status)) return;
    const id = ev.jobId?.value ?? "";
    if (terminal.has(id)) {
      state.duplicates += 1;
      later.set(id, [...(later.get(id) ?? []), describe(ev)]);
      return;
    }
    const seen = { status: ev.status, at: performance.now(), exitCode: ev.exitCode, message: ev.message, ev };
    terminal.set(id, seen);
    waiters.get(id)?.(seen);
    waiters.delete(id);
  });
  call.on("error", (err) => {
    if (err.code !== 1 /* CANCELLED */) state.error = err;
  });
  return {
    state,
    terminal,
    later,
    waitTerminal(id, timeoutMs = 60_000) {
      const seen = terminal.get(id);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(id);
          reject(
            new Error(
              `no terminal event for ${id} within ${timeoutMs} ms${state.error ? ` (${state.error})` : ""}`,
            ),
          );
        }, timeoutMs);
        waiters.set(id, (s) => {
          clearTimeout(timer);
          resolve(s);
        });
      });
    },
    close: () => call.cancel(),
  };
}

/** One event, for a human: `FAILED exit=1 worker=w-1 "message"`. */
export function describe(ev) {
  const parts = [JobStatus[ev.status] ?? String(ev.status)];
  if (ev.exitCode !== undefined) parts.push(`exit=${ev.exitCode}`);
  if (ev.workerId) parts.push(`worker=${ev.workerId}`);
  if (ev.executionId) parts.push(`exec=${ev.executionId}`);
  if (ev.message) parts.push(JSON.stringify(ev.message));
  return parts.join(" ");
}

export function percentile(xs, p) {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export const median = (xs) => percentile(xs, 50);
