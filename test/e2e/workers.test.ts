// Workers end to end with the local provider: provisioned on demand up to the limit, and a worker
// that dies or stops heartbeating fails its job and is never used again. Idle termination and the
// rest of what every provider does are the contract's: contract-local.test.ts.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { JobExecutionService, unary } from "@hodei/api";
import { jobStatus, logLines, queueJob, waitForJobEnd } from "./support/jobs.js";
import { startPlatform, stopCleanly, type Platform } from "./support/platform.js";
import {
  descendantsOf,
  environOf,
  isAlive,
  kill,
  processesWithEnv,
  readCmdline,
} from "./support/processes.js";
import { waitFor } from "./support/wait.js";

const MAX_WORKERS = 2;
const IDLE_TIMEOUT_MS = 1_000;
const HEARTBEAT_INTERVAL_MS = 500;
const HEARTBEAT_TIMEOUT_MS = 3_000;
/** The control plane's safety-net sweep, which notices silent and idle workers, runs every 2 s. */
const SWEEP_MS = 2_000;
/** A CA file the server's environment names for node processes (any file: nobody opens TLS here). */
const EXTRA_CA_CERTS = "/etc/ssl/certs/ca-certificates.crt";

interface WorkerView {
  id: string;
  state: string;
  current_job_id: string | null;
}

