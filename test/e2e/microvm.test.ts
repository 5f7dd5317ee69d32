// MicroVM workers through the real control plane (HODEI_FC_ENABLED=1, no local provider): every
// worker is a real QEMU microvm machine (TCG on this machine, whose nested KVM cannot run the kernel;
// KVM where the start-up probe boots) whose agent reaches the server only through QEMU's guestfwd.
// Covered: create → register → job → logs → idle destroy; a worker that does not register in time is
// destroyed and its job offered again, and cancelling then tears the booting VM down; after a server
// crash the next start kills the crashed one's VMs and no other process. Each test boots VMs: a TCG
// boot costs seconds of a core, so the tests are few and their deadlines generous but bounded.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { release, tmpdir } from "node:os";
import { join } from "node:path";
import { JobExecutionService, unary } from "@hodei/api";
import { buildGuestImage } from "@hodei/providers";
import { instanceIdFor } from "./docker-support.js";
import { jobStatus, logLines, queueJob, waitForJobEnd, waitForJobRunning } from "./support/jobs.js";
import { runCli } from "./support/cli.js";
import { repoRoot } from "./support/paths.js";
import { isAlive, readCmdline } from "./support/processes.js";
import { startPlatform, stopCleanly, type Platform } from "./support/platform.js";
import { waitFor } from "./support/wait.js";

function missingTools(): string[] {
  const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
  return (
    [
      ["qemu-system-x86_64", "qemu-system-x86"],
      ["busybox", "busybox-static"],
      ["cpio", "cpio"],
      ["lz4", "lz4"],
      ["dpkg-deb", "dpkg"],
    ] as const
  )
    .filter(([cmd]) => !has(cmd))
    .map(([cmd, pkg]) => `${cmd} (${pkg})`);
}

const missing = missingTools();
const skip = missing.length ? `needs ${missing.join(", ")}` : false;
/** Shared with the provider's own tests: the kernel download and the image build happen once. */
const imageDir = process.env.HODEI_TEST_MICROVM_IMAGES ?? join(repoRoot, ".hodei", "microvm-test-images");
const microvmOnly = { HODEI_FC_ENABLED: "1", HODEI_LOCAL_ENABLED: "0", HODEI_FC_IMAGE_DIR: imageDir };
/** A TCG boot alone takes ~5 s on a quiet machine, several times that on a busy 2-core one. */
const BOOT_MS = 120_000;

/** pids of this machine's QEMU processes running microVMs of the control plane on `dataDir`. */
function vmsOf(dataDir: string): number[] {
  const marker = `-name hodei-vm:${instanceIdFor(dataDir)}.microvm:`;
  return readdirSync("/proc")
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
    .filter((pid) => readCmdline(pid).includes(marker) && threads(pid) > 1);
}

/** QEMU forks to start guestfwd's nc, and until that child execs it carries QEMU's command line too;
 * a running QEMU has several threads (main, RCU, vCPUs), the forked child one. */
