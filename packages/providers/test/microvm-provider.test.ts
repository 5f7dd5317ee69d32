// The microVM provider. The first tests are pure (options, QEMU's command line, the env file in a real
// shell); the last ones boot real QEMU microVMs (TCG here: this machine's nested KVM cannot run the
// kernel; KVM where the probe boot works) with a real worker agent inside, which reaches a real gRPC
// server on the host only through QEMU's guestfwd. They skip, naming what is missing, on a machine
// without QEMU or the image tools (.ci/run installs them).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { rm } from "node:fs/promises";
import { release } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  GUEST_SERVER_ADDRESS,
  MICROVM_ENV,
  MicrovmProvider,
  microvmOptionsFromEnv,
  type ProviderCommon,
  type WorkerExit,
  type WorkerSpec,
  makeWorkerCodeCache,
  workerCachedLoaderPath,
} from "../src/index.js";
import {
  GUEST_BUNDLE_PATH,
  GUEST_LOADER_PATH,
  GUEST_NODE_FLAGS,
  guestCodeCachePath,
  workerInitScript,
  guestEnvFile,
} from "../src/microvm/guest-init.js";
import { tscKhzFromCpuinfo } from "../src/microvm/host-tsc.js";
import { kernelCommandLine, qemuArgs, splitHostPort } from "../src/microvm/qemu-args.js";
import { vmSizeFor } from "../src/microvm/microvm-provider.js";
import { AgentHarness } from "./microvm-harness.js";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "..");
const common: ProviderCommon = {
  dataDir: "/var/lib/hodei",
  workerBundlePath: join(repo, "packages/worker/dist/hodei-worker.cjs"),
  idleTimeoutMs: 60_000,
  instanceId: "test",
};

test("options: defaults from an empty environment; every variable read is documented", () => {
  const o = microvmOptionsFromEnv({}, common);
  assert.equal(o.accel, "auto");
  assert.equal(o.defaultMemoryMb, 512);
  assert.equal(o.defaultVcpus, 1);
  assert.equal(o.imageDir, "/var/lib/hodei/microvm/images");
  assert.equal(o.kernelPath, undefined);
  const documented = new Set(MICROVM_ENV.map(([name]) => name));
  for (const name of ["HODEI_FC_ENABLED", "HODEI_FC_ACCEL", "HODEI_FC_KERNEL_PATH", "HODEI_FC_ROOTFS_PATH"]) {
    assert.ok(documented.has(name), name);
  }
});

test("options: a bad value is refused naming its variable", () => {
  const bad: [Record<string, string>, RegExp][] = [
    [{ HODEI_FC_ACCEL: "hvf" }, /HODEI_FC_ACCEL/],
    [{ HODEI_FC_MEMORY_MB: "256" }, /HODEI_FC_MEMORY_MB: must be between 512/],
    [{ HODEI_FC_VCPUS: "two" }, /HODEI_FC_VCPUS: expected a whole number/],
    [{ HODEI_FC_KERNEL_PATH: "/k" }, /HODEI_FC_ROOTFS_PATH: must be set together/],
    [{ HODEI_FC_MAX_CONCURRENT_BOOTS: "9", HODEI_FC_MAX_WORKERS: "2" }, /HODEI_FC_MAX_CONCURRENT_BOOTS/],
  ];
  for (const [env, message] of bad) assert.throws(() => microvmOptionsFromEnv(env, common), message);
});

