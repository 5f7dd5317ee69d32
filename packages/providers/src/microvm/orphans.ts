// VMs outlive a control plane that crashed (QEMU is not tied to its parent). Each VM's directory holds
// its pid and the control plane process that started it; the pid is killed only if that control
// plane is gone (a rolling restart on one host runs two of one instance for a while) and the process
// is still the QEMU named for this instance and worker.
import { readFile, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { serverAlive } from "../server-identity.js";

/** QEMU's -name for a worker's VM: visible in `ps`, and how the reaper recognises its own. */
export function vmName(owner: string, workerId: string): string {
  // QEMU reads commas in option values as separators.
  return `hodei-vm:${owner}:${workerId}`.replaceAll(",", "_");
}

async function cmdline(pid: number): Promise<string> {
  return readFile(`/proc/${pid}/cmdline`, "utf8").then(
    (t) => t.replaceAll("\0", " "),
    () => "",
  );
}

/**
 * Kills the QEMU processes left under `ownerDir` by an earlier run of this instance whose control
 * plane process is gone, and removes their directories; returns how many it killed.
 */
export async function reapOrphans(ownerDir: string, owner: string): Promise<number> {
  let killed = 0;
  const entries = await readdir(ownerDir).catch(() => [] as string[]);
  for (const entry of entries) {
    const dir = join(ownerDir, entry);
    const server = await readFile(join(dir, "server"), "utf8").catch(() => undefined);
    if (await serverAlive(server?.trim())) continue; // a live control plane's VM

    const pid = Number((await readFile(join(dir, "qemu.pid"), "utf8").catch(() => "")).trim());
    if (Number.isInteger(pid) && pid > 0) {
      const cmd = await cmdline(pid);
      if (cmd.includes(`-name ${vmName(owner, "")}`)) {
        try {
          process.kill(pid, "SIGKILL");
          killed++;
        } catch {
          // already gone between the read and the kill
        }
      }
    }
    await rm(dir, { recursive: true, force: true });
  }
  return killed;
}
