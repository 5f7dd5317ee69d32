// A peer's worker runs in a process of its own, as ours does (the bench process is the submitting
// client): `node peer-worker.mjs <system> <config json>`, forked with an IPC channel. It says
// `ready` once it takes jobs and stops gracefully on `stop`.
import { fork } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;
const live = new Set();

/** Kills every peer worker still running (for `process.on("exit")`). */
export function killAllPeerWorkers() {
  for (const child of live) child.kill("SIGKILL");
  live.clear();
}

export async function startPeerWorker(system, config) {
  const child = fork(join(here, "peer-worker.mjs"), [system, JSON.stringify(config)], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  live.add(child);
  const exited = new Promise((resolve) => child.once("exit", resolve));
  await new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${system} worker not ready in ${READY_TIMEOUT_MS} ms`)),
      READY_TIMEOUT_MS,
    );
    child.once("message", (m) => {
      clearTimeout(timer);
      if (m?.ready) resolve();
      else reject(new Error(`${system} worker: ${m?.error ?? "unexpected message"}`));
    });
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${system} worker exited (${code}) while starting`));
    });
  });
  let stopping;
  return {
    pid: child.pid,
    /** Graceful; `abandon`: killed at once (a backlog left behind is not worth draining). */
    stop({ abandon = false } = {}) {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          if (abandon) child.kill("SIGKILL");
          else child.send({ stop: true });
          const timer = new Promise((r) => setTimeout(r, STOP_TIMEOUT_MS, "timeout"));
          if ((await Promise.race([exited, timer])) === "timeout") child.kill("SIGKILL");
          await exited;
        }
        live.delete(child);
      })();
      return stopping;
    },
  };
}
