// Builds the guest image: Debian's cloud kernel, an lz4 initramfs holding busybox, bash, the libraries
// they and node link, the worker bundle, the guest modules and /init, and a read-only disk holding
// node itself. Cached per build key.
import { createHash } from "node:crypto";
import {
  chmod,
  copyFile,
  mkdir,
  mkdtemp,
  readFile,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from "node:fs/promises";
import { dirname, join } from "node:path";
import { GUEST_MODULES, obtainKernel, type GuestKernel } from "./debian-kernel.js";
import {
  GUEST_BUNDLE_PATH,
  GUEST_SPAWN_HELPER_PATH,
  GUEST_LOADER_PATH,
  GUEST_NODE_FLAGS,
  GUEST_NODE_MOUNT,
  guestCodeCachePath,
  probeInitScript,
  workerInitScript,
} from "./guest-init.js";
import { extractPvhKernel } from "./pvh-kernel.js";
import { runChecked, runCommand, which } from "./run-command.js";
import { sha256File } from "../file-hash.js";
import { makeWorkerCodeCache, workerCachedLoaderPath } from "../worker-code-cache.js";

/** Bump when the image's layout changes in a way the inputs' hashes do not show. */
const IMAGE_FORMAT = 6;

export interface GuestImage {
  dir: string;
  key: string;
  kernelPath: string;
  initrdPath: string;
  /** The read-only disk holding node (see GUEST_NODE_MOUNT). */
  nodeDiskPath: string;
  /** A tiny initramfs (busybox and a probe /init) for the acceleration probe. */
  probeInitrdPath: string;
  kernelRelease: string;
  /** False when an earlier build was reused. */
  built: boolean;
}

export interface BuildImageOptions {
  imageDir: string;
  workerBundlePath: string;
  /** A linux-image-*-cloud-amd64 .deb to use instead of fetching one with apt-get. */
  kernelDeb?: string;
  /** The node binary to put in the guest (default: the one running this). */
  nodePath?: string;
  /** Build even when a cached image with the same key exists. */
  force?: boolean;
  log?: (line: string) => void;
}

interface Manifest {
  key: string;
  kernelRelease: string;
  /** vmlinux (uncompressed, PVH entry) when it could be extracted, else vmlinuz. */
  kernelFile: KernelFile;
  builtAt: string;
  inputs: Record<string, string>;
}

async function fileExists(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
}

/** path, size and mtime: enough to notice an upgraded binary without hashing 100 MB at every start. */
async function fileStamp(path: string): Promise<string> {
  const s = await stat(path);
  return `${path}:${s.size}:${Math.trunc(s.mtimeMs)}`;
}

/** Shared libraries `binary` loads, as absolute paths (none for a static binary). */
export async function sharedLibraries(binary: string): Promise<string[]> {
  const r = await runCommand("ldd", [binary]);
  if (r.code !== 0) {
    if (/not a dynamic executable|statically linked/.test(r.stdout + r.stderr)) return [];
    throw new Error(`ldd ${binary} failed: ${(r.stderr || r.stdout).trim()}`);
  }
  const libs = new Set<string>();
  for (const line of r.stdout.split("\n")) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m?.[1]) libs.add(m[1]);
  }
  return [...libs];
}

async function requireTool(name: string, pkg: string): Promise<string> {
  const path = await which(name);
  if (!path) throw new Error(`microvm image: ${name} not found (Debian package ${pkg})`);
  return path;
}

async function copyInto(root: string, from: string, to: string, mode?: number): Promise<void> {
  const dest = join(root, to);
  await mkdir(dirname(dest), { recursive: true });
  await copyFile(from, dest);
  if (mode !== undefined) await chmod(dest, mode);
}

async function addBinaryWithLibraries(root: string, from: string, to: string, done: Set<string>) {
  await copyInto(root, from, to, 0o755);
  await addLibraries(root, from, done);
}

async function addLibraries(root: string, binary: string, done: Set<string>) {
  for (const lib of await sharedLibraries(binary)) {
    if (done.has(lib)) continue;
    done.add(lib);
    await copyInto(root, lib, lib, 0o755);
  }
}

