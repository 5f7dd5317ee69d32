// A throwaway Redis server for BullMQ: Debian's redis-server on a free 127.0.0.1 port, nothing
// persisted, stopped by the bench.
import { spawn, spawnSync } from "node:child_process";
import { freePort } from "../../scripts/pg-cluster.mjs";

const START_TIMEOUT_MS = 15_000;

export function hasRedisServer() {
  return spawnSync("redis-server", ["--version"], { stdio: "ignore" }).status === 0;
}

/** Resolves to { host, port, pid, stop() } once the server accepts connections. */
export async function startRedisServer() {
  const port = await freePort();
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"];
  const child = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  const exited = new Promise((resolve) => child.once("exit", resolve));
  await new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`redis-server not ready in ${START_TIMEOUT_MS} ms:\n${log}`)),
      START_TIMEOUT_MS,
    );
    const keep = (chunk) => {
      log = (log + chunk).slice(-4000);
      if (log.includes("Ready to accept connections")) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    child.once("error", reject);
    exited.then((code) => reject(new Error(`redis-server exited (${code}):\n${log}`)));
  });
  return {
    host: "127.0.0.1",
    port,
    pid: child.pid,
    stopSync: () => child.kill("SIGKILL"),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}
