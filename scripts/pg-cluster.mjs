// A throwaway PostgreSQL cluster from Debian's binaries, for tests and benchmarks.
// `startPgCluster()` → { url, port, stop() }: initdb into a temp dir, run the server on a free
// 127.0.0.1 port (fsync off, trust auth), wait until it accepts connections. The server refuses to
// run as root, so as root the binaries run as the `postgres` user.
// Run directly (`node scripts/pg-cluster.mjs`) it prints the URL and keeps the cluster until Ctrl-C.
import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, chownSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { pathToFileURL } from "node:url";

const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

/** The newest Debian PostgreSQL bin dir (/usr/lib/postgresql/<v>/bin), or undefined. */
export function findPostgresBinDir() {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, "bin", "initdb")) && existsSync(join(root, v, "bin", "postgres")))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length ? join(root, versions[0], "bin") : undefined;
}

/** uid/gid to run the server as: the `postgres` user when we are root, ourselves otherwise. */
function serverIdentity() {
  if (process.getuid?.() !== 0) return {};
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith("postgres:"));
  if (!line) throw new Error("running as root but there is no `postgres` user to run the server as");
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function waitUntilReady(binDir, port, server, output) {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (server.exitCode !== null || server.signalCode !== null) {
      throw new Error(`postgres exited while starting:\n${output()}`);
    }
    try {
      execFileSync(join(binDir, "pg_isready"), ["-q", "-h", "127.0.0.1", "-p", String(port)], {
        stdio: "ignore",
      });
      return;
    } catch {
      await delay(50);
    }
  }
  throw new Error(`postgres did not accept connections within ${START_TIMEOUT_MS} ms:\n${output()}`);
}

/**
 * Starts a throwaway cluster. Resolves to { url, port, dir, stop }; `stop()` is idempotent and
 * removes the cluster. `stopSync()` is for `process.on("exit")`, where nothing can be awaited.
 */
export async function startPgCluster({ binDir = findPostgresBinDir() } = {}) {
  if (!binDir) throw new Error("no PostgreSQL binaries under /usr/lib/postgresql/*/bin");
  const ident = serverIdentity();
  const dir = mkdtempSync(join(tmpdir(), "hodei-pg-"));
  if (ident.uid !== undefined) chownSync(dir, ident.uid, ident.gid);
  const dataDir = join(dir, "data");
  try {
    execFileSync(
      join(binDir, "initdb"),
      ["-D", dataDir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"],
      { ...ident, stdio: ["ignore", "ignore", "pipe"], cwd: dir },
    );
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${err.stderr?.toString() ?? err.message}`);
  }

  const port = await freePort();
  const args = ["-D", dataDir, "-p", String(port), "-k", dir, "-c", "listen_addresses=127.0.0.1"];
  for (const setting of [
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "max_connections=300",
    "shared_buffers=128MB",
  ]) {
    args.push("-c", setting);
  }
  const server = spawn(join(binDir, "postgres"), args, {
    ...ident,
    cwd: dir,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  const keep = (chunk) => {
    log = (log + chunk.toString()).slice(-8000);
  };
  server.stdout.on("data", keep);
  server.stderr.on("data", keep);

  let stopped;
  const exited = new Promise((resolve) => server.once("exit", resolve));
  const stop = () => {
    stopped ??= (async () => {
      if (server.exitCode === null && server.signalCode === null) {
        server.kill("SIGINT"); // fast shutdown
        const timer = delay(STOP_TIMEOUT_MS).then(() => "timeout");
        if ((await Promise.race([exited, timer])) === "timeout") {
          server.kill("SIGKILL");
          await exited;
        }
      }
      rmSync(dir, { recursive: true, force: true });
    })();
    return stopped;
  };
  const stopSync = () => {
    if (server.exitCode === null && server.signalCode === null) server.kill("SIGQUIT"); // immediate
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    await waitUntilReady(binDir, port, server, () => log);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `postgres://postgres@127.0.0.1:${port}/postgres`, port, dir, stop, stopSync };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const cluster = await startPgCluster();
  console.log(cluster.url);
  const shutdown = () => cluster.stop().then(() => process.exit(0));
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
}
