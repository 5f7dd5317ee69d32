// The provider contract (support/provider-contract.ts) against the local provider: workers are
// child processes of the server. A preload in the server's NODE_OPTIONS, which every worker
// inherits, blocks processes holding a worker's one-time token: for 1.5 s on the first server (a
// worker still starting, to cancel), for good on the restarted one (a worker that never registers).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { environOf, isAlive, kill, processesWithEnv } from "./support/processes.js";
import { runProviderContract } from "./support/provider-contract.js";

/** pids of the worker agents of the server on `dataDir` (they inherit its HODEI_DATA_DIR). */
function workerPids(dataDir: string): number[] {
  return processesWithEnv("HODEI_DATA_DIR", dataDir).filter((pid) => {
    const env = environOf(pid);
    return env?.has("HODEI_WORKER_ID") && !env.has("HODEI_JOB_ID");
  });
}

function preload(dir: string, name: string, waitMs: number | undefined): string {
  const path = join(dir, name);
  const timeout = waitMs === undefined ? "" : `, ${waitMs}`;
  writeFileSync(
    path,
    `if (process.env.HODEI_OTP_TOKEN) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0${timeout});\n`,
  );
  return path;
}

runProviderContract("local", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hodei-contract-local-preload-"));
  return {
    env: { HODEI_LOCAL_MAX_WORKERS: "1" },
    startMs: 20_000,
    firstEnv: { NODE_OPTIONS: `--require=${preload(dir, "slow-start.cjs", 1_500)}` },
    neverRegisters: {
      provisioningTimeoutMs: 1_500,
      env: { NODE_OPTIONS: `--require=${preload(dir, "never-registers.cjs", undefined)}` },
    },
    workers: async (dataDir) => workerPids(dataDir).map(String),
    async remove(id) {
      kill(Number(id), "SIGKILL");
      await Promise.resolve(isAlive(Number(id)));
    },
    close: async () => rmSync(dir, { recursive: true, force: true }),
  };
});
