// What the microVM end-to-end tests share: whether this machine can run them, the guest image
// directory (shared with the provider's own tests: the kernel download and the image build happen
// once), the QEMU processes of a given control plane, and the provider's health as the server shows it.
import { spawnSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { instanceIdFor } from "./docker-support.js";
import { repoRoot } from "./support/paths.js";
import { readCmdline } from "./support/processes.js";
import type { Platform } from "./support/platform.js";

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

/** A reason to skip (a tool is missing), or false. */
export function microvmSkip(): string | false {
  const missing = missingTools();
  return missing.length ? `needs ${missing.join(", ")}` : false;
}

export const imageDir =
  process.env.HODEI_TEST_MICROVM_IMAGES ?? join(repoRoot, ".hodei", "microvm-test-images");
export const microvmOnly = { HODEI_FC_ENABLED: "1", HODEI_LOCAL_ENABLED: "0", HODEI_FC_IMAGE_DIR: imageDir };
/** A TCG boot alone takes ~5 s on a quiet machine, several times that on a busy 2-core one. */
export const BOOT_MS = 120_000;

/** pids of this machine's QEMU processes running microVMs of the control plane on `dataDir`. */
export function vmsOf(dataDir: string): number[] {
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

/** The microvm provider's capabilities (accel, kernel, ...); fails unless it is there and healthy. */
export async function assertMicrovmProvider(platform: Platform): Promise<Record<string, string>> {
  const res = await fetch(`${platform.httpUrl}/api/providers`);
  const body = (await res.json()) as {
    providers?: { type: string; healthy: boolean; health?: string; capabilities?: Record<string, string> }[];
  };
  const p = body.providers?.find((x) => x.type === "microvm");
  if (!p) throw new Error(`the server started no microvm provider: ${JSON.stringify(body)}`);
  if (!p.healthy) throw new Error(`the microvm provider is unhealthy: ${p.health}`);
  return p.capabilities ?? {};
}
