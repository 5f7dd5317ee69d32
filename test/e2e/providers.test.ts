// Providers as records: registered, placed on, disabled, enabled, measured and deleted over gRPC,
// REST and the CLI; registered providers and their enabled flag survive a restart. Two local
// providers with different labels stand in for two kinds of infrastructure: placement is the same.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status, type Client } from "@grpc/grpc-js";
import { JobExecutionService, connectClient, providers, unary } from "@hodei/api";
import { startPlatform, stopCleanly, type Platform } from "./support/platform.js";
import { queueJob, waitForJobEnd } from "./support/jobs.js";
import { runCli } from "./support/cli.js";

const svc = providers.ProviderManagementService;

function grpcError(code: status, text: RegExp) {
  return (err: { code: number; details: string }) => err.code === code && text.test(err.details);
}

async function workerOf(client: Client, id: string): Promise<string> {
  const res = await unary(client, JobExecutionService.method.getJob, { jobId: { value: id } });
  return res.job?.workerId ?? "";
}

describe("providers", () => {
  const dataDir = mkdtempSync(join(tmpdir(), "hodei-providers-"));
  let platform: Platform;
  let client: Client;
  const start = async () => {
    platform = await startPlatform({
      dataDir,
      env: {
        HODEI_LOCAL_MAX_WORKERS: "2",
        HODEI_LOCAL_WORKER_LABELS: "pool=a",
        HODEI_WORKER_IDLE_TIMEOUT: "60000",
      },
    });
    client = connectClient(platform.grpcAddress);
  };
  before(start);
  after(async () => {
    client?.close();
    await stopCleanly(platform);
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("ListProviders shows the environment's local provider: healthy, its limits and capabilities", async () => {
    const { providers: list } = await unary(client, svc.method.listProviders, {});
    const local = list.find((p) => p.name === "local");
    assert.ok(local, "local provider listed");
    assert.equal(local.type, "local");
    assert.equal(local.enabled, true);
    assert.equal(local.healthy, true);
    assert.equal(local.source, "env");
    assert.equal(local.maxWorkers, 2);
    assert.equal(local.capabilities.labels, "pool=a");
    assert.ok(Number(local.capabilities.cpu_cores) >= 1);
  });

  test("bad registrations are refused naming the field, and store nothing", async () => {
    const reg = (provider: Record<string, unknown>) =>
      unary(client, svc.method.registerProvider, { provider });
    await assert.rejects(
      reg({ name: "x1", type: "mainframe" }),
      grpcError(status.INVALID_ARGUMENT, /provider\.type/),
    );
    await assert.rejects(
      reg({ name: "Bad Name", type: "local" }),
      grpcError(status.INVALID_ARGUMENT, /provider\.name/),
    );
    await assert.rejects(
      reg({ name: "x2", type: "local", config: { HODEI_LOCAL_MAX_WORKERS: "lots" } }),
      grpcError(status.INVALID_ARGUMENT, /HODEI_LOCAL_MAX_WORKERS/),
    );
    await assert.rejects(reg({ name: "local", type: "local" }), grpcError(status.ALREADY_EXISTS, /local/));
    const { providers: list } = await unary(client, svc.method.listProviders, {});
    assert.deepEqual(
      list.map((p) => p.name),
      ["local"],
    );
  });

  test("a registered provider takes the jobs only it can run; without a preference the cheapest that fits wins", async () => {
    const res = await unary(client, svc.method.registerProvider, {
      provider: {
        name: "local-b",
        type: "local",
        config: { HODEI_LOCAL_WORKER_LABELS: "pool=b" },
        maxWorkers: 1,
      },
    });
    assert.equal(res.provider?.maxWorkers, 1);
    assert.equal(res.provider?.source, "api");

    const onB = await queueJob(client, { command: "echo b", scheduling: { requiredLabels: { pool: "b" } } });
    const onA = await queueJob(client, { command: "echo a" });
    const preferred = await queueJob(client, {
      command: "echo p",
      scheduling: { preferredProvider: "local-b" },
    });
    for (const id of [onB, onA, preferred])
      assert.equal((await waitForJobEnd(client, id, 20_000)).statusName, "SUCCEEDED");
    assert.match(await workerOf(client, onB), /^local-b-/);
    assert.match(await workerOf(client, onA), /^local-[0-9a-f]{8}$/);
    assert.match(await workerOf(client, preferred), /^local-b-/);
  });

  test("a disabled provider takes no new work; enabled again, it does", async () => {
    await unary(client, svc.method.disableProvider, { id: "local-b" });
    await assert.rejects(
      queueJob(client, { command: "true", scheduling: { requiredLabels: { pool: "b" } } }),
      grpcError(status.FAILED_PRECONDITION, /local-b is disabled/),
    );
    const got = await unary(client, svc.method.getProvider, { id: "local-b" });
    assert.equal(got.provider?.enabled, false);
    await unary(client, svc.method.enableProvider, { id: "local-b" });
    const id = await queueJob(client, { command: "true", scheduling: { requiredLabels: { pool: "b" } } });
    assert.equal((await waitForJobEnd(client, id, 20_000)).statusName, "SUCCEEDED");
  });

  test("GetProviderStats counts real work: workers by state, jobs run, provisioning latency", async () => {
    const s = await unary(client, svc.method.getProviderStats, { id: "local-b" });
    assert.equal(s.id, "local-b");
    assert.ok(s.jobsRun >= 3n, `jobs run: ${s.jobsRun}`);
    assert.ok(s.workersCreated >= 1n);
    assert.ok(
      s.provisionP50Ms > 0 && s.provisionP99Ms >= s.provisionP50Ms,
      `p50 ${s.provisionP50Ms} p99 ${s.provisionP99Ms}`,
    );
    assert.equal(s.activeWorkers, 1);
    assert.equal(s.workersByState.READY, 1);
  });

  test("deleting a provider with a live worker is refused unless forced; the environment's provider cannot be deleted", async () => {
    await assert.rejects(
      unary(client, svc.method.deleteProvider, { id: "local-b" }),
      grpcError(status.FAILED_PRECONDITION, /1 live worker/),
    );
    await assert.rejects(
      unary(client, svc.method.deleteProvider, { id: "local" }),
      grpcError(status.FAILED_PRECONDITION, /environment/),
    );
    await unary(client, svc.method.deleteProvider, { id: "local-b", force: true });
    await assert.rejects(
      unary(client, svc.method.getProvider, { id: "local-b" }),
      grpcError(status.NOT_FOUND, /local-b/),
    );
  });

  test("REST: POST, GET, PATCH, stats and DELETE /api/providers", async () => {
    const url = `${platform.httpUrl}/api/providers`;
    const json = { "content-type": "application/json" };
    let r = await fetch(url, {
      method: "POST",
      headers: json,
      body: JSON.stringify({ name: "rest-p", type: "local", max_workers: 1 }),
    });
    assert.equal(r.status, 201);
    assert.equal(((await r.json()) as { max_workers: number }).max_workers, 1);
    r = await fetch(url, {
      method: "POST",
      headers: json,
      body: JSON.stringify({ name: "rest-q", type: "vmware" }),
    });
    assert.equal(r.status, 400);
    assert.match(((await r.json()) as { error: { message: string } }).error.message, /provider\.type/);
    r = await fetch(`${url}/rest-p`, {
      method: "PATCH",
      headers: json,
      body: JSON.stringify({ max_workers: 3, enabled: false }),
    });
    assert.equal(r.status, 200);
    const patched = (await r.json()) as { max_workers: number; enabled: boolean };
    assert.deepEqual([patched.max_workers, patched.enabled], [3, false]);
    r = await fetch(`${url}/rest-p/stats`);
    assert.equal(((await r.json()) as { active_workers: number }).active_workers, 0);
    const names = ((await (await fetch(url)).json()) as { providers: { name: string }[] }).providers.map(
      (p) => p.name,
    );
    assert.deepEqual(names, ["local", "rest-p"]);
    r = await fetch(`${url}/nope`);
    assert.equal(r.status, 404);
  });

  test("registered providers and their enabled flag survive a restart; the CLI lists and describes them", async () => {
    client.close();
    await stopCleanly(platform);
    await start();
    const got = await unary(client, svc.method.getProvider, { id: "rest-p" });
    assert.equal(got.provider?.enabled, false);
    assert.equal(got.provider?.maxWorkers, 3);
    const list = await runCli(["providers", "list", "--server", platform.grpcAddress]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^rest-p +local +no +3 +ok: /m);
    const get = await runCli(["providers", "get", "local", "--server", platform.grpcAddress]);
    assert.equal(get.code, 0, get.stderr);
    assert.match(get.stdout, /Source: +environment/);
    assert.match(get.stdout, /Provisioning: +p50 \d+ ms/);
    const del = await runCli(["providers", "delete", "rest-p", "--server", platform.grpcAddress]);
    assert.equal(del.code, 0, del.stderr);
    const missing = await runCli(["providers", "get", "rest-p", "--server", platform.grpcAddress]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /rest-p/);
  });
});
