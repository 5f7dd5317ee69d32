// Does KVM really work here? /dev/kvm can exist under a nested hypervisor that cannot run a stock
// kernel (the boot dies with a KVM error or hangs), so the only honest answer is a boot.
import { constants } from "node:fs";
import { access } from "node:fs/promises";
import { MARK_PROBE_OK, MARK_WORKER_STARTING } from "./guest-init.js";
import { qemuArgs, type Accel } from "./qemu-args.js";
import { VmProcess } from "./vm-process.js";
import type { AccelChoice } from "./microvm-options.js";

export interface ProbeResult {
  ok: boolean;
  ms: number;
  detail: string;
}

export interface AccelDecision {
  accel: Accel;
  /** What was tried and why this one, for health and capabilities. */
  note: string;
  probes: Partial<Record<Accel, ProbeResult>>;
}

export async function kvmDeviceUsable(): Promise<boolean> {
  return access("/dev/kvm", constants.R_OK | constants.W_OK).then(
    () => true,
    () => false,
  );
}

/** Boots the probe initramfs under `accel` and waits for its marker line, at most `timeoutMs`. */
export async function bootProbe(
  qemuPath: string,
  accel: Accel,
  kernelPath: string,
  probeInitrdPath: string,
  timeoutMs: number,
  tscKhz?: number,
): Promise<ProbeResult> {
  const started = Date.now();
  const vm = new VmProcess(
    qemuPath,
    qemuArgs({
      accel,
      kernelPath,
      initrdPath: probeInitrdPath,
      vcpus: 1,
      memoryMb: 256,
      name: `hodei-probe-${accel}-${process.pid}`,
      tscKhz,
    }),
  );
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no boot within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    // A given (not built) image has no probe initramfs: its worker /init reaching user space counts.
    const line = await Promise.race([
      vm.waitForLine((l) => l.includes(MARK_PROBE_OK) || l.includes(MARK_WORKER_STARTING)),
      timeout,
    ]);
    return { ok: true, ms: Date.now() - started, detail: line.trim() };
  } catch (err) {
    return { ok: false, ms: Date.now() - started, detail: (err as Error).message };
  } finally {
    clearTimeout(timer);
    vm.kill("SIGKILL");
    await vm.exited;
  }
}

/**
 * auto: KVM when /dev/kvm is usable and a probe boot succeeds under it, else TCG (also probed, so a
 * broken QEMU or kernel shows at start). kvm / tcg: that one only, and it must boot.
 */
export async function chooseAccel(
  choice: AccelChoice,
  qemuPath: string,
  kernelPath: string,
  probeInitrdPath: string,
  kvmProbeTimeoutMs: number,
  tscKhz?: number,
): Promise<AccelDecision> {
  const probes: AccelDecision["probes"] = {};
  let kvmNote = "";
  if (choice !== "tcg") {
    if (await kvmDeviceUsable()) {
      const kvm = await bootProbe(qemuPath, "kvm", kernelPath, probeInitrdPath, kvmProbeTimeoutMs);
      probes.kvm = kvm;
      if (kvm.ok) return { accel: "kvm", note: `KVM boot probe succeeded in ${kvm.ms} ms`, probes };
      kvmNote = `KVM boot probe failed (${kvm.detail})`;
    } else {
      kvmNote = "/dev/kvm is missing or not read-writable";
    }
    if (choice === "kvm") throw new Error(`HODEI_FC_ACCEL=kvm but ${kvmNote}`);
  } else {
    kvmNote = "HODEI_FC_ACCEL=tcg";
  }
  // TCG is slower to boot: give it more room than the KVM probe, which only has to fail or succeed.
  // One retry: a TCG boot without a known TSC rate can hang in calibration now and then (host-tsc.ts).
  const tcgTimeoutMs = Math.max(kvmProbeTimeoutMs, 30_000);
  let tcg = await bootProbe(qemuPath, "tcg", kernelPath, probeInitrdPath, tcgTimeoutMs, tscKhz);
  if (!tcg.ok) tcg = await bootProbe(qemuPath, "tcg", kernelPath, probeInitrdPath, tcgTimeoutMs, tscKhz);
  probes.tcg = tcg;
  if (!tcg.ok)
    throw new Error(`microvm: no usable accelerator: ${kvmNote}; TCG boot probe failed (${tcg.detail})`);
  return { accel: "tcg", note: `software emulation (TCG): ${kvmNote}`, probes };
}
