// Local workers outlive a server killed with SIGKILL (nothing stops them). The next server on the
// same data directory ends them at start-up even when it listens elsewhere (they could never reach
// it); a live server's workers, another data directory's, are never touched.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { queueJob, waitForJobRunning } from "./support/jobs.js";
import { startPlatform, stopCleanly } from "./support/platform.js";
import { environOf, isAlive, processesWithEnv } from "./support/processes.js";
import { waitFor } from "./support/wait.js";

/** The agents (not their jobs) of the servers on `dataDir`. */
function agents(dataDir: string): number[] {
  return processesWithEnv("HODEI_DATA_DIR", dataDir).filter((pid) => {
    const env = environOf(pid);
    return env?.has("HODEI_WORKER_ID") && !env.has("HODEI_JOB_ID");
  });
}

/** The processes of `dataDir`'s servers' jobs. */
function jobProcesses(dataDir: string): number[] {
  return processesWithEnv("HODEI_DATA_DIR", dataDir).filter((pid) => environOf(pid)?.has("HODEI_JOB_ID"));
}

test("after a SIGKILL, the next server on the data directory, at another address, ends the old server's local workers and their jobs, and no other server's", async () => {
  const dir = mkdtempSync(join(tmpdir(), "hodei-local-orphans-"));
  const other = await startPlatform();
  const first = await startPlatform({ dataDir: dir });
  let second: Awaited<ReturnType<typeof startPlatform>> | undefined;
  try {
    const theirs = await queueJob(other.client, { command: "sleep 600" });
    const ours = await queueJob(first.client, { command: "sleep 600" });
    await Promise.all([waitForJobRunning(other.client, theirs), waitForJobRunning(first.client, ours)]);
    const orphans = agents(dir);
    const orphanJobs = jobProcesses(dir);
    const foreign = agents(other.dataDir);
    assert.ok(
      orphans.length > 0 && orphanJobs.length > 0 && foreign.length > 0,
      "every server has a working agent",
    );

    process.kill(first.pid, "SIGKILL");
    await waitFor(() => !first.alive(), { timeoutMs: 5_000, what: "the first server to die" });
    assert.ok(orphans.every(isAlive), "its agents outlived it");

    second = await startPlatform({ dataDir: dir }); // new ports: the orphans try the old address
    assert.notEqual(second.grpcPort, first.grpcPort);
    await waitFor(() => orphans.every((p) => !isAlive(p)) && orphanJobs.every((p) => !isAlive(p)), {
      timeoutMs: 15_000,
      what: `the old agents ${orphans.join(", ")} and their jobs ${orphanJobs.join(", ")} to end`,
    });
    assert.ok(foreign.every(isAlive), "another server's agents are untouched");
  } finally {
    await first.stop();
    await stopCleanly(second);
    await stopCleanly(other);
    rmSync(dir, { recursive: true, force: true });
  }
});