describe("workers", () => {
  let platform: Platform;
  const victims: { killed?: string; frozen?: { jobId: string; pid: number } } = {};
  before(async () => {
    platform = await startPlatform({
      env: {
        HODEI_LOCAL_MAX_WORKERS: String(MAX_WORKERS),
        HODEI_WORKER_IDLE_TIMEOUT: String(IDLE_TIMEOUT_MS),
        HODEI_HEARTBEAT_INTERVAL: String(HEARTBEAT_INTERVAL_MS),
        HODEI_HEARTBEAT_TIMEOUT: String(HEARTBEAT_TIMEOUT_MS),
        NODE_EXTRA_CA_CERTS: EXTRA_CA_CERTS,
      },
    });
  });
  after(() => stopCleanly(platform));

  async function workers(): Promise<WorkerView[]> {
    const res = await fetch(`${platform.httpUrl}/api/workers`);
    assert.equal(res.status, 200);
    return ((await res.json()) as { workers: WorkerView[] }).workers;
  }

  /** The worker agent process of `workerId`: a process under the server with that id in its environment. */
  function workerPid(workerId: string): number | undefined {
    return descendantsOf(platform.pid).find((pid) => environOf(pid)?.get("HODEI_WORKER_ID") === workerId);
  }

  async function runningOn(jobId: string): Promise<string> {
    const s = await waitFor(
      async () => {
        const st = await jobStatus(platform.client, jobId);
        return st.statusName === "RUNNING" && st.workerId ? st : undefined;
      },
      { timeoutMs: 30_000, what: `job ${jobId} to be RUNNING` },
    );
    return s.workerId;
  }

  test(`with HODEI_LOCAL_MAX_WORKERS=${MAX_WORKERS}, 4 jobs never see more than ${MAX_WORKERS} workers`, async () => {
    assert.deepEqual(await workers(), [], "no worker before any job");
    const ids = await Promise.all(
      [1, 2, 3, 4].map((i) => queueJob(platform.client, { name: `limit-${i}`, command: "sleep 0.5" })),
    );
    let most = 0;
    let samples = 0;
    await waitFor(
      async () => {
        const live = (await workers()).filter((w) => w.state !== "TERMINATED");
        most = Math.max(most, live.length);
        samples++;
        assert.ok(live.length <= MAX_WORKERS, `${live.length} workers at once: ${JSON.stringify(live)}`);
        const states = await Promise.all(ids.map((id) => jobStatus(platform.client, id)));
        return states.every((s) => s.statusName === "SUCCEEDED" || s.statusName === "FAILED");
      },
      { timeoutMs: 60_000, intervalMs: 20, what: "the 4 jobs to finish" },
    );
    assert.ok(samples >= 5, `sampled /api/workers ${samples} times while the jobs ran`);
    assert.equal(most, MAX_WORKERS, "workers were provisioned on demand, up to the limit");
    const ran = await Promise.all(ids.map((id) => jobStatus(platform.client, id)));
    assert.deepEqual(
      ran.map((s) => s.statusName),
      ["SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED"],
    );
    assert.ok(new Set(ran.map((s) => s.workerId)).size <= MAX_WORKERS, "the jobs shared the workers");
  });

  test("local workers leave the agent's compiled code under the data dir for the next ones; jobs do not see where", async () => {
    const cacheDir = join(platform.dataDir, "cache");
    // The workers of the test before idle out, and each one that started without a cache writes one.
    const caches = await waitFor(
      () => {
        const found = existsSync(cacheDir) ? readdirSync(cacheDir).filter((n) => n.endsWith(".v8")) : [];
        return found.length > 0 ? found : undefined;
      },
      { timeoutMs: IDLE_TIMEOUT_MS + SWEEP_MS + 10_000, what: "a code cache in the data dir" },
    );
    assert.equal(caches.length, 1, `one cache, for this bundle and node: ${caches.join(", ")}`);
    assert.ok(statSync(join(cacheDir, caches[0]!)).size > 100_000);

    const id = await queueJob(platform.client, {
      name: "cache-env",
      command: 'echo "cache=[${HODEI_WORKER_CODE_CACHE-unset}]"',
    });
    const done = await waitForJobEnd(platform.client, id);
    assert.equal(done.statusName, "SUCCEEDED");
    const lines = await logLines(platform.client, id);
    assert.ok(lines.includes("cache=[unset]"), lines.join("\n"));
  });

  test("NODE_EXTRA_CA_CERTS is not parsed by the agent's node at its start, and its jobs still have it", async () => {
    const id = await queueJob(platform.client, {
      name: "ca-env",
      command:
        'echo "ca=[${NODE_EXTRA_CA_CERTS-unset}] aside=[${HODEI_JOB_NODE_EXTRA_CA_CERTS-unset}]"; sleep 2',
    });
    const pid = workerPid(await runningOn(id));
    assert.ok(pid, "the job's worker process");
    const agentEnv = environOf(pid);
    assert.equal(agentEnv?.get("NODE_EXTRA_CA_CERTS"), undefined, "not in the agent's own environment");
    assert.equal(agentEnv?.get("HODEI_JOB_NODE_EXTRA_CA_CERTS"), EXTRA_CA_CERTS, "carried aside");
    const done = await waitForJobEnd(platform.client, id);
    assert.equal(done.statusName, "SUCCEEDED");
    const lines = await logLines(platform.client, id);
    assert.ok(lines.includes(`ca=[${EXTRA_CA_CERTS}] aside=[unset]`), lines.join("\n"));
  });

  test("a worker killed while running a job: the job FAILED naming the worker; the next job gets a new worker", async () => {
    const victim = await queueJob(platform.client, { name: "victim", command: "sleep 30" });
    victims.killed = victim;
    const workerId = await runningOn(victim);
    const pid = workerPid(workerId);
    assert.ok(pid, `the process of worker ${workerId} among the server's children`);

    kill(pid, "SIGKILL");
    const killedAt = Date.now();
    const failed = await waitForJobEnd(platform.client, victim, HEARTBEAT_TIMEOUT_MS + SWEEP_MS + 5_000);
    const tookMs = Date.now() - killedAt;
    assert.equal(failed.statusName, "FAILED");
    assert.match(failed.message, /worker/i);
    assert.ok(tookMs <= HEARTBEAT_TIMEOUT_MS + SWEEP_MS, `the loss was noticed after ${tookMs} ms`);

    const listed = (await workers()).find((w) => w.id === workerId);
    assert.ok(
      !listed || !["READY", "BUSY"].includes(listed.state),
      `the dead worker: ${JSON.stringify(listed)}`,
    );

    const next = await queueJob(platform.client, { name: "after-loss", command: "echo still working" });
    const done = await waitForJobEnd(platform.client, next);
    assert.equal(done.statusName, "SUCCEEDED");
    assert.notEqual(done.workerId, workerId, "the next job ran on a new worker");
  });

  test("a worker that stops heartbeating (SIGSTOP): its job FAILED within the heartbeat timeout; never used again", async () => {
    const victim = await queueJob(platform.client, { name: "frozen", command: "sleep 30" });
    const workerId = await runningOn(victim);
    const pid = workerPid(workerId);
    assert.ok(pid, `the process of worker ${workerId} among the server's children`);

    kill(pid, "SIGSTOP");
    victims.frozen = { jobId: victim, pid };
    const frozenAt = Date.now();
    let failed;
    try {
      failed = await waitForJobEnd(platform.client, victim, HEARTBEAT_TIMEOUT_MS + SWEEP_MS + 10_000);
    } finally {
      // Wake it up as soon as the server gave up on it: it finds the server's SIGTERM waiting.
      kill(pid, "SIGCONT");
    }
    const tookMs = Date.now() - frozenAt;
    assert.equal(failed.statusName, "FAILED");
    assert.match(failed.message, /worker|heartbeat/i);
    assert.ok(
      tookMs <= HEARTBEAT_TIMEOUT_MS + SWEEP_MS + 1_000,
      `the silent worker was noticed after ${tookMs} ms (heartbeat timeout ${HEARTBEAT_TIMEOUT_MS} ms)`,
    );

    const next = await queueJob(platform.client, { name: "after-freeze", command: "true" });
    const done = await waitForJobEnd(platform.client, next);
    assert.equal(done.statusName, "SUCCEEDED");
    assert.notEqual(done.workerId, workerId, "the silent worker got no more work");
    const { job } = await unary(platform.client, JobExecutionService.method.getJob, {
      jobId: { value: victim },
    });
    assert.equal(job?.executions.length, 1);
  });

  test("the job process of the killed worker does not outlive it", async () => {
    const survivors = () => processesWithEnv("HODEI_JOB_ID", victims.killed ?? "?");
    assert.ok(victims.killed, "the killed-worker test ran");
    await waitFor(() => survivors().length === 0, {
      timeoutMs: 5_000,
      what: () =>
        `the job process of ${victims.killed} to end once its worker was gone and the job FAILED ` +
        `(still running: ${survivors().map(describeProcess).join("; ")})`,
    });
  });

  test("the silent worker, once it wakes up, exits and so does its job process", async () => {
    assert.ok(victims.frozen, "the frozen-worker test ran");
    const { pid, jobId } = victims.frozen;
    await waitFor(() => !isAlive(pid), { timeoutMs: 10_000, what: `the resumed worker ${pid} to exit` });
    const survivors = () => processesWithEnv("HODEI_JOB_ID", jobId);
    await waitFor(() => survivors().length === 0, {
      timeoutMs: 5_000,
      what: () =>
        `the job process of ${jobId} to end (still running: ${survivors().map(describeProcess).join("; ")})`,
    });
  });
});

function describeProcess(pid: number): string {
  return `${pid} ${readCmdline(pid)}`;
}
