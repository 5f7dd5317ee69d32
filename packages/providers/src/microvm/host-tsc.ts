// Under TCG the guest reads the host's TSC, and the kernel's PIT-based calibration of it is timing
// dependent: on a loaded 2-core host 3 boots in 5 hung at "tsc: Unable to calibrate against PIT".
// Telling the kernel the rate (tsc_early_khz) made 5 in 5 boot.
import { readFile } from "node:fs/promises";

/**
 * The host's TSC rate in kHz when the host is itself a VM (flag `hypervisor`) with a constant TSC:
 * there `cpu MHz` is the rate the hypervisor reports. On bare metal `cpu MHz` follows frequency
 * scaling and would make the guest's clock run fast or slow, so there the answer is undefined.
 */
export function tscKhzFromCpuinfo(cpuinfo: string): number | undefined {
  const first = cpuinfo.split(/\n\s*\n/)[0] ?? "";
  const flags = /^flags\s*:\s*(.*)$/m.exec(first)?.[1]?.split(/\s+/) ?? [];
  if (!flags.includes("hypervisor") || !flags.includes("constant_tsc")) return undefined;
  const mhz = Number(/^cpu MHz\s*:\s*([\d.]+)/m.exec(first)?.[1]);
  return Number.isFinite(mhz) && mhz > 100 ? Math.round(mhz * 1000) : undefined;
}

export async function hostTscKhz(): Promise<number | undefined> {
  const text = await readFile("/proc/cpuinfo", "utf8").catch(() => "");
  return tscKhzFromCpuinfo(text);
}
