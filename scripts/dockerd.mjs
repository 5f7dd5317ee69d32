// Makes sure a Docker Engine answers, for the Docker provider's tests and bench. Idempotent: an
// engine that already answers /_ping (on DOCKER_HOST or /var/run/docker.sock) is reused; otherwise
// Debian's dockerd is started in its own session with the host's network left alone
// (--iptables=false --bridge=none: the provider's containers use the host network anyway) and
// /_ping is polled until it answers.
//
//   node scripts/dockerd.mjs          prints how long it took, exits 0 when the engine answers
//   import { ensureDockerd } from "./dockerd.mjs"
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, openSync } from "node:fs";
import { request } from "node:http";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

const DEFAULT_SOCKET = "/var/run/docker.sock";
const LOG_FILE = "/var/log/hodei-dockerd.log";

/** The unix socket DOCKER_HOST names, or the default; null for a TCP DOCKER_HOST. */
export function dockerSocketPath(env = process.env) {
  const host = env.DOCKER_HOST?.trim();
  if (!host) return DEFAULT_SOCKET;
  if (host.startsWith("unix://")) return host.slice("unix://".length);
  return null;
}

/** The dockerd binary, or null when Docker is not installed at all. */
export function findDockerd() {
  for (const p of ["/usr/sbin/dockerd", "/usr/bin/dockerd", "/usr/local/bin/dockerd"]) {
    if (existsSync(p)) return p;
  }
  const which = spawnSync("sh", ["-c", "command -v dockerd"], { encoding: "utf8" });
  return which.status === 0 && which.stdout.trim() ? which.stdout.trim() : null;
}

/** Resolves true when GET /_ping on the socket answers OK within `timeoutMs`. */
export function ping(socketPath, timeoutMs = 1_000) {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: "/_ping", timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
    req.end();
  });
}

/**
 * Reuses or starts an engine. Resolves { socketPath, started, readyMs }; rejects with the reason
 * when dockerd is missing or does not answer within `timeoutMs` (its log is in /var/log).
 */
export async function ensureDockerd({ timeoutMs = 30_000, env = process.env } = {}) {
  const t0 = Date.now();
  const socketPath = dockerSocketPath(env);
  if (socketPath === null) {
    // A TCP engine is someone else's: use it as it is.
    return { socketPath: null, started: false, readyMs: 0 };
  }
  if (await ping(socketPath)) return { socketPath, started: false, readyMs: Date.now() - t0 };
  const dockerd = findDockerd();
  if (!dockerd) throw new Error("dockerd is not installed (Debian: apt-get install docker.io)");
  mkdirSync(dirname(LOG_FILE), { recursive: true });
  const log = openSync(LOG_FILE, "a");
  const child = spawn(
    dockerd,
    ["--iptables=false", "--bridge=none", "--host", `unix://${socketPath}`],
    // setsid: its own session, so the engine outlives the test run that started it and a Ctrl-C in
    // the terminal does not reach it; the next run reuses it.
    { detached: true, stdio: ["ignore", log, log] },
  );
  let exited = null;
  child.once("exit", (code, signal) => (exited = signal ?? code));
  child.unref();
  while (Date.now() - t0 < timeoutMs) {
    if (exited !== null) {
      // Another run may have started one at the same moment: its engine is as good as ours.
      if (await ping(socketPath)) return { socketPath, started: false, readyMs: Date.now() - t0 };
      throw new Error(`dockerd exited (${exited}) before answering; see ${LOG_FILE}`);
    }
    if (await ping(socketPath, 500)) return { socketPath, started: true, readyMs: Date.now() - t0 };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`dockerd did not answer /_ping on ${socketPath} within ${timeoutMs} ms; see ${LOG_FILE}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    const r = await ensureDockerd();
    console.log(
      r.started
        ? `dockerd started, answering on ${r.socketPath} after ${r.readyMs} ms`
        : `Docker Engine already answering${r.socketPath ? ` on ${r.socketPath}` : ""}`,
    );
  } catch (err) {
    console.error(`dockerd: ${err.message}`);
    process.exitCode = 1;
  }
}
