// A real control plane for a test file: `hodei server` as a child process on free ports, with its
// own temp data directory (or a given one, or a PostgreSQL URL), ready once GET /readyz answers 200.
// stop() ends it (SIGTERM, then SIGKILL) and then kills every process it started that is still
// alive — workers and the jobs they ran — found by a marker in their inherited environment.
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "@grpc/grpc-js";
import { connectClient } from "@hodei/api";
import { hodeiBin, repoRoot } from "./paths.js";
import { kill, processesWithEnv } from "./processes.js";
import { waitFor, withDeadline } from "./wait.js";

export const MARKER_ENV = "HODEI_E2E_PLATFORM";
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;
const STDERR_LIMIT = 1024 * 1024;

export interface PlatformOptions {
  /** Extra server environment (HODEI_LOCAL_MAX_WORKERS, HODEI_HEARTBEAT_TIMEOUT, ...). */
  env?: Record<string, string>;
  /** Embedded database directory; the caller owns it. Default: a temp dir removed by stop(). */
  dataDir?: string;
  /** PostgreSQL instead of the embedded database. */
  databaseUrl?: string;
  /** Listen on these ports (e.g. a restart at a crashed server's address). Default: free ones. */
  grpcPort?: number;
  httpPort?: number;
}

export interface Platform {
  pid: number;
  grpcPort: number;
  httpPort: number;
  /** host:port for gRPC clients and the CLI's --server. */
  grpcAddress: string;
  /** http://127.0.0.1:port, no trailing slash. */
  httpUrl: string;
  dataDir: string;
  /** A typed grpc-js client (our generated code), closed by stop(). */
  client: Client;
  /** The server's stderr so far (banner and JSON logs). */
  stderr(): string;
  /** True while the server process runs. */
  alive(): boolean;
  /** Stops the server and everything it started; idempotent. */
  stop(): Promise<StopResult>;
}

export interface StopResult {
  /** The server's exit code, or null when a signal ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when it did not exit on SIGTERM within the stop timeout and was killed. */
  forced: boolean;
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      const port = typeof address === "object" && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const running = new Set<() => void>();
process.once("exit", () => {
  for (const killNow of running) killNow();
});

function exitOf(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

export async function startPlatform(opts: PlatformOptions = {}): Promise<Platform> {
  const grpcPort = opts.grpcPort ?? (await freePort());
  const httpPort = opts.httpPort ?? (await freePort());
  const ownDataDir = !opts.dataDir;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), "hodei-e2e-"));
  const marker = randomUUID();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GRPC_PORT: String(grpcPort),
    HODEI_GRPC_HOST: "127.0.0.1",
    HODEI_HTTP_PORT: String(httpPort),
    HODEI_DATA_DIR: dataDir,
    LOG_LEVEL: "info",
    ...opts.env,
    [MARKER_ENV]: marker,
  };
  delete env.HODEI_DATABASE_URL;
  if (opts.databaseUrl) env.HODEI_DATABASE_URL = opts.databaseUrl;

  const child = spawn(process.execPath, [hodeiBin, "server"], {
    cwd: repoRoot,
    env,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    stderr += chunk;
    if (stderr.length > STDERR_LIMIT) stderr = stderr.slice(-STDERR_LIMIT / 2);
  });
  const exited = exitOf(child);
  const strays = () => processesWithEnv(MARKER_ENV, marker);
  const killNow = () => {
    kill(child.pid ?? -1, "SIGKILL");
    for (const pid of strays()) kill(pid, "SIGKILL");
  };
  running.add(killNow);

  const httpUrl = `http://127.0.0.1:${httpPort}`;
  const alive = () => child.exitCode === null && child.signalCode === null;
  try {
    await waitFor(
      async () => {
        if (!alive()) throw new Error(`the server exited (${child.exitCode ?? child.signalCode})`);
        const res = await fetch(`${httpUrl}/readyz`);
        await res.arrayBuffer();
        return res.status === 200;
      },
      { timeoutMs: READY_TIMEOUT_MS, intervalMs: 100, what: `GET ${httpUrl}/readyz to answer 200` },
    );
  } catch (err) {
    killNow();
    running.delete(killNow);
    if (ownDataDir) rmSync(dataDir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}\n--- server stderr ---\n${stderr}`);
  }

  const client = connectClient(`127.0.0.1:${grpcPort}`);
  let stopping: Promise<StopResult> | undefined;
  return {
    pid: child.pid ?? -1,
    grpcPort,
    httpPort,
    grpcAddress: `127.0.0.1:${grpcPort}`,
    httpUrl,
    dataDir,
    client,
    stderr: () => stderr,
    alive,
    stop() {
      stopping ??= (async () => {
        client.close();
        child.kill("SIGTERM");
        let forced = false;
        await withDeadline(exited, STOP_TIMEOUT_MS, "the server to exit on SIGTERM").catch(() => {
          forced = true;
          child.kill("SIGKILL");
          return exited;
        });
        // Workers are destroyed by the server on shutdown; whatever survived (a worker whose parent
        // was killed, a job's orphaned process group) goes now.
        for (const pid of strays()) kill(pid, "SIGKILL");
        await waitFor(() => strays().length === 0, {
          timeoutMs: STOP_TIMEOUT_MS,
          what: "the platform's stray processes to exit",
        });
        running.delete(killNow);
        if (ownDataDir) rmSync(dataDir, { recursive: true, force: true });
        return { code: child.exitCode, signal: child.signalCode, forced };
      })();
      return stopping;
    },
  };
}

/** Stops `platform` (when it was started) and fails unless the server exited 0 on SIGTERM. */
export async function stopCleanly(platform: Platform | undefined): Promise<void> {
  if (!platform) return;
  const r = await platform.stop();
  if (r.code !== 0 || r.forced) {
    const tail = platform.stderr().split("\n").slice(-20).join("\n");
    throw new Error(`the server did not stop cleanly: ${JSON.stringify(r)}\n--- stderr (tail) ---\n${tail}`);
  }
}
