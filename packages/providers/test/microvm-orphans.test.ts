// Start-up reaping of microVMs, with stand-in QEMU processes (a bash whose command line carries the
// VM's -name, as QEMU's does): no VM needs to boot to tell whose a VM directory is.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { reapOrphans, vmName } from "../src/microvm/orphans.js";
import { ownServerIdentity } from "../src/server-identity.js";

function standInQemu(name: string): ChildProcess {
  // `; :` keeps bash from exec'ing sleep, so the process keeps this command line.
  return spawn("/bin/bash", ["-c", "sleep 30; :", "-name", name], { stdio: "ignore" });
}

function alive(p: ChildProcess): boolean {
  return p.exitCode === null && p.signalCode === null;
}

test("start-up reaping kills the VMs of a control plane that is gone and keeps a live one's (a rolling restart on one host)", async () => {
  const owner = "inst.microvm";
  const ownerDir = mkdtempSync(join(tmpdir(), "hodei-vm-orphans-"));
  const dead = standInQemu(vmName(owner, "w-dead"));
  const live = standInQemu(vmName(owner, "w-live"));
  const old = standInQemu(vmName(owner, "w-old"));
  try {
    const vm = (worker: string, pid: number | undefined, server?: string): string => {
      const dir = join(ownerDir, worker);
      mkdirSync(dir);
      writeFileSync(join(dir, "qemu.pid"), `${pid}\n`);
      if (server !== undefined) writeFileSync(join(dir, "server"), server);
      return dir;
    };
    const deadDir = vm("w-dead", dead.pid, "999999999:12345"); // no such process
    const liveDir = vm("w-live", live.pid, ownServerIdentity()); // this very process
    const oldDir = vm("w-old", old.pid); // written before VMs named their control plane
    await new Promise((r) => setTimeout(r, 100)); // the stand-ins have exec'd bash

    assert.equal(await reapOrphans(ownerDir, owner), 2);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(alive(dead), false);
    assert.equal(alive(old), false);
    assert.equal(alive(live), true, "a live control plane's VM is left running");
    assert.equal(existsSync(deadDir), false);
    assert.equal(existsSync(oldDir), false);
    assert.equal(existsSync(join(liveDir, "qemu.pid")), true);
  } finally {
    for (const p of [dead, live, old]) p.kill("SIGKILL");
    rmSync(ownerDir, { recursive: true, force: true });
  }
});