test("QEMU's command line: microvm machine, restricted user network whose one way out is the gRPC forward", () => {
  const args = qemuArgs({
    accel: "tcg",
    kernelPath: "/img/vmlinuz",
    initrdPath: "/img/initrd.lz4",
    nodeDiskPath: "/img,x/node.img",
    vcpus: 2,
    memoryMb: 768,
    name: "hodei-vm:x:w1",
    forwardTo: { host: "127.0.0.1", port: 41234, busyboxPath: "/bin/busybox" },
    envFilePath: "/run/w1/env",
    tscKhz: 2_600_000,
  });
  const after = (flag: string) => args[args.indexOf(flag) + 1];
  assert.equal(after("-M"), "microvm");
  assert.equal(after("-smp"), "2");
  assert.equal(after("-m"), "768");
  assert.equal(
    after("-netdev"),
    "user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:50051-cmd:/bin/busybox nc 127.0.0.1 41234",
  );
  assert.equal(after("-fw_cfg"), "name=opt/hodei/env,file=/run/w1/env");
  // The node disk, read-only (one image file for every VM), its comma doubled as QEMU wants.
  assert.equal(after("-drive"), "file=/img,,x/node.img,if=none,id=node,format=raw,readonly=on");
  assert.equal(after("-device"), "virtio-rng-device");
  assert.ok(args.includes("virtio-blk-device,drive=node"));
  assert.match(after("-append")!, /tsc_early_khz=2600000/);
  assert.equal(GUEST_SERVER_ADDRESS, "10.0.2.100:50051");
  // KVM reads the TSC rate from the hardware; the hint is for TCG only.
  assert.doesNotMatch(kernelCommandLine({ accel: "kvm", tscKhz: 2_600_000 }), /tsc/);
  assert.deepEqual(splitHostPort("[::1]:50051"), { host: "::1", port: 50051 });
  assert.throws(() => splitHostPort("localhost"), /not host:port/);
});

