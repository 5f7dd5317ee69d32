// MicroVM provider specifics through the CLI (real QEMU): `hodei microvm build-image` reuses the
// cached guest image and --probe boots it to tell the accelerator (TCG on this machine, whose
// nested KVM cannot run the kernel); a bad kernel package is a clear error. Workers through the
// control plane (create → register → job → logs → idle destroy, provisioning timeout, cancel while
// booting, crash reaping) are the provider contract's: contract-microvm.test.ts.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildGuestImage } from "@hodei/providers";
import { BOOT_MS, imageDir, microvmSkip } from "./microvm-support.js";
import { runCli } from "./support/cli.js";
import { repoRoot } from "./support/paths.js";

describe("microVM image and probe through the CLI (real QEMU)", { skip: microvmSkip() }, () => {
  const scratch = mkdtempSync(join(tmpdir(), "hodei-e2e-microvm-"));

  before(async () => {
    // Built (or found) here, so that the CLI below finds it cached.
    await buildGuestImage({
      imageDir,
      workerBundlePath: join(repoRoot, "packages/worker/dist/hodei-worker.cjs"),
    });
  });

  after(() => rmSync(scratch, { recursive: true, force: true }));

  test("hodei microvm build-image reuses the cached image, --probe boots it to tell the accelerator, a bad kernel package is a clear error", async () => {
    const r = await runCli(["-o", "json", "microvm", "build-image", "--dir", imageDir, "--probe"], BOOT_MS);
    assert.equal(r.code, 0, r.stderr);
    const facts = JSON.parse(r.stdout) as Record<string, string>;
    assert.equal(facts.built, "earlier (cached)");
    assert.match(facts.kernelRelease ?? "", /^\d+\.\d+\.\d+-\d+-cloud-amd64$/);
    assert.ok(facts.accel === "tcg" || facts.accel === "kvm", JSON.stringify(facts));
    // node rides on a read-only disk of its own beside the initramfs, which no longer holds it.
    assert.equal(facts.nodeDisk, join(facts.image!, "node.img"));
    assert.ok(statSync(facts.nodeDisk).size > statSync(process.execPath).size);
    assert.ok(statSync(facts.initramfs!).size < 20 * 2 ** 20, "an initramfs without node");

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
});
