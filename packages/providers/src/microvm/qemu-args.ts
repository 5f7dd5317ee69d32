// QEMU's command line for one microVM: pure, so the choices are visible and testable.
import { FW_CFG_ENV_NAME, GUEST_SERVER_HOST, GUEST_SERVER_PORT, accelKernelParameter } from "./guest-init.js";

export type Accel = "kvm" | "tcg";

export interface VmLaunch {
  accel: Accel;
  kernelPath: string;
  initrdPath: string;
  vcpus: number;
  memoryMb: number;
  /** Shown in `ps` and checked by the orphan reaper before it kills a pid. */
  name: string;
  /** The guest's only way out: guest 10.0.2.100:50051 → this host:port. Absent: no network device. */
  forwardTo?: { host: string; port: number; busyboxPath: string };
  /** The guest's read-only node disk (an ext4 image), its /dev/vda. */
  nodeDiskPath?: string;
  /** A file whose content the guest reads as fw_cfg FW_CFG_ENV_NAME. */
  envFilePath?: string;
  /** TCG only: the host's TSC rate, so the guest kernel need not calibrate it (see host-tsc.ts). */
  tscKhz?: number;
}

export function kernelCommandLine(vm: Pick<VmLaunch, "accel" | "tscKhz">): string {
  // panic=-1 + -no-reboot: a guest panic ends QEMU instead of leaving a dead VM running.
  // cryptomgr.notests: the boot-time self-tests of every crypto algorithm cost about 0.3 s under TCG;
  // one serial port is probed, not four; the timer check and the audit subsystem are left out.
  const parts = [
    "console=ttyS0",
    "quiet",
    "panic=-1",
    "reboot=t",
    "cryptomgr.notests",
    "8250.nr_uarts=1",
    "no_timer_check",
    "audit=0",
    accelKernelParameter(vm.accel),
  ];
  if (vm.accel === "tcg" && vm.tscKhz) parts.push(`tsc_early_khz=${vm.tscKhz}`, "tsc=reliable");
  return parts.join(" ");
}

/** Debian's cloud kernel dies on this machine's nested KVM with the default CPU model, not with `host`. */
function cpuModel(accel: Accel): string {
  return accel === "kvm" ? "host" : "max";
}

/** QEMU splits option values on commas; a literal comma is written twice. */
function optionValue(s: string): string {
  return s.replaceAll(",", ",,");
}

export function qemuArgs(vm: VmLaunch): string[] {
  const args = [
    "-M",
    "microvm",
    "-accel",
    vm.accel,
    "-cpu",
    cpuModel(vm.accel),
    "-smp",
    String(vm.vcpus),
    "-m",
    String(vm.memoryMb),
    "-name",
    vm.name,
    "-nodefaults",
    "-no-user-config",
    "-nographic",
    "-no-reboot",
    "-serial",
    "stdio",
    "-kernel",
    vm.kernelPath,
    "-initrd",
    vm.initrdPath,
    "-append",
    kernelCommandLine(vm),
    "-device",
    "virtio-rng-device",
  ];
  if (vm.nodeDiskPath) {
    // Read-only: every VM shares the one image file.
    args.push(
      "-drive",
      `file=${optionValue(vm.nodeDiskPath)},if=none,id=node,format=raw,readonly=on`,
      "-device",
      "virtio-blk-device,drive=node",
    );
  }
  if (vm.forwardTo) {
    const { host, port, busyboxPath } = vm.forwardTo;
    // restrict=on: the guest reaches nothing on the host or beyond except this one forward.
    const cmd = `${optionValue(busyboxPath)} nc ${optionValue(host)} ${port}`;
    args.push(
      "-netdev",
      `user,id=n0,restrict=on,guestfwd=tcp:${GUEST_SERVER_HOST}:${GUEST_SERVER_PORT}-cmd:${cmd}`,
      "-device",
      "virtio-net-device,netdev=n0",
    );
  }
  if (vm.envFilePath) args.push("-fw_cfg", `name=${FW_CFG_ENV_NAME},file=${optionValue(vm.envFilePath)}`);
  return args;
}

/** host:port → parts; IPv6 in brackets. Throws on an address without a usable port. */
export function splitHostPort(address: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:]+):(\d+)$/.exec(address);
  const port = Number(m?.[2]);
  if (!m?.[1] || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new Error(`microvm: server address "${address}" is not host:port`);
  }
  return { host: m[1], port };
}
