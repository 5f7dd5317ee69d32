// Placement: requirements no worker can ever meet are refused at once, naming the requirement; labels
// of local workers are matched; a job that only waits for capacity says why in GetJob.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import { JobExecutionService, connectClient, unary } from "@hodei/api";
import { startPlatform, stopCleanly, type Platform } from "./support/platform.js";
import { queueJob, waitForJobEnd, waitForJobRunning } from "./support/jobs.js";

describe("placement", () => {
  let platform: Platform;
  let client: ReturnType<typeof connectClient>;
  before(async () => {
    platform = await startPlatform({
      env: { HODEI_LOCAL_MAX_WORKERS: "1", HODEI_LOCAL_WORKER_LABELS: "zone=lab,disk=ssd" },
    });
    client = connectClient(platform.grpcAddress);
  });
  after(async () => {
    client?.close();
    await stopCleanly(platform);
  });

  const refused = (field: RegExp) => (err: { code: number; details: string }) =>
    err.code === status.FAILED_PRECONDITION && field.test(err.details);

  test("requirements no worker can ever meet fail fast with FAILED_PRECONDITION naming them; nothing is queued", async () => {
    const before = (await unary(client, JobExecutionService.method.listJobs, {})).totalCount;
    await assert.rejects(
      queueJob(client, { command: "nvidia-smi", requirements: { gpuCount: 1 } }),
      refused(/requirements\.gpu_count/),
    );
    await assert.rejects(
      queueJob(client, { command: "true", requirements: { cpuCores: 512 } }),
      refused(/requirements\.cpu_cores/),
    );
    await assert.rejects(
      queueJob(client, { command: "true", requirements: { memoryBytes: 2n ** 50n } }),
      refused(/requirements\.memory_bytes/),
    );
    await assert.rejects(
      queueJob(client, { command: "true", requirements: { architecture: "riscv64" } }),
      refused(/requirements\.architecture/),
    );
    await assert.rejects(
      queueJob(client, { command: "true", scheduling: { requiredLabels: { zone: "eu" } } }),
      refused(/required_labels: zone=eu/),
    );
    await assert.rejects(
      queueJob(client, { command: "true", scheduling: { preferredProvider: "kubernetes" } }),
      refused(/preferred_provider/),
    );
    assert.equal((await unary(client, JobExecutionService.method.listJobs, {})).totalCount, before);
  });

  test("a job asking for labels the local workers have runs, and its worker reports them", async () => {
    const id = await queueJob(client, {
      command: "echo placed",
      scheduling: { requiredLabels: { zone: "lab" }, preferredProvider: "local" },
    });
    const end = await waitForJobEnd(client, id, 20_000);
    assert.equal(end.statusName, "SUCCEEDED");
  });

  test("a job that merely waits for capacity stays PENDING and GetJob says why", async () => {
    const blocker = await queueJob(client, { command: "sleep 30" });
    await waitForJobRunning(client, blocker);
    const waiting = await queueJob(client, { command: "true" });
    const job = (await unary(client, JobExecutionService.method.getJob, { jobId: { value: waiting } })).job!;
    assert.equal(job.statusName, "PENDING");
    assert.match(job.message, /waiting for a worker: all 1 local workers are busy/);
    await unary(client, JobExecutionService.method.cancelJob, { jobId: { value: blocker } });
    assert.equal((await waitForJobEnd(client, waiting, 15_000)).statusName, "SUCCEEDED");
  });
});