async function addBusybox(root: string, busybox: string): Promise<void> {
  await copyInto(root, busybox, "/bin/busybox", 0o755);
  const applets = (await runChecked(busybox, ["--list-full"])).split("\n").filter(Boolean);
  for (const applet of applets) {
    const dest = join(root, applet);
    if (
      await stat(dest).then(
        () => true,
        () => false,
      )
    )
      continue;
    await mkdir(dirname(dest), { recursive: true });
    await symlink("/bin/busybox", dest);
  }
}

/** The node disk's file name in an image directory, beside the initramfs. */
export const NODE_DISK_FILE = "node.img";

/** A read-only ext4 image holding `node` alone, with room for the filesystem's own blocks. */
async function makeNodeDisk(node: string, out: string): Promise<void> {
  const dir = await mkdtemp(`${out}.root-`);
  try {
    await copyInto(dir, node, "/node", 0o755);
    const mb = Math.ceil(((await stat(node)).size * 1.05) / 2 ** 20) + 8;
    // No journal: nothing ever writes to it. -d fills it from a directory, as an unprivileged user can.
    await runChecked(
      "mke2fs",
      ["-q", "-t", "ext4", "-O", "^has_journal", "-L", "hodei-node", "-d", dir, "-F", out, `${mb}M`],
      {
        timeoutMs: 120_000,
      },
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function packInitramfs(root: string, out: string): Promise<void> {
  // Sorted names and root ownership, so equal inputs give an equal archive whoever builds it.
  await runChecked(
    "bash",
    [
      "-c",
      'set -euo pipefail; cd "$1"; find . -print | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 | lz4 -l -q -1 > "$2"',
      "pack",
      root,
      out,
    ],
    { timeoutMs: 300_000 },
  );
}

async function baseLayout(root: string): Promise<void> {
  for (const d of ["proc", "sys", "dev", "tmp", "run", "root", "etc", "usr/bin", "usr/sbin"]) {
    await mkdir(join(root, d), { recursive: true });
  }
  await writeFile(join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/bash\n");
  await writeFile(join(root, "etc/group"), "root:x:0:\n");
  await writeFile(join(root, "etc/hosts"), "127.0.0.1 localhost\n");
}

type KernelFile = "vmlinux" | "vmlinuz";

/** Builds the image's files in `staging`; returns which kernel file QEMU is to boot. */
async function buildInto(
  staging: string,
  kernel: GuestKernel,
  tools: Record<string, string>,
  bundle: string,
): Promise<KernelFile> {
  const root = join(staging, "root");
  const libs = new Set<string>();
  await baseLayout(root);
  await addBinaryWithLibraries(root, tools.bash!, "/bin/bash", libs);
  // node on a disk of its own, its libraries in the initramfs (see GUEST_NODE_MOUNT).
  await addLibraries(root, tools.node!, libs);
  await mkdir(join(root, GUEST_NODE_MOUNT), { recursive: true });
  await symlink(`${GUEST_NODE_MOUNT}/node`, join(root, "usr/bin/node"));
  await makeNodeDisk(tools.node!, join(staging, NODE_DISK_FILE));
  await addBusybox(root, tools.busybox!);
  for (const m of GUEST_MODULES) {
    await copyInto(root, join(kernel.modulesDir, `${m.name}.ko`), `/lib/modules/hodei/${m.name}.ko`);
  }
  await copyInto(root, bundle, GUEST_BUNDLE_PATH);
  if (tools.spawnHelper) await addBinaryWithLibraries(root, tools.spawnHelper, GUEST_SPAWN_HELPER_PATH, libs);
  await copyInto(root, workerCachedLoaderPath(bundle), GUEST_LOADER_PATH);
  // The code caches, made by the very node binary the guest gets, one per set of flags the agent
  // may run under: V8 rejects a cache made under other flags.
  for (const accel of ["kvm", "tcg"] as const) {
    await makeWorkerCodeCache(
      tools.node!,
      GUEST_NODE_FLAGS[accel],
      join(root, GUEST_LOADER_PATH),
      join(root, guestCodeCachePath(accel)),
    );
  }
  await writeFile(join(root, "init"), workerInitScript(), { mode: 0o755 });
  await packInitramfs(root, join(staging, "initrd.lz4"));

  const probe = join(staging, "probe-root");
  await mkdir(join(probe, "bin"), { recursive: true });
  await copyInto(probe, tools.busybox!, "/bin/busybox", 0o755);
  for (const applet of ["sh", "uname", "poweroff"]) await symlink("busybox", join(probe, "bin", applet));
  await writeFile(join(probe, "init"), probeInitScript(), { mode: 0o755 });
  await packInitramfs(probe, join(staging, "probe.lz4"));

  await copyFile(kernel.vmlinuzPath, join(staging, "vmlinuz"));
  const vmlinux = await extractPvhKernel(await readFile(kernel.vmlinuzPath));
  if (vmlinux) await writeFile(join(staging, "vmlinux"), vmlinux);
  await rm(root, { recursive: true, force: true });
  await rm(probe, { recursive: true, force: true });
  return vmlinux ? "vmlinux" : "vmlinuz";
}

function imageAt(
  dir: string,
  key: string,
  kernelRelease: string,
  kernelFile: KernelFile,
  built: boolean,
): GuestImage {
  return {
    dir,
    key,
    kernelPath: join(dir, kernelFile),
    initrdPath: join(dir, "initrd.lz4"),
    nodeDiskPath: join(dir, NODE_DISK_FILE),
    probeInitrdPath: join(dir, "probe.lz4"),
    kernelRelease,
    built,
  };
}

/**
 * The guest image for this worker bundle, built when no cached build has the same inputs.
 * Needs: busybox (busybox-static), bash, cpio, lz4, mke2fs (e2fsprogs), ldd, and for the kernel
 * dpkg-deb and apt-get.
 */
export async function buildGuestImage(opts: BuildImageOptions): Promise<GuestImage> {
  const log = opts.log ?? (() => {});
  const tools: Record<string, string> = {
    busybox: await requireTool("busybox", "busybox-static"),
    bash: await requireTool("bash", "bash"),
    node: opts.nodePath ?? process.execPath,
  };
  // hodei-spawn, built next to the bundle: the guest's worker starts jobs through it (without it, through
  // Node's spawn, which under software emulation costs far more per job).
  const spawnHelper = join(dirname(opts.workerBundlePath), "hodei-spawn");
  if (await fileExists(spawnHelper)) tools.spawnHelper = spawnHelper;
  await requireTool("cpio", "cpio");
  await requireTool("lz4", "lz4");
  await requireTool("mke2fs", "e2fsprogs");
  await stat(opts.workerBundlePath).catch(() => {
    throw new Error(`microvm image: worker bundle ${opts.workerBundlePath} not found (run npm run build)`);
  });
  const kernel = await obtainKernel(join(opts.imageDir, "kernels"), opts.kernelDeb);
  const inputs: Record<string, string> = {
    format: String(IMAGE_FORMAT),
    kernel: kernel.release,
    init: createHash("sha256")
      .update(workerInitScript())
      .update(probeInitScript())
      .update(JSON.stringify(GUEST_NODE_FLAGS))
      .digest("hex"),
    bundle: await sha256File(opts.workerBundlePath),
    loader: await sha256File(workerCachedLoaderPath(opts.workerBundlePath)),
  };
  for (const [name, path] of Object.entries(tools)) inputs[name] = await fileStamp(path);
  const key = createHash("sha256").update(JSON.stringify(inputs)).digest("hex").slice(0, 16);
  const dir = join(opts.imageDir, key);

  if (!opts.force) {
    const manifest = await readFile(join(dir, "manifest.json"), "utf8").then(
      (t) => JSON.parse(t) as Manifest,
      () => undefined,
    );
    if (manifest?.key === key) return imageAt(dir, key, manifest.kernelRelease, manifest.kernelFile, false);
  }
  log(`building microVM image ${key} (kernel ${kernel.release}) in ${dir}`);
  await mkdir(opts.imageDir, { recursive: true });
  const staging = await mkdtemp(join(opts.imageDir, ".build-"));
  let kernelFile: KernelFile;
  try {
    kernelFile = await buildInto(staging, kernel, tools, opts.workerBundlePath);
    const manifest: Manifest = {
      key,
      kernelRelease: kernel.release,
      kernelFile,
      builtAt: new Date().toISOString(),
      inputs,
    };
    await writeFile(join(staging, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
    // A forced rebuild replaces the old image (VMs running from it keep their open files).
    if (opts.force) await rm(dir, { recursive: true, force: true });
    // Two builders racing both produce a complete image with the same inputs: the first one in stays.
    await rename(staging, dir).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOTEMPTY" && err.code !== "EEXIST") throw err;
    });
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return imageAt(dir, key, kernel.release, kernelFile, true);
}
