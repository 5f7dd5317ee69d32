// What runs inside the guest: the /init of the initramfs, and the environment file the host hands it.
import { WORKER_NODE_FLAGS } from "../provider.js";
import { WORKER_CACHED_LOADER_FILE, WORKER_CODE_CACHE_VARIABLE } from "../worker-code-cache.js";
import { GUEST_MODULES } from "./debian-kernel.js";
import type { Accel } from "./qemu-args.js";

/** Where the guest reaches the control plane: QEMU's user network forwards this to the host's gRPC port. */
export const GUEST_SERVER_HOST = "10.0.2.100";
export const GUEST_SERVER_PORT = 50051;
export const GUEST_SERVER_ADDRESS = `${GUEST_SERVER_HOST}:${GUEST_SERVER_PORT}`;

/** fw_cfg item carrying the worker's environment (see guestEnvFile for why fw_cfg). */
export const FW_CFG_ENV_NAME = "opt/hodei/env";

/** Console lines the host watches for. */
export const MARK_WORKER_STARTING = "hodei-guest: worker starting";
export const MARK_WORKER_EXITED = /hodei-guest: worker exited with code (\d+)/;
export const MARK_PROBE_OK = "hodei-probe: ok";

export const GUEST_BUNDLE_PATH = "/opt/hodei/hodei-worker.cjs";
/** Loads the bundle beside it with the V8 code cache made when the image was built (the worker's loader). */
export const GUEST_LOADER_PATH = `/opt/hodei/${WORKER_CACHED_LOADER_FILE}`;
/**
 * Where the guest mounts the read-only disk that holds node (the guest's /usr/bin/node links here).
 * Node is 95 % of what the guest needs: in the initramfs, the kernel unpacked all 100 MB of it into
 * memory before /init, under emulation about 0.7 s; from a disk only the pages node touches are read.
 */
export const GUEST_NODE_MOUNT = "/opt/hodei/node";
/** Read-ahead on that disk: node's start reads its binary in a few large requests, not 128 KB ones. */
const NODE_DISK_READ_AHEAD_KB = 8192;

/** Next to the bundle, where the worker looks for it by default. */
export const GUEST_SPAWN_HELPER_PATH = "/opt/hodei/hodei-spawn";

/**
 * The agent's node flags in a guest, by how the guest runs. Under software emulation (TCG) every
 * page of machine code V8 generates must be translated again by QEMU, so the agent runs on V8's
 * interpreter alone (`--jitless`, which also drops WebAssembly; `--no-expose-wasm` says so without a
 * warning): measured here, the agent's start in a guest took 1.5-1.65 s against 1.95-2.3 s with
 * V8's compilers (each with a code cache made under its own flags). Under KVM the compilers pay.
 */
export const GUEST_NODE_FLAGS: Record<Accel, readonly string[]> = {
  kvm: WORKER_NODE_FLAGS,
  tcg: [...WORKER_NODE_FLAGS, "--jitless", "--no-expose-wasm"],
};

/** The bundle's code cache for a guest that runs as `accel` (V8 takes a cache only under its flags). */
export function guestCodeCachePath(accel: Accel): string {
  return `${GUEST_BUNDLE_PATH}.${accel}.v8cache`;
}

/** On the guest's kernel command line: how it runs, which /init reads to choose the agent's flags. */
export function accelKernelParameter(accel: Accel): string {
  return `hodei.accel=${accel}`;
}

/**
 * PID 1 of a worker VM. The environment arrives as a fw_cfg file and is removed from view (rmmod)
 * before the agent starts, so a job in the guest cannot read the worker's OTP back.
 * When the agent ends, the VM powers off and QEMU exits: a QEMU exit is a worker exit.
 */
export function workerInitScript(): string {
  const modules = GUEST_MODULES.map((m) => m.name).join(" ");
  return `#!/bin/sh
export PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /run
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=0755 tmpfs /run
for m in ${modules}; do
  insmod /lib/modules/hodei/$m.ko || echo "hodei-guest: insmod $m failed"
done
mount -t ext4 -o ro,noatime /dev/vda ${GUEST_NODE_MOUNT} &&
  echo ${NODE_DISK_READ_AHEAD_KB} > /sys/block/vda/queue/read_ahead_kb ||
  echo "hodei-guest: cannot mount the node disk (/dev/vda) at ${GUEST_NODE_MOUNT}"
ip link set lo up
ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 && ip route add default via 10.0.2.2 ||
  echo "hodei-guest: network setup failed"
env_file=/sys/firmware/qemu_fw_cfg/by_name/${FW_CFG_ENV_NAME}/raw
if [ -r "$env_file" ]; then
  cp "$env_file" /run/hodei-env
  rmmod qemu_fw_cfg
  . /run/hodei-env
  rm -f /run/hodei-env
else
  echo "hodei-guest: no worker environment (fw_cfg ${FW_CFG_ENV_NAME} missing)"
fi
[ -n "$HODEI_WORKER_ID" ] && hostname "$HODEI_WORKER_ID"
cd /root
case " $(cat /proc/cmdline) " in
*" ${accelKernelParameter("tcg")} "*) accel=tcg flags="${GUEST_NODE_FLAGS.tcg.join(" ")}" cache=${guestCodeCachePath("tcg")} ;;
*) accel=kvm flags="${GUEST_NODE_FLAGS.kvm.join(" ")}" cache=${guestCodeCachePath("kvm")} ;;
esac
echo "${MARK_WORKER_STARTING} (uptime $(cut -d' ' -f1 /proc/uptime) s, kernel $(uname -r), $accel)"
${WORKER_CODE_CACHE_VARIABLE}=$cache node $flags ${GUEST_LOADER_PATH} </dev/null
echo "hodei-guest: worker exited with code $?"
sync
poweroff -f
`;
}

/** PID 1 of the acceleration probe: proves the kernel reaches user space, then powers off. */
export function probeInitScript(): string {
  return `#!/bin/sh
echo "${MARK_PROBE_OK} $(/bin/uname -r)"
/bin/poweroff -f
`;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The worker's environment as a file the guest's /init sources. Why fw_cfg and not the kernel command
 * line: the command line is visible in the host's `ps` (QEMU's argv) and in the guest's /proc/cmdline,
 * and is limited to 2 KiB; a fw_cfg file is read from a 0600 file on the host and unmapped in the
 * guest before any job runs.
 */
export function guestEnvFile(env: Record<string, string>): string {
  const lines: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (!ENV_NAME.test(name)) throw new Error(`worker environment: invalid variable name "${name}"`);
    if (value.includes("\0")) throw new Error(`worker environment: ${name} contains a NUL byte`);
    lines.push(`export ${name}='${value.replaceAll("'", `'\\''`)}'`);
  }
  return lines.join("\n") + "\n";
}
