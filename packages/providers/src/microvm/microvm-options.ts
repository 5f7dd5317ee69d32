import { join } from "node:path";
import type { EnvDoc, ProviderCommon, ProviderLimits } from "../provider.js";

export type AccelChoice = "auto" | "kvm" | "tcg";

export interface MicrovmProviderOptions extends ProviderLimits {
  /** Default "microvm". */
  name?: string;
  /** The QEMU system emulator for x86_64. */
  qemuPath: string;
  /** auto: use KVM when a probe boot succeeds under it, else TCG (software emulation). */
  accel: AccelChoice;
  /** Where built images are cached (one subdirectory per build key). */
  imageDir: string;
  /** A prebuilt kernel and initramfs; both unset: build (or reuse) one from the worker bundle. */
  kernelPath?: string;
  initrdPath?: string;
  /** The bundled worker agent copied into the image. */
  workerBundlePath: string;
  /** Per-VM files (console log, pid file, env) live under `<runDir>/<instanceId>.<name>/<workerId>`. */
  runDir: string;
  instanceId: string;
  /** See ProviderCommon.serverIdentity; default this process's. */
  serverIdentity?: string;
  /** vCPUs and memory of a worker whose job asks for less (memory never below MIN_GUEST_MEMORY_MB). */
  defaultVcpus: number;
  defaultMemoryMb: number;
  /** Longest a KVM probe boot may take before KVM is judged not to work. */
  kvmProbeTimeoutMs: number;
}

/**
 * Set when the initramfs held node (256 MiB could not hold its ~105 MB unpacked plus the guest's page
 * cache and node's heap). Node now comes from a disk, read into the page cache as it is used; a
 * smaller guest has not been measured since, so the floor stays.
 */
export const MIN_GUEST_MEMORY_MB = 512;

export const MICROVM_ENV: readonly EnvDoc[] = [
  ["HODEI_FC_ENABLED", "0", "1 enables the microVM provider (a QEMU `microvm` machine per worker)"],
  ["HODEI_FC_QEMU_PATH", "qemu-system-x86_64", "QEMU system emulator that runs the microVMs"],
  ["HODEI_FC_ACCEL", "auto", "auto (KVM if a probe boot works under it, else TCG), kvm or tcg"],
  [
    "HODEI_FC_IMAGE_DIR",
    "<data dir>/microvm/images",
    "cache of built guest images (kernel + initramfs), one directory per build",
  ],
  [
    "HODEI_FC_KERNEL_PATH",
    "(built)",
    "guest kernel (bzImage); with HODEI_FC_ROOTFS_PATH, skips building an image",
  ],
  [
    "HODEI_FC_ROOTFS_PATH",
    "(built)",
    "guest initramfs (lz4 cpio) as `hodei microvm build-image` makes it, with its node.img beside it; needs HODEI_FC_KERNEL_PATH",
  ],
  ["HODEI_FC_MAX_WORKERS", "2", "most microVMs at once"],
  ["HODEI_FC_MAX_CONCURRENT_BOOTS", "1", "most microVMs booting at once (a TCG boot keeps a core busy)"],
  ["HODEI_FC_VCPUS", "1", "vCPUs of a VM whose job asks for fewer"],
  ["HODEI_FC_MEMORY_MB", "512", "memory (MiB) of a VM whose job asks for less; at least 512"],
  ["HODEI_FC_KVM_PROBE_TIMEOUT", "20000", "ms a KVM probe boot may take at start before falling back to TCG"],
];

function wholeNumber(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number) {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d+$/.test(raw)) throw new Error(`${name}: expected a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new Error(`${name}: must be between ${min} and ${max}, got ${n}`);
  return n;
}

function text(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name]?.trim();
  return v ? v : undefined;
}

/** The provider's options from the environment; throws an Error naming the variable on a bad value. */
export function microvmOptionsFromEnv(
  env: NodeJS.ProcessEnv,
  common: ProviderCommon,
): MicrovmProviderOptions {
  const accel = text(env, "HODEI_FC_ACCEL") ?? "auto";
  if (accel !== "auto" && accel !== "kvm" && accel !== "tcg") {
    throw new Error(`HODEI_FC_ACCEL: expected auto, kvm or tcg, got "${accel}"`);
  }
  const kernelPath = text(env, "HODEI_FC_KERNEL_PATH");
  const initrdPath = text(env, "HODEI_FC_ROOTFS_PATH");
  if ((kernelPath === undefined) !== (initrdPath === undefined)) {
    throw new Error(
      `${kernelPath ? "HODEI_FC_ROOTFS_PATH" : "HODEI_FC_KERNEL_PATH"}: must be set together with ` +
        `${kernelPath ? "HODEI_FC_KERNEL_PATH" : "HODEI_FC_ROOTFS_PATH"} (or leave both unset to build an image)`,
    );
  }
  const maxWorkers = wholeNumber(env, "HODEI_FC_MAX_WORKERS", 2, 1, 1024);
  return {
    qemuPath: text(env, "HODEI_FC_QEMU_PATH") ?? "qemu-system-x86_64",
    accel,
    imageDir: text(env, "HODEI_FC_IMAGE_DIR") ?? join(common.dataDir, "microvm", "images"),
    kernelPath,
    initrdPath,
    workerBundlePath: common.workerBundlePath,
    runDir: join(common.dataDir, "microvm", "vms"),
    instanceId: common.instanceId,
    ...(common.serverIdentity ? { serverIdentity: common.serverIdentity } : {}),
    maxWorkers,
    maxConcurrentProvisionings: wholeNumber(env, "HODEI_FC_MAX_CONCURRENT_BOOTS", 1, 1, maxWorkers),
    idleTimeoutMs: common.idleTimeoutMs,
    defaultVcpus: wholeNumber(env, "HODEI_FC_VCPUS", 1, 1, 64),
    defaultMemoryMb: wholeNumber(
      env,
      "HODEI_FC_MEMORY_MB",
      MIN_GUEST_MEMORY_MB,
      MIN_GUEST_MEMORY_MB,
      1 << 20,
    ),
    kvmProbeTimeoutMs: wholeNumber(env, "HODEI_FC_KVM_PROBE_TIMEOUT", 20_000, 1_000, 600_000),
  };
}
