// Docker workers that go wrong, through the real control plane: a worker that never registers is
// destroyed after the provisioning timeout and its job offered again; cancelling the job tears the
// worker down; after a control-plane crash, the next start on the same data directory removes the
// crashed one's containers and leaves every other container alone.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { JobExecutionService, unary } from "@hodei/api";
import { LABEL_INSTANCE } from "@hodei/providers";
import {
  assertDockerProvider,
  containersOf,
  docker,
  dockerEngine,
  ensureTestImages,
  IMAGE_A,
  IMAGE_NEVER_REGISTERS,
  instanceIdFor,
} from "./docker-support.js";
import { jobStatus, queueJob, waitForJobEnd, waitForJobRunning } from "./support/jobs.js";
import { startPlatform, stopCleanly, type Platform } from "./support/platform.js";
import { waitFor } from "./support/wait.js";

const skip = await dockerEngine();
const PROVISIONING_TIMEOUT_MS = 1_500;
const dockerOnly = { HODEI_DOCKER_ENABLED: "1", HODEI_LOCAL_ENABLED: "0" };

describe("docker worker lifecycle", { skip }, () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  const instances = new Set<string>();
  let shared: { platform: Platform; instanceId: string } | undefined;
  /** One server for the two never-registering tests (a server start is most of their cost). */
  async function provisioningPlatform(): Promise<{ platform: Platform; instanceId: string }> {
    if (shared) return shared;
    const platform = await startPlatform({
      env: { ...dockerOnly, HODEI_PROVISIONING_TIMEOUT: String(PROVISIONING_TIMEOUT_MS) },
    });
    cleanups.push(() => stopCleanly(platform));
    await assertDockerProvider(platform.httpUrl);
    const instanceId = instanceIdFor(platform.dataDir);
    instances.add(instanceId);
    shared = { platform, instanceId };
    return shared;
  }
  before(() => ensureTestImages());
  after(async () => {
    const failures: unknown[] = [];
    for (const c of cleanups.reverse()) await c().catch((err: unknown) => failures.push(err));
    // Every server stopped: none of their containers may be left.
    for (const instanceId of instances) {
      for (const c of await containersOf(instanceId)) {
        await docker.getContainer(c.Id).remove({ force: true });
        failures.push(new Error(`container ${c.Names.join(",")} of instance ${instanceId} was left behind`));
      }
    }
    if (failures.length) throw failures[0];
  });

  test("a worker that never registers is destroyed after the provisioning timeout and the job is offered again", async () => {
    const { platform, instanceId } = await provisioningPlatform();
    const id = await queueJob(platform.client, {
      name: "stuck",
      command: "true",
      image: IMAGE_NEVER_REGISTERS,
    });
    // Each provisioning attempt is a new container; seeing two, one after the other, means the
    // first was destroyed and the job offered again.
    const seen = new Set<string>();
    await waitFor(
      async () => {
        for (const c of await containersOf(instanceId)) seen.add(c.Id);
        return seen.size >= 2;
      },
      {
        timeoutMs: PROVISIONING_TIMEOUT_MS * 4 + 10_000,
        intervalMs: 100,
        what: "a second provisioning attempt",
      },
    );
    const first = [...seen][0]!;
    await waitFor(async () => (await containersOf(instanceId)).every((c) => c.Id !== first), {
      timeoutMs: 10_000,
      what: "the first attempt's container to be removed",
    });
    assert.equal((await jobStatus(platform.client, id)).statusName, "PENDING");
    await unary(platform.client, JobExecutionService.method.cancelJob, {
      jobId: { value: id },
      reason: "e2e",
    });
    assert.equal((await waitForJobEnd(platform.client, id)).statusName, "CANCELLED");
  });

  test("cancelling a job while its worker's container is being created tears that container down", async () => {
    const { platform, instanceId } = await provisioningPlatform();
    const before = new Set((await containersOf(instanceId)).map((c) => c.Id));
    const id = await queueJob(platform.client, {
      name: "cancelled",
      command: "true",
      image: IMAGE_NEVER_REGISTERS,
    });
    // The container exists as soon as the engine created it, before create() has started it.
    const created = await waitFor(
      async () => (await containersOf(instanceId)).find((c) => !before.has(c.Id)),
      { timeoutMs: 15_000, intervalMs: 10, what: "the worker's container to be created" },
    );
    await unary(platform.client, JobExecutionService.method.cancelJob, {
      jobId: { value: id },
      reason: "e2e",
    });
    assert.equal((await waitForJobEnd(platform.client, id)).statusName, "CANCELLED");
    await waitFor(async () => (await containersOf(instanceId)).every((c) => c.Id !== created.Id), {
      timeoutMs: 10_000,
      what: "the cancelled job's worker container to be removed",
    });
  });

  test("after a control-plane crash, the next start reaps its containers and no one else's", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "hodei-e2e-docker-"));
    cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
    const instanceId = instanceIdFor(dataDir);
    instances.add(instanceId);
    const crashed = await startPlatform({ dataDir, env: dockerOnly });
    await assertDockerProvider(crashed.httpUrl);
    const id = await queueJob(crashed.client, { name: "orphaned", command: "sleep 60", image: IMAGE_A });
    await waitForJobRunning(crashed.client, id);
    const [orphan] = await containersOf(instanceId);
    assert.ok(orphan, `the running job's container carries instance ${instanceId}`);
    process.kill(crashed.pid, "SIGKILL");
    await waitFor(() => !crashed.alive(), { timeoutMs: 5_000, what: "the server to die" });
    await crashed.stop();
    assert.equal(
      (await docker.getContainer(orphan.Id).inspect()).State.Running,
      true,
      "the orphan outlived its server",
    );

    const foreign = await docker.createContainer({
      Image: IMAGE_A,
      Cmd: ["sleep", "120"],
      Labels: { [LABEL_INSTANCE]: "another-control-plane" },
    });
    cleanups.push(() => foreign.remove({ force: true }));
    await foreign.start();

    const restarted = await startPlatform({ dataDir, env: dockerOnly });
    cleanups.push(() => stopCleanly(restarted));
    await waitFor(async () => (await containersOf(instanceId)).every((c) => c.Id !== orphan.Id), {
      timeoutMs: 15_000,
      what: "the crashed server's container to be reaped",
    });
    assert.equal((await foreign.inspect()).State.Running, true, "another instance's container is untouched");
  });
});
