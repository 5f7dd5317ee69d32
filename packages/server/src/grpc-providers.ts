// hodei.providers.ProviderManagementService over the provider manager.
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { providers, type GrpcHandlers } from "@hodei/api";
import { HodeiError } from "@hodei/core";
import type { ProviderManager, ProviderView } from "./provider-manager.js";

function toWire(p: ProviderView) {
  return {
    id: p.name,
    name: p.name,
    type: p.kind,
    enabled: p.enabled,
    config: p.config,
    maxWorkers: p.maxWorkers,
    health: p.health,
    healthy: p.healthy,
    capabilities: p.capabilities,
    source: p.source,
    createdAt: timestampFromDate(p.createdAt),
  };
}

function idOf(id: string): string {
  if (!id) throw new HodeiError("INVALID_ARGUMENT", "id: a provider name is required");
  return id;
}

export function providerHandlers(
  manager: ProviderManager,
): GrpcHandlers<typeof providers.ProviderManagementService> {
  return {
    async registerProvider(req) {
      const p = req.provider;
      if (!p) throw new HodeiError("INVALID_ARGUMENT", "provider: required");
      const view = await manager.register({
        name: p.name || p.id,
        kind: p.type,
        config: p.config,
        // proto3 cannot tell an unset bool from false: a provider is registered enabled, and
        // DisableProvider turns it off.
        enabled: true,
        maxWorkers: p.maxWorkers,
      });
      return { provider: toWire(view) };
    },
    async getProvider(req) {
      return { provider: toWire(manager.get(idOf(req.id))) };
    },
    async listProviders() {
      return { providers: manager.list().map(toWire) };
    },
    async updateProvider(req) {
      const p = req.provider;
      if (!p) throw new HodeiError("INVALID_ARGUMENT", "provider: required");
      const view = await manager.update(idOf(p.id || p.name), {
        ...(Object.keys(p.config).length > 0 ? { config: p.config } : {}),
        ...(p.maxWorkers !== 0 ? { maxWorkers: p.maxWorkers } : {}),
      });
      return { provider: toWire(view) };
    },
    async deleteProvider(req, call) {
      const actor = call.metadata.get("x-user-id")[0]?.toString() || "api";
      await manager.delete(idOf(req.id), req.force, actor);
      return { success: true };
    },
    async enableProvider(req) {
      return { provider: toWire(await manager.setEnabled(idOf(req.id), true)) };
    },
    async disableProvider(req) {
      return { provider: toWire(await manager.setEnabled(idOf(req.id), false)) };
    },
    async getProviderStats(req) {
      const s = await manager.stats(idOf(req.id));
      return {
        id: s.name,
        activeWorkers: s.activeWorkers,
        workersCreated: BigInt(s.workersCreated),
        workersFailed: BigInt(s.workersFailed),
        averageProvisionMs: s.provisionAvgMs,
        workersByState: s.workersByState,
        jobsRun: BigInt(s.jobsRun),
        jobsFailed: BigInt(s.jobsFailed),
        provisionP50Ms: s.provisionP50Ms,
        provisionP99Ms: s.provisionP99Ms,
        enabled: s.enabled,
        healthy: s.healthy,
        health: s.health,
      };
    },
  };
}
