import { cpus, freemem, hostname, totalmem } from "node:os";
import { create } from "@bufbuild/protobuf";
import { ResourceUsageSchema, WorkerInfoSchema, type ResourceUsage, type WorkerInfo } from "@hodei/api";
import type { WorkerConfig } from "./config.js";

export const WORKER_VERSION = "0.1.0";

/** Node's `process.arch` in the names schedulers and images use. */
export function architectureName(arch: string = process.arch): string {
  switch (arch) {
    case "x64":
      return "x86_64";
    case "arm64":
      return "aarch64";
    case "ia32":
      return "i686";
    default:
      return arch;
  }
}

/** What this worker tells the control plane about itself when registering. */
export function describeWorker(config: WorkerConfig): WorkerInfo {
  return create(WorkerInfoSchema, {
    workerId: config.workerId,
    hostname: hostname(),
    provider: config.provider,
    capacity: {
      cpuCores: cpus().length,
      memoryBytes: BigInt(totalmem()),
      gpuCount: 0,
      architecture: architectureName(),
    },
    labels: config.labels,
    version: WORKER_VERSION,
    pid: process.pid,
    state: "CONNECTING",
  });
}

function cpuTimes(): { busy: number; total: number } {
  let busy = 0;
  let total = 0;
  for (const c of cpus()) {
    const t = c.times;
    busy += t.user + t.nice + t.sys + t.irq;
    total += t.user + t.nice + t.sys + t.irq + t.idle;
  }
  return { busy, total };
}

/**
 * Resource usage for heartbeats: host CPU busy percent since the previous sample (so a job's load
 * shows), host memory in use, and the worker's own resident set size.
 */
export class UsageSampler {
  private last = cpuTimes();

  sample(): ResourceUsage {
    const now = cpuTimes();
    const total = now.total - this.last.total;
    const cpuPercent = total > 0 ? (100 * (now.busy - this.last.busy)) / total : 0;
    this.last = now;
    return create(ResourceUsageSchema, {
      cpuPercent: Math.round(cpuPercent * 10) / 10,
      memoryBytes: BigInt(totalmem() - freemem()),
      rssBytes: BigInt(process.memoryUsage.rss()),
    });
  }
}
