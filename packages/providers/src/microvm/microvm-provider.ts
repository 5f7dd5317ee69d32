import { cpus, totalmem } from "node:os";
import { mkdir, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type {
  HandleStatus,
  Provider,
  ProviderCapabilities,
  ProviderHealth,
  ProviderLimits,
  WorkerExit,
  WorkerHandle,
  WorkerSpec,
} from "../provider.js";
import { chooseAccel, type AccelDecision } from "./accel-probe.js";
import { GUEST_SERVER_ADDRESS, guestEnvFile } from "./guest-init.js";
import { hostTscKhz } from "./host-tsc.js";
import { NODE_DISK_FILE, buildGuestImage } from "./guest-image.js";
import { MIN_GUEST_MEMORY_MB, type MicrovmProviderOptions } from "./microvm-options.js";
import { ownServerIdentity } from "../server-identity.js";
import { reapOrphans, vmName } from "./orphans.js";
import { qemuArgs, splitHostPort } from "./qemu-args.js";
import { which } from "./run-command.js";
import { VmProcess, type VmExit } from "./vm-process.js";

const MiB = 1024 * 1024;

interface Ready {
  accel: AccelDecision;
  kernelPath: string;
  initrdPath: string;
  nodeDiskPath?: string;
  kernelRelease: string;
  busyboxPath: string;
  tscKhz: number | undefined;
}

interface RunningVm {
  vm: VmProcess;
  handle: WorkerHandle;
  dir: string;
  destroying: boolean;
}

/**
 * A QEMU `microvm` machine per worker: the worker agent runs in its own kernel, and reaches the
 * control plane only through one forwarded port of QEMU's user network.
 */
export class MicrovmProvider implements Provider {
  readonly name: string;
  readonly kind = "microvm" as const;
  readonly limits: ProviderLimits;
  private readonly vms = new Map<string, RunningVm>();
  private readonly listeners: ((e: WorkerExit) => void)[] = [];
  private initializing: Promise<Ready> | undefined;
  private ready: Ready | undefined;
  private initError: string | undefined;

  /** Whose VMs these are: this control plane and this provider, on process names and directories. */
  private readonly owner: string;
  /** The control plane process, recorded beside each VM for start-up reaping (see orphans.ts). */
  private readonly serverIdentity: string;

  constructor(private readonly opts: MicrovmProviderOptions) {
    this.name = opts.name ?? "microvm";
    this.owner = safeName(`${opts.instanceId}.${this.name}`);
    this.serverIdentity = opts.serverIdentity ?? ownServerIdentity();
    this.limits = {
      maxWorkers: opts.maxWorkers,
      idleTimeoutMs: opts.idleTimeoutMs,
      maxConcurrentProvisionings: opts.maxConcurrentProvisionings ?? 0,
    };
  }

  /** Reaps this instance's orphaned VMs, builds or finds the guest image, probes KVM vs TCG. */
  async init(): Promise<void> {
    await this.whenReady();
  }

  private whenReady(): Promise<Ready> {
    this.initializing ??= this.prepare().then(
      (ready) => {
        this.ready = ready;
        this.initError = undefined;
        return ready;
      },
      (err: Error) => {
        this.initError = err.message;
        this.initializing = undefined; // a later call may try again (e.g. after apt-get update)
        throw err;
      },
    );
    return this.initializing;
  }

  private async prepare(): Promise<Ready> {
    const o = this.opts;
    await reapOrphans(join(o.runDir, this.owner), this.owner);
    const qemu = await which(o.qemuPath);
    if (!qemu) throw new Error(`microvm: ${o.qemuPath} not found (Debian package qemu-system-x86)`);
    const busyboxPath = await which("busybox");
    if (!busyboxPath)
      throw new Error("microvm: busybox not found on the host (Debian package busybox-static)");
    let image: {
      kernelPath: string;
      initrdPath: string;
      nodeDiskPath?: string;
      probeInitrdPath: string;
      kernelRelease: string;
    };
    if (o.kernelPath && o.initrdPath) {
      // A given image has no probe initramfs of its own: the probe boots the worker image, whose
      // /init prints the worker-starting marker without its environment. Its node disk, as
      // `hodei microvm build-image` makes one, is the one beside the initramfs.
      const disk = join(dirname(o.initrdPath), NODE_DISK_FILE);
      image = {
        kernelPath: o.kernelPath,
        initrdPath: o.initrdPath,
        nodeDiskPath: (await stat(disk).catch(() => undefined))?.isFile() ? disk : undefined,
        probeInitrdPath: o.initrdPath,
        kernelRelease: "given",
      };
    } else {
      image = await buildGuestImage({ imageDir: o.imageDir, workerBundlePath: o.workerBundlePath });
    }
    const tscKhz = await hostTscKhz();
    const accel = await chooseAccel(
      o.accel,
      qemu,
      image.kernelPath,
      image.probeInitrdPath,
      o.kvmProbeTimeoutMs,
      tscKhz,
    );
    return { accel, busyboxPath, tscKhz, ...image };
  }

  async create(spec: WorkerSpec): Promise<WorkerHandle> {
    const ready = this.ready ?? (await this.whenReady());
    if (this.vms.has(spec.workerId)) throw new Error(`microvm: worker ${spec.workerId} already has a VM`);
    const forward = splitHostPort(spec.serverAddress);
    const env = guestEnvFile({
      ...spec.env,
      HODEI_SERVER_ADDRESS: GUEST_SERVER_ADDRESS,
      HODEI_OTP_TOKEN: spec.otpToken,
      HODEI_WORKER_ID: spec.workerId,
      HODEI_WORKER_PROVIDER: this.name,
      // The server ends idle workers; the agent's own idle exit (which powers the VM off) is only a
      // fallback for a vanished server.
      HODEI_WORKER_IDLE_TIMEOUT: String(
        this.opts.idleTimeoutMs > 0 ? this.opts.idleTimeoutMs * 2 + 5_000 : 0,
      ),
    });
    const dir = join(this.opts.runDir, this.owner, safeName(spec.workerId));
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const envFilePath = join(dir, "env");
    await writeFile(envFilePath, env, { mode: 0o600 });
    const { vcpus, memoryMb } = vmSizeFor(spec.resources, this.opts, cpus().length);
    const host = forward.host === "0.0.0.0" || forward.host === "::" ? "127.0.0.1" : forward.host;
    const args = qemuArgs({
      accel: ready.accel.accel,
      kernelPath: ready.kernelPath,
      initrdPath: ready.initrdPath,
      nodeDiskPath: ready.nodeDiskPath,
      vcpus,
      memoryMb,
      name: vmName(this.owner, spec.workerId),
      forwardTo: { host, port: forward.port, busyboxPath: ready.busyboxPath },
      envFilePath,
      tscKhz: ready.tscKhz,
    });
    const vm = new VmProcess(this.opts.qemuPath, args, join(dir, "console.log"));
    const handle: WorkerHandle = { workerId: spec.workerId, provider: this.name, ref: String(vm.pid ?? "") };
    const entry: RunningVm = { vm, handle, dir, destroying: false };
    this.vms.set(spec.workerId, entry);
    if (vm.pid !== undefined) {
      // Which control plane process started it: a successor reaps it only once that one is gone.
      await writeFile(join(dir, "server"), this.serverIdentity);
      await writeFile(join(dir, "qemu.pid"), `${vm.pid}\n`);
    }
    void vm.exited.then((exit) => this.onVmExit(entry, exit));
    return handle;
  }

  private async onVmExit(entry: RunningVm, exit: VmExit): Promise<void> {
    if (this.vms.get(entry.handle.workerId) === entry) this.vms.delete(entry.handle.workerId);
    // The env file holds the OTP: it goes with the VM (the console log goes too; nothing reads it later).
    await rm(entry.dir, { recursive: true, force: true }).catch(() => {});
    const reason = exitReason(entry, exit);
    const code = exit.workerCode ?? exit.code;
    for (const l of this.listeners) l({ handle: entry.handle, code, signal: exit.signal, reason });
  }

  async destroy(handle: WorkerHandle): Promise<void> {
    const entry = this.vms.get(handle.workerId);
    if (!entry) return;
    entry.destroying = true;
    // Nothing in the guest needs saving: the job's state lives in the control plane.
    entry.vm.kill("SIGTERM");
    const kill = setTimeout(() => entry.vm.kill("SIGKILL"), 3_000);
    await entry.vm.exited;
    clearTimeout(kill);
  }

  status(handle: WorkerHandle): HandleStatus {
    const entry = this.vms.get(handle.workerId);
    if (!entry || !entry.vm.running) return "exited";
    return entry.vm.started ? "running" : "starting";
  }

  async health(): Promise<ProviderHealth> {
    if (!this.ready) {
      return {
        healthy: false,
        message: this.initError ? `microvm: ${this.initError}` : "microvm: not initialised yet",
        details: { accel: "unknown" },
      };
    }
    return {
      healthy: true,
      message: `${this.vms.size} microVM(s), ${this.ready.accel.note}`,
      details: this.details(),
    };
  }

  private details(): Record<string, string> {
    if (!this.ready) return { accel: "unknown" };
    const d: Record<string, string> = {
      accel: this.ready.accel.accel,
      accelNote: this.ready.accel.note,
      kernel: this.ready.kernelRelease,
      // pvh: QEMU starts the uncompressed kernel; bzimage: the guest decompresses it first.
      boot: this.ready.kernelPath.endsWith("vmlinux") ? "pvh" : "bzimage",
      machine: "qemu microvm",
    };
    for (const [accel, p] of Object.entries(this.ready.accel.probes)) {
      d[`probe.${accel}`] = `${p.ok ? "booted" : "failed"} in ${p.ms} ms`;
    }
    return d;
  }

  capabilities(): ProviderCapabilities {
    return {
      cpuCores: cpus().length,
      memoryBytes: totalmem(),
      gpuCount: 0,
      gpuTypes: [],
      architecture: "x86_64",
      labels: {},
      details: this.details(),
    };
  }

  async checkImage(image: string): Promise<string | null> {
    return `image ${image}: microVM workers run the Hodei guest image (Debian kernel, busybox, bash, node); container images are not supported`;
  }

  onExit(listener: (e: WorkerExit) => void): void {
    this.listeners.push(listener);
  }

  async shutdown(): Promise<void> {
    await Promise.all([...this.vms.values()].map((e) => this.destroy(e.handle)));
  }

  /** Number of VMs this provider is running (for tests and health). */
  get vmCount(): number {
    return this.vms.size;
  }
}

function exitReason(entry: RunningVm, exit: VmExit): string | undefined {
  if (entry.destroying) return undefined;
  if (exit.workerCode !== undefined) {
    return exit.workerCode === 0
      ? undefined
      : `worker agent exited with code ${exit.workerCode} inside the microVM`;
  }
  const last = exit.tail.slice(-3).join(" | ");
  return `microVM ended before its worker agent finished (QEMU ${exit.code ?? exit.signal}): ${last}`;
}

/**
 * vCPUs and memory of a worker's VM: what its job asks for, at least the provider's defaults and
 * MIN_GUEST_MEMORY_MB, and no more vCPUs than the host has (more would only time-slice).
 */
export function vmSizeFor(
  asked: WorkerSpec["resources"],
  defaults: { defaultVcpus: number; defaultMemoryMb: number },
  hostCpus: number,
): { vcpus: number; memoryMb: number } {
  const cores = Math.ceil(asked.cpuCores || 0);
  const vcpus = Math.min(Math.max(defaults.defaultVcpus, cores, 1), Math.max(hostCpus, 1));
  const askedMb = Math.ceil((asked.memoryBytes || 0) / MiB);
  return { vcpus, memoryMb: Math.max(defaults.defaultMemoryMb, askedMb, MIN_GUEST_MEMORY_MB) };
}

/** A worker id as a directory name. */
function safeName(id: string): string {
  return id.replace(/[^A-Za-z0-9._-]/g, "_");
}
