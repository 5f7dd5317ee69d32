// SchedulerService, health, and the RPCs that answer UNIMPLEMENTED until their work lands.
import type { DescService } from "@bufbuild/protobuf";
import { MetricsService, SchedulerService, health, type GrpcHandlers } from "@hodei/api";
import { HodeiError } from "@hodei/core";
import { countJobsByStatus, type Database } from "@hodei/store";
import type { WorkerRegistry } from "./worker-registry.js";

export function schedulerHandlers(
  db: Database,
  registry: WorkerRegistry,
): GrpcHandlers<typeof SchedulerService> {
  return {
    async getQueueStatus(req) {
      const c = await countJobsByStatus(db);
      const w = registry.counts();
      const total = Object.values(c).reduce((a, b) => a + b, 0);
      return {
        schedulerName: req.schedulerName || "default",
        pendingJobs: BigInt(c.PENDING),
        assignedJobs: BigInt(c.ASSIGNED),
        runningJobs: BigInt(c.RUNNING),
        completedJobs: BigInt(c.SUCCEEDED),
        failedJobs: BigInt(c.FAILED),
        cancelledJobs: BigInt(c.CANCELLED),
        timeoutJobs: BigInt(c.TIMEOUT),
        totalJobs: BigInt(total),
        readyWorkers: w.READY,
        busyWorkers: w.BUSY,
        provisioningWorkers: w.CREATING + w.CONNECTING,
      };
    },
    async getAvailableWorkers() {
      return {
        workers: registry.all().map((w) => ({
          workerId: w.id,
          hostname: w.hostname,
          provider: w.provider,
          labels: w.labels,
          state: w.state,
          currentJobId: w.job?.jobId ?? "",
        })),
      };
    },
    getSchedulingDecision: unimplemented(
      "GetSchedulingDecision",
      "placement and requirements (job features)",
    ),
  };
}

export function healthHandlers(): GrpcHandlers<typeof health.Health> {
  return {
    async check() {
      return { status: health.HealthCheckResponse_ServingStatus.SERVING };
    },
  };
}

function unimplemented(rpc: string, area: string) {
  return async (): Promise<never> => {
    throw new HodeiError("UNIMPLEMENTED", `${rpc} is not implemented yet: it arrives with ${area}`);
  };
}

function allUnimplemented<S extends DescService>(
  service: S,
  area: string,
): Record<string, () => Promise<never>> {
  return Object.fromEntries(service.methods.map((m) => [m.localName, unimplemented(m.name, area)]));
}

export function metricsHandlers(): GrpcHandlers<typeof MetricsService> {
  return allUnimplemented(MetricsService, "the metrics work") as unknown as GrpcHandlers<
    typeof MetricsService
  >;
}