function threads(pid: number): number {
  try {
    return Number(/^Threads:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

async function assertMicrovmProvider(platform: Platform): Promise<Record<string, string>> {
  const res = await fetch(`${platform.httpUrl}/api/providers`);
  const body = (await res.json()) as {
    providers?: { type: string; healthy: boolean; health?: string; capabilities?: Record<string, string> }[];
  };
  const p = body.providers?.find((x) => x.type === "microvm");
  if (!p) throw new Error(`the server started no microvm provider: ${JSON.stringify(body)}`);
  if (!p.healthy) throw new Error(`the microvm provider is unhealthy: ${p.health}`);
  return p.capabilities ?? {};
}

describe("microVM workers through the control plane (real QEMU)", { skip }, () => {
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  const dataDirs: string[] = [];
  function newDataDir(): string {
    const d = mkdtempSync(join(tmpdir(), "hodei-e2e-microvm-"));
    dataDirs.push(d);
    return d;
  }

  before(async () => {
    // Built (or found) here so each server's start-up only reuses it.
    await buildGuestImage({
      imageDir,
      workerBundlePath: join(repoRoot, "packages/worker/dist/hodei-worker.cjs"),
    });
  });

  after(async () => {
    const failures: unknown[] = [];
    for (const c of cleanups.reverse())
      await Promise.resolve(c()).catch((err: unknown) => failures.push(err));
    // QEMU does not inherit the server's environment, so the platform helper cannot find it: every
    // server stopped, none of their VMs may be left.
    for (const d of dataDirs) {
      for (const pid of vmsOf(d)) {
        process.kill(pid, "SIGKILL");
        failures.push(new Error(`QEMU ${pid} of ${d} was left behind`));
      }
      rmSync(d, { recursive: true, force: true });
    }
    if (failures.length) throw failures[0];
  });

  test("hodei microvm build-image reuses the cached image, --probe boots it to tell the accelerator, a bad kernel package is a clear error", async () => {
    const r = await runCli(["-o", "json", "microvm", "build-image", "--dir", imageDir, "--probe"], BOOT_MS);
    assert.equal(r.code, 0, r.stderr);
    const facts = JSON.parse(r.stdout) as Record<string, string>;
    assert.equal(facts.built, "earlier (cached)");
    assert.match(facts.kernelRelease ?? "", /^\d+\.\d+\.\d+-\d+-cloud-amd64$/);
    assert.ok(facts.accel === "tcg" || facts.accel === "kvm", JSON.stringify(facts));

    const scratch = newDataDir();
    const bad = await runCli([
      "microvm",
      "build-image",
      "--dir",
      scratch,
      "--kernel-deb",
      join(scratch, "nope.deb"),
    ]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /dpkg-deb .*nope\.deb/);
  });

  test("a job runs in a microVM: it registers, `uname -r` logs the guest kernel, and the idle VM is destroyed", async () => {
    const dataDir = newDataDir();
    const platform = await startPlatform({
      dataDir,
      env: { ...microvmOnly, HODEI_WORKER_IDLE_TIMEOUT: "2000" },
    });
    cleanups.push(() => stopCleanly(platform));
    const details = await assertMicrovmProvider(platform);
    assert.ok(
      details.accel === "tcg" || details.accel === "kvm",
      `details.accel: ${JSON.stringify(details)}`,
    );

    const queued = Date.now();
    const id = await queueJob(platform.client, {
      name: "guest-kernel",
      command: "uname -r; [ -e /etc/debian_version ] || echo guest-root",
    });
    const end = await waitForJobEnd(platform.client, id, BOOT_MS);
    assert.equal(end.statusName, "SUCCEEDED");
    const lines = await logLines(platform.client, id);
    assert.ok(
      lines.includes(details.kernel ?? "?"),
      `guest kernel ${details.kernel} not in ${JSON.stringify(lines)}`,
    );
    assert.ok(!lines.includes(release()), "the job saw the host's kernel");
    assert.ok(lines.includes("guest-root"), "the job saw the host's root filesystem");
    console.log(`# microvm (${details.accel}): queue → SUCCEEDED in ${Date.now() - queued} ms`);

    await waitFor(() => vmsOf(dataDir).length === 0, {
      timeoutMs: 30_000,
      what: "the idle microVM(s) to be destroyed",
    });
  });

  test("a VM that does not register within the provisioning timeout is destroyed and its job offered again; cancelling tears the booting VM down", async (t) => {
    const dataDir = newDataDir();
    // No TCG boot registers in 1 s, so every attempt times out (with KVM this could race: see skip).
    const platform = await startPlatform({
      dataDir,
      env: { ...microvmOnly, HODEI_PROVISIONING_TIMEOUT: "1000" },
    });
    cleanups.push(() => stopCleanly(platform));
    const details = await assertMicrovmProvider(platform);
    if (details.accel !== "tcg") {
      t.skip("under KVM a boot may register within the 1 s this test relies on missing");
      return;
    }
    const id = await queueJob(platform.client, { name: "never-in-time", command: "true" });
    const seen = new Set<number>();
    await waitFor(
      () => {
        for (const pid of vmsOf(dataDir)) seen.add(pid);
        return seen.size >= 2;
      },
      { timeoutMs: 60_000, intervalMs: 50, what: "a second provisioning attempt (a second QEMU)" },
    );
    const [first] = seen;
    await waitFor(() => !isAlive(first!), {
      timeoutMs: 10_000,
      what: "the first attempt's QEMU to be killed",
    });
    assert.equal((await jobStatus(platform.client, id)).statusName, "PENDING");

    await waitFor(() => vmsOf(dataDir).length > 0, {
      timeoutMs: 30_000,
      intervalMs: 20,
      what: "a booting VM",
    });
    await unary(platform.client, JobExecutionService.method.cancelJob, {
      jobId: { value: id },
      reason: "e2e",
    });
    assert.equal((await waitForJobEnd(platform.client, id)).statusName, "CANCELLED");
    await waitFor(() => vmsOf(dataDir).length === 0, {
      timeoutMs: 15_000,
      what: "no VM left once the job is cancelled",
    });
  });

  test("after a server crash its VMs outlive it; the next start on the same data directory kills them and nothing else", async () => {
    const dataDir = newDataDir();
    const crashed = await startPlatform({ dataDir, env: microvmOnly });
    await assertMicrovmProvider(crashed);
    const id = await queueJob(crashed.client, { name: "orphaned", command: "sleep 600" });
    await waitForJobRunning(crashed.client, id, BOOT_MS);
    const [orphan] = vmsOf(dataDir);
    assert.ok(orphan, "the running job's VM");
    process.kill(crashed.pid, "SIGKILL");
    await waitFor(() => !crashed.alive(), { timeoutMs: 5_000, what: "the server to die" });
    await crashed.stop();
    assert.ok(isAlive(orphan), "the orphan outlived its server");

    // A stale pid file naming a process that is not this instance's QEMU (a reused pid): left alone.
    const bystander = spawn("sleep", ["300"], { stdio: "ignore" });
    cleanups.push(() => bystander.kill("SIGKILL"));
    const instanceDir = join(dataDir, "microvm", "vms", `${instanceIdFor(dataDir)}.microvm`);
    mkdirSync(join(instanceDir, "stale"), { recursive: true });
    writeFileSync(join(instanceDir, "stale", "qemu.pid"), `${bystander.pid}\n`);

    const restarted = await startPlatform({ dataDir, env: microvmOnly });
    cleanups.push(() => stopCleanly(restarted));
    await waitFor(() => !isAlive(orphan), {
      timeoutMs: 30_000,
      what: "the crashed server's VM to be reaped",
    });
    assert.ok(isAlive(bystander.pid!), "a process that is not our QEMU was killed");
  });
});
