// The guest kernel: Debian's cloud kernel (small, virtio drivers as modules), taken from its .deb
// with apt-get download + dpkg-deb -x, so nothing under /boot changes and no root filesystem is needed.
import { createHash } from "node:crypto";
import { copyFile, mkdir, mkdtemp, readdir, rename, rm, stat, writeFile, readFile } from "node:fs/promises";
import { join } from "node:path";
import { runChecked } from "./run-command.js";

/** Modules the guest loads with insmod, in dependency order: virtio-mmio transport, the block device
 * node is read from, networking, fw_cfg (the channel the worker's environment arrives on) and the
 * entropy device. */
export const GUEST_MODULES = [
  { name: "virtio_ring", path: "drivers/virtio/virtio_ring.ko" },
  { name: "virtio", path: "drivers/virtio/virtio.ko" },
  { name: "virtio_mmio", path: "drivers/virtio/virtio_mmio.ko" },
  { name: "virtio_blk", path: "drivers/block/virtio_blk.ko" },
  { name: "failover", path: "net/core/failover.ko" },
  { name: "net_failover", path: "drivers/net/net_failover.ko" },
  { name: "virtio_net", path: "drivers/net/virtio_net.ko" },
  { name: "qemu_fw_cfg", path: "drivers/firmware/qemu_fw_cfg.ko" },
  { name: "virtio-rng", path: "drivers/char/hw_random/virtio-rng.ko" },
] as const;

export const DEBIAN_KERNEL_METAPACKAGE = "linux-image-cloud-amd64";

export interface GuestKernel {
  /** e.g. 6.1.0-56-cloud-amd64 */
  release: string;
  vmlinuzPath: string;
  /** Directory holding `<name>.ko` for every GUEST_MODULES entry. */
  modulesDir: string;
}

/** The versioned package the metapackage currently depends on, from apt's lists. */
export async function resolveKernelPackage(): Promise<string> {
  const out = await runChecked("apt-cache", ["depends", "--no-recommends", DEBIAN_KERNEL_METAPACKAGE]).catch(
    (err: Error) => {
      throw new Error(
        `cannot resolve ${DEBIAN_KERNEL_METAPACKAGE} (${err.message}); on Debian run apt-get update, ` +
          `or give a kernel package with --kernel-deb`,
      );
    },
  );
  const m = /Depends:\s*(linux-image-[0-9][^\s]*-cloud-amd64)\b/.exec(out);
  if (!m?.[1])
    throw new Error(`apt-cache names no kernel package for ${DEBIAN_KERNEL_METAPACKAGE}: ${out.trim()}`);
  return m[1];
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Unpacks a linux-image .deb and keeps only the kernel and the guest's modules under `destDir`. */
export async function extractKernelDeb(debPath: string, destDir: string): Promise<GuestKernel> {
  const work = await mkdtemp(`${destDir}.unpack-`);
  try {
    await runChecked("dpkg-deb", ["-x", debPath, work]);
    const releases = await readdir(join(work, "lib", "modules")).catch(() => []);
    const release = releases[0];
    if (!release || releases.length !== 1) {
      throw new Error(`${debPath}: expected one kernel under lib/modules, found ${releases.length}`);
    }
    const staged = `${destDir}.tmp-${process.pid}`;
    await rm(staged, { recursive: true, force: true });
    await mkdir(join(staged, "modules"), { recursive: true });
    await copyFile(join(work, "boot", `vmlinuz-${release}`), join(staged, "vmlinuz"));
    for (const m of GUEST_MODULES) {
      const from = join(work, "lib", "modules", release, "kernel", m.path);
      if (!(await exists(from))) throw new Error(`${debPath}: kernel ${release} has no module ${m.path}`);
      await copyFile(from, join(staged, "modules", `${m.name}.ko`));
    }
    await writeFile(join(staged, "release"), `${release}\n`);
    // Another process may have unpacked the same package meanwhile: the first one in stays (never
    // removed under a reader's feet), and this copy is dropped.
    await rename(staged, destDir).catch(async (err: NodeJS.ErrnoException) => {
      await rm(staged, { recursive: true, force: true });
      if (err.code !== "ENOTEMPTY" && err.code !== "EEXIST") throw err;
    });
    return kernelAt(destDir, release);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function hasModules(modulesDir: string): Promise<boolean> {
  for (const m of GUEST_MODULES) if (!(await exists(join(modulesDir, `${m.name}.ko`)))) return false;
  return true;
}

/** The modules a kernel directory holds, in its name: one unpacked for other modules is not reused. */
export function kernelDirName(base: string): string {
  const modules = createHash("sha256")
    .update(GUEST_MODULES.map((m) => m.path).join("\n"))
    .digest("hex")
    .slice(0, 8);
  return `${base}-m${modules}`;
}

function kernelAt(dir: string, release: string): GuestKernel {
  return { release, vmlinuzPath: join(dir, "vmlinuz"), modulesDir: join(dir, "modules") };
}

/** A kernel unpacked earlier under `kernelsDir`, newest name first; undefined when there is none. */
export async function cachedKernel(kernelsDir: string): Promise<GuestKernel | undefined> {
  const names = (await readdir(kernelsDir).catch(() => [] as string[]))
    .filter((n) => !n.startsWith(".") && !n.includes(".tmp-") && !n.includes(".unpack-"))
    .sort()
    .reverse();
  for (const name of names) {
    const dir = join(kernelsDir, name);
    const release = (await readFile(join(dir, "release"), "utf8").catch(() => "")).trim();
    // Unpacked when the guest needed fewer modules: not this guest's kernel.
    if (release && (await hasModules(join(dir, "modules")))) return kernelAt(dir, release);
  }
  return undefined;
}

/**
 * The guest kernel: from `debPath` when given, else a cached one, else Debian's current cloud kernel
 * fetched with apt-get download (needs apt's lists and the Debian mirror).
 */
export async function obtainKernel(kernelsDir: string, debPath?: string): Promise<GuestKernel> {
  await mkdir(kernelsDir, { recursive: true });
  if (debPath) {
    const name =
      debPath
        .split("/")
        .pop()
        ?.replace(/\.deb$/, "") ?? "kernel";
    return extractKernelDeb(debPath, join(kernelsDir, kernelDirName(name)));
  }
  const cached = await cachedKernel(kernelsDir);
  if (cached) return cached;
  const pkg = await resolveKernelPackage();
  const download = await mkdtemp(join(kernelsDir, ".download-"));
  try {
    await runChecked("apt-get", ["download", "-q", pkg], { cwd: download, timeoutMs: 300_000 });
    const deb = (await readdir(download)).find((f) => f.endsWith(".deb"));
    if (!deb) throw new Error(`apt-get download ${pkg} left no .deb`);
    return await extractKernelDeb(join(download, deb), join(kernelsDir, kernelDirName(pkg)));
  } finally {
    await rm(download, { recursive: true, force: true });
  }
}
