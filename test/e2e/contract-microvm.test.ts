// The provider contract (support/provider-contract.ts) against the microVM provider, real QEMU
// (TCG here): workers are QEMU processes named after their control plane's instance. No TCG boot
// registers within 1 s, so that provisioning timeout makes a worker that never registers. Every
// boot costs seconds of a core: the contract starts two servers (each start boots a probe VM), and
// the scenarios boot five worker VMs, three of them killed within a second or so.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { release } from "node:os";
import { join } from "node:path";
import { buildGuestImage } from "@hodei/providers";
import { instanceIdFor } from "./docker-support.js";
import {
  assertMicrovmProvider,
  BOOT_MS,
  imageDir,
  microvmOnly,
  microvmSkip,
  vmsOf,
} from "./microvm-support.js";
import { repoRoot } from "./support/paths.js";
import { isAlive, kill } from "./support/processes.js";
import type { Platform } from "./support/platform.js";
import { runProviderContract } from "./support/provider-contract.js";

runProviderContract(
  "microvm",
  async () => {
    // Built (or found) here so each server's start-up only reuses it.
    await buildGuestImage({
      imageDir,
      workerBundlePath: join(repoRoot, "packages/worker/dist/hodei-worker.cjs"),
    });
    const details = new Map<Platform, Record<string, string>>();
    let lastDataDir = "";
    return {
      env: microvmOnly,
      startMs: BOOT_MS,
      neverRegisters: {
        provisioningTimeoutMs: 1_000,
        skip: async (p) =>
          details.get(p)?.accel === "tcg"
            ? false
            : "under KVM a boot may register within the 1 s this relies on missing",
      },
      whereItRan: {
        command: "uname -r; [ -e /etc/debian_version ] || echo guest-root; cat /proc/$PPID/comm",
        check(lines, p) {
          const kernel = details.get(p)?.kernel ?? "?";
          assert.ok(lines.includes(kernel), `guest kernel ${kernel} not in ${JSON.stringify(lines)}`);
          assert.ok(!lines.includes(release()), "the job saw the host's kernel");
          assert.ok(lines.includes("guest-root"), "the job saw the host's root filesystem");
          assert.ok(
            lines.includes("hodei-spawn"),
            "the guest's worker did not start the job through hodei-spawn",
          );
        },
      },
      async started(p) {
        const d = await assertMicrovmProvider(p);
        assert.ok(d.accel === "tcg" || d.accel === "kvm", `details.accel: ${JSON.stringify(d)}`);
        details.set(p, d);
        lastDataDir = p.dataDir;
      },
      workers: async (dataDir) => vmsOf(dataDir).map(String),
      async remove(pid) {
        kill(Number(pid), "SIGKILL");
      },
      // A stale pid file in the crashed instance's directory naming a process that is not its QEMU
      // (a reused pid): the reaper must leave it alone.
      async foreign() {
        const bystander = spawn("sleep", ["600"], { stdio: "ignore" });
        const stale = join(lastDataDir, "microvm", "vms", `${instanceIdFor(lastDataDir)}.microvm`, "stale");
        mkdirSync(stale, { recursive: true });
        writeFileSync(join(stale, "qemu.pid"), `${bystander.pid}\n`);
        return {
          intact: async () => isAlive(bystander.pid ?? -1),
          remove: async () => bystander.kill("SIGKILL"),
        };
      },
    };
  },
  {
    skip: microvmSkip(),
  },
);
