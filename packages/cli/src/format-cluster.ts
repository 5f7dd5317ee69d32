/** Human output for workers, the queue and providers. Pure: the current time is passed in. */
import { timestampMs, type GetQueueStatusResponse, type WorkerInfo, type providers } from "@hodei/api";
import { formatBytes, formatDuration, formatKeyValues, formatTable } from "./format.js";

export function formatWorkersTable(workers: readonly WorkerInfo[], nowMs: number): string {
  const rows = workers.map((w) => {
    const beat = w.lastHeartbeat && w.lastHeartbeat.seconds !== 0n ? timestampMs(w.lastHeartbeat) : undefined;
    const cap = w.capacity;
    return [
      w.workerId,
      w.state || "-",
      w.provider || "-",
      w.hostname || "-",
      cap && cap.cpuCores > 0 ? String(cap.cpuCores) : "-",
      cap ? formatBytes(cap.memoryBytes) : "-",
      w.currentJobId || "-",
      beat === undefined ? "-" : `${formatDuration(Math.max(0, nowMs - beat))} ago`,
    ];
  });
  return formatTable(["ID", "STATE", "PROVIDER", "HOST", "CPU", "MEMORY", "JOB", "HEARTBEAT"], rows);
}

export function formatQueueStatus(q: GetQueueStatusResponse): string {
  const n = (v: bigint | number): string => String(v);
  return formatKeyValues([
    ["scheduler", q.schedulerName || "default"],
    ["pending", n(q.pendingJobs)],
    ["assigned", n(q.assignedJobs)],
    ["running", n(q.runningJobs)],
    ["succeeded", n(q.completedJobs)],
    ["failed", n(q.failedJobs)],
    ["cancelled", n(q.cancelledJobs)],
    ["timeout", n(q.timeoutJobs)],
    ["total", n(q.totalJobs)],
    ["workers", `${q.readyWorkers} ready, ${q.busyWorkers} busy, ${q.provisioningWorkers} provisioning`],
  ]);
}

export function formatProvidersTable(list: readonly providers.Provider[]): string {
  const rows = list.map((p) => [
    p.name || p.id,
    p.type || "-",
    p.enabled ? "yes" : "no",
    p.maxWorkers > 0 ? String(p.maxWorkers) : "-",
    `${p.healthy ? "ok" : "UNHEALTHY"}: ${p.health || "-"}`,
  ]);
  return formatTable(["NAME", "TYPE", "ENABLED", "MAX WORKERS", "HEALTH"], rows);
}
