// Jobs through the real control plane on Docker workers only (HODEI_LOCAL_ENABLED=0): a job runs in
// the image it names, with its memory requirement as the container's limit; a missing image is
// refused at queue time; a killed container fails its job with the provider's reason. Real Docker
// Engine, images built here. What every provider does (logs, idle removal, provisioning timeout,
// cancel while starting, crash reaping) is the contract's: contract-docker.test.ts.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { status as grpcStatus } from "@grpc/grpc-js";
import { LABEL_WORKER } from "@hodei/providers";
import {
  assertDockerProvider,
  containersOf,
  docker,
  dockerEngine,
  ensureTestImages,
  IMAGE_A,
  IMAGE_B,
  instanceIdFor,
} from "./docker-support.js";
import { logLines, queueJob, waitForJobEnd, waitForJobRunning } from "./support/jobs.js";
import { startPlatform, stopCleanly, type Platform } from "./support/platform.js";
import { waitFor } from "./support/wait.js";

const skip = await dockerEngine();
/** Short, so that idle workers free their slots under HODEI_DOCKER_MAX_WORKERS for the next lanes. */
const IDLE_TIMEOUT_MS = 1_500;

describe("docker jobs", { skip }, () => {
  let platform: Platform;
  let instanceId: string;

  before(async () => {
    await ensureTestImages();
    platform = await startPlatform({
      env: {
        HODEI_DOCKER_ENABLED: "1",
        HODEI_LOCAL_ENABLED: "0",
        HODEI_DOCKER_MAX_WORKERS: "3",
        HODEI_WORKER_IDLE_TIMEOUT: String(IDLE_TIMEOUT_MS),
      },
    });
    instanceId = instanceIdFor(platform.dataDir);
    await assertDockerProvider(platform.httpUrl);
  });
  after(async () => {
    await stopCleanly(platform);
    const left = await containersOf(instanceId);
    for (const c of left) await docker.getContainer(c.Id).remove({ force: true });
    assert.deepEqual(
      left.map((c) => c.Names),
      [],
      "the server's shutdown removed its containers",
    );
  });

  test("a job runs inside the image it names: two images, each job sees its own /etc/os-release", async () => {
    const a = await queueJob(platform.client, {
      name: "in-a",
      command: "cat /etc/os-release",
      image: IMAGE_A,
    });
    const b = await queueJob(platform.client, {
      name: "in-b",
      command: "cat /etc/os-release",
      image: IMAGE_B,
    });
    const [sa, sb] = [await waitForJobEnd(platform.client, a), await waitForJobEnd(platform.client, b)];
    assert.equal(sa.statusName, "SUCCEEDED", sa.message);
    assert.equal(sb.statusName, "SUCCEEDED", sb.message);
    assert.deepEqual(await logLines(platform.client, a), [
      "$ cat /etc/os-release",
      "ID=hodei-test-a",
      'NAME="hodei-test-a"',
    ]);
    assert.deepEqual(await logLines(platform.client, b), [
      "$ cat /etc/os-release",
      "ID=hodei-test-b",
      'NAME="hodei-test-b"',
    ]);
  });

  test("a job naming no image runs in the default image, built from this machine's busybox and bash, started through the agent's hodei-spawn", async () => {
    const id = await queueJob(platform.client, {
      name: "default",
      command: "grep ^ID= /etc/os-release; echo $BASH; cat /proc/$PPID/comm",
    });
    const s = await waitForJobEnd(platform.client, id);
    assert.equal(s.statusName, "SUCCEEDED", s.message);
    assert.deepEqual(await logLines(platform.client, id), [
      "$ grep ^ID= /etc/os-release; echo $BASH; cat /proc/$PPID/comm",
      "ID=hodei-worker-base",
      "/bin/bash",
      "hodei-spawn",
    ]);
  });

  test("the job's memory requirement is its container's limit, seen from inside", async () => {
    const command =
      "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max";
    const id = await queueJob(platform.client, {
      name: "mem",
      command,
      image: IMAGE_A,
      requirements: { memoryBytes: BigInt(200 * 1024 ** 2) },
    });
    const s = await waitForJobEnd(platform.client, id);
    assert.equal(s.statusName, "SUCCEEDED", s.message);
    assert.deepEqual((await logLines(platform.client, id)).slice(1), [String(200 * 1024 ** 2)]);
  });

  test("a job naming an image the engine lacks is refused at queue time with FAILED_PRECONDITION naming it", async () => {
    const started = Date.now();
    await assert.rejects(
      queueJob(platform.client, { name: "missing", command: "true", image: "hodei-test/absent:404" }),
      (err: { code?: number; details?: string }) => {
        assert.equal(err.code, grpcStatus.FAILED_PRECONDITION);
        assert.match(err.details ?? "", /hodei-test\/absent:404/);
        return true;
      },
    );
    assert.ok(Date.now() - started < 6_000, "answered within the pull timeout");
  });

  test("a worker container killed under a running job fails the job with the provider's reason", async () => {
    const id = await queueJob(platform.client, { name: "victim", command: "sleep 30", image: IMAGE_A });
    const running = await waitForJobRunning(platform.client, id);
    const [container] = await docker.listContainers({
      filters: { label: [`${LABEL_WORKER}=${running.workerId}`] },
    });
    assert.ok(container, `a container for worker ${running.workerId}`);
    await docker.getContainer(container.Id).kill({ signal: "SIGKILL" });
    const s = await waitForJobEnd(platform.client, id, 20_000);
    assert.equal(s.statusName, "FAILED");
    assert.match(s.message, /worker container exited with SIGKILL/);
    await waitFor(async () => (await containersOf(instanceId)).every((c) => c.Id !== container.Id), {
      timeoutMs: 10_000,
      what: "the killed worker's container to be removed",
    });
  });
});