for (const accel of ["kvm", "tcg"] as const) {
  test(`the worker's ${accel} code cache, made as the image build makes it, is accepted by the guest's loader under the ${accel} flags, which then runs the worker`, async () => {
    const dir = mkdtempSync(join(tmpdir(), "hodei-code-cache-"));
    try {
      // The bundle and its loader as the image holds them, at this directory instead of /opt/hodei.
      const bundle = join(dir, "hodei-worker.cjs");
      const loader = join(dir, basename(GUEST_LOADER_PATH));
      const cache = join(dir, "worker.v8cache");
      copyFileSync(common.workerBundlePath, bundle);
      copyFileSync(workerCachedLoaderPath(common.workerBundlePath), loader);
      const flags = GUEST_NODE_FLAGS[accel];
      await makeWorkerCodeCache(process.execPath, flags, loader, cache);
      assert.ok(statSync(cache).size > 100_000, "a cache of the start-up code");
      // As /init runs it: the loader says at debug level whether V8 took the cache, then the worker
      // runs and stops for want of a token.
      const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("HODEI_")));
      const run = (runFlags: readonly string[]) =>
        spawnSync(process.execPath, [...runFlags, loader], {
          encoding: "utf8",
          env: { ...env, LOG_LEVEL: "debug", HODEI_WORKER_CODE_CACHE: cache },
        });
      const ran = run(flags);
      assert.doesNotMatch(ran.stderr, /warning/i, "no warning about the flags");
      assert.match(ran.stderr, /"codeCache":"accepted"/);
      assert.match(ran.stderr, /HODEI_OTP_TOKEN: required/, "the worker itself ran");
      // The other accel's flags reject this cache: each guest must read its own.
      const crossed = run(GUEST_NODE_FLAGS[accel === "kvm" ? "tcg" : "kvm"]);
      assert.match(crossed.stderr, /"codeCache":"rejected"/);
      // /init picks the flags and the cache from the kernel command line.
      assert.match(kernelCommandLine({ accel }), new RegExp(`(^| )hodei\\.accel=${accel}( |$)`));
      assert.ok(workerInitScript().includes(`${GUEST_NODE_FLAGS.tcg.join(" ")}`));
      assert.ok(
        workerInitScript().includes(`HODEI_WORKER_CODE_CACHE=$cache node $flags ${GUEST_LOADER_PATH}`),
      );
      assert.equal(guestCodeCachePath(accel), `${GUEST_BUNDLE_PATH}.${accel}.v8cache`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test("the guest's env file gives back every value unchanged in a real shell, and refuses bad names", () => {
  const values = { A: "plain", B: 'it\'s "quoted" $HOME `x` \\ ;|&', C: "line1\nline2", D: "" };
  const file = guestEnvFile(values);
  const r = spawnSync("sh", ["-c", `${file}\nprintf '%s\\0' "$A" "$B" "$C" "$D"`], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.split("\0").slice(0, 4), Object.values(values));
  assert.throws(() => guestEnvFile({ "A-B": "x" }), /invalid variable name "A-B"/);
  assert.throws(() => guestEnvFile({ A: "x\0y" }), /NUL/);
});

test("a VM's size comes from the job: memory at least 512 MiB, vCPUs at most the host's cores", () => {
  const defaults = { defaultVcpus: 1, defaultMemoryMb: 512 };
  const MiB = 1024 * 1024;
  const size = (cpuCores: number, memoryBytes: number, hostCpus = 8) =>
    vmSizeFor({ cpuCores, memoryBytes, gpuCount: 0 }, defaults, hostCpus);
  assert.deepEqual(size(0, 0), { vcpus: 1, memoryMb: 512 });
  assert.deepEqual(size(0.5, 256 * MiB), { vcpus: 1, memoryMb: 512 });
  assert.deepEqual(size(2.5, 2048 * MiB + 1), { vcpus: 3, memoryMb: 2049 });
  assert.deepEqual(size(16, 0, 2), { vcpus: 2, memoryMb: 512 });
});

test("the host's TSC rate is trusted only on a VM host with a constant TSC", () => {
  const cpu = (flags: string) =>
    `processor\t: 0\ncpu MHz\t\t: 2596.146\nflags\t\t: fpu ${flags}\n\nprocessor\t: 1\n`;
  assert.equal(tscKhzFromCpuinfo(cpu("constant_tsc hypervisor")), 2_596_146);
  assert.equal(tscKhzFromCpuinfo(cpu("constant_tsc")), undefined);
  assert.equal(tscKhzFromCpuinfo(""), undefined);
});

// ---- real microVMs ------------------------------------------------------------------------------

function missingTools(): string[] {
  const missing: string[] = [];
  const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
  for (const [cmd, pkg] of [
    ["qemu-system-x86_64", "qemu-system-x86"],
    ["busybox", "busybox-static"],
    ["cpio", "cpio"],
    ["lz4", "lz4"],
    ["dpkg-deb", "dpkg"],
    ["apt-get", "apt"],
  ]) {
    if (!has(cmd!)) missing.push(`${cmd} (${pkg})`);
  }
  if (!existsSync(common.workerBundlePath)) missing.push(`${common.workerBundlePath} (npm run build)`);
  return missing;
}

const missing = missingTools();
const skip = missing.length ? `needs ${missing.join(", ")}` : false;
/** Built images are cached here across runs: the kernel download and the build happen once. */
const imageDir = process.env.HODEI_TEST_MICROVM_IMAGES ?? join(repo, ".hodei", "microvm-test-images");
const BOOT_DEADLINE_MS = 90_000; // a TCG boot takes ~5 s alone, far more on a 2-core host shared with others

function spec(workerId: string, port: number, otpToken: string): WorkerSpec {
  return {
    workerId,
    otpToken,
    serverAddress: `127.0.0.1:${port}`,
    env: { HODEI_LOG_FLUSH_INTERVAL: "5" },
    resources: { cpuCores: 0, memoryBytes: 0, gpuCount: 0 },
  };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

let provider: MicrovmProvider | undefined;
const dataDir = join(repo, ".hodei", `microvm-test-${process.pid}`);
async function startedProvider(): Promise<MicrovmProvider> {
  if (provider) return provider;
  provider = new MicrovmProvider(
    microvmOptionsFromEnv(
      { HODEI_FC_IMAGE_DIR: imageDir },
      { ...common, dataDir, instanceId: `t${process.pid}` },
    ),
  );
  await provider.init();
  return provider;
}

test.after(async () => {
  await provider?.shutdown();
  await rm(dataDir, { recursive: true, force: true });
});

test(
  "a real microVM boots, its agent registers through guestfwd, and a job's uname -r shows the guest kernel, not the host's; destroy kills QEMU and reports the exit",
  { skip, timeout: 600_000 },
  async () => {
    const p = await startedProvider();
    const health = await p.health();
    assert.equal(health.healthy, true, health.message);
    const accel = p.capabilities().details?.accel;
    assert.ok(accel === "kvm" || accel === "tcg", `details.accel is ${accel}`);
    assert.match(health.details?.["probe.tcg"] ?? health.details?.["probe.kvm"] ?? "", /booted/);
    // Debian's cloud kernel has a PVH entry and an lz4 payload: QEMU boots it uncompressed.
    assert.equal(health.details?.boot, "pvh");

    const harness = await AgentHarness.start((token) => token === "otp-good");
    const exits: WorkerExit[] = [];
    p.onExit((e) => exits.push(e));
    try {
      const created = Date.now();
      const handle = await p.create(spec("mvm-w1", harness.port, "otp-good"));
      assert.ok(Number(handle.ref) > 0, "handle.ref is QEMU's pid");
      assert.equal(p.status(handle), "starting");
      await harness.waitFor(
        () => (harness.connected ? true : undefined),
        "the guest's agent",
        BOOT_DEADLINE_MS,
      );
      const coldMs = Date.now() - created;
      assert.equal(harness.registrations[0]?.authToken, "otp-good");
      assert.equal(harness.registrations[0]?.workerInfo?.workerId, "mvm-w1");
      assert.equal(p.status(handle), "running");

      harness.runJob("uname", "uname -r; [ -f /etc/debian_version ] || echo no-host-fs");
      const result = await harness.waitFor(() => harness.resultOf("uname"), "the job's result", 60_000);
      const lines = harness.linesOf("uname");
      assert.equal(result.exitCode, 0, lines.join("\n"));
      const guestKernel = lines.find((l) => /^\d+\.\d+\.\d+-\S+$/.test(l));
      assert.ok(guestKernel, `no kernel release in ${JSON.stringify(lines)}`);
      assert.equal(guestKernel, health.details?.kernel);
      assert.notEqual(guestKernel, release(), "the job ran on the host's kernel");
      assert.ok(lines.includes("no-host-fs"), "the job saw the host's /etc");
      console.log(
        `# microvm (${accel}): create → agent connected in ${coldMs} ms; guest ${guestKernel}, host ${release()}`,
      );

      await p.destroy(handle);
      assert.equal(p.status(handle), "exited");
      assert.equal(processAlive(Number(handle.ref)), false, "QEMU still runs after destroy");
      await harness.waitFor(() => exits.find((e) => e.handle.workerId === "mvm-w1"), "onExit", 10_000);
    } finally {
      harness.stop();
    }
  },
);

test(
  "a real microVM whose agent is refused powers itself off: the QEMU exit is onExit with the agent's exit code",
  { skip, timeout: 600_000 },
  async () => {
    const p = await startedProvider();
    const harness = await AgentHarness.start(() => false);
    const exits: WorkerExit[] = [];
    p.onExit((e) => exits.push(e));
    try {
      const handle = await p.create(spec("mvm-refused", harness.port, "otp-wrong"));
      const exit = await harness.waitFor(
        () => exits.find((e) => e.handle.workerId === "mvm-refused"),
        "the VM to power off",
        BOOT_DEADLINE_MS,
      );
      assert.equal(harness.registrations[0]?.authToken, "otp-wrong");
      assert.notEqual(exit.code, 0);
      assert.match(exit.reason ?? "", /worker agent exited with code \d+ inside the microVM/);
      assert.equal(p.status(handle), "exited");
      assert.equal(processAlive(Number(handle.ref)), false);
    } finally {
      harness.stop();
    }
  },
);
