// REST for providers: GET/POST /api/providers, GET/PATCH/DELETE /api/providers/:id, enable, disable, stats.
import type { FastifyInstance } from "fastify";
import { HodeiError } from "@hodei/core";
import type { ProviderManager, ProviderView } from "./provider-manager.js";

function toJson(p: ProviderView) {
  return {
    id: p.name,
    name: p.name,
    type: p.kind,
    enabled: p.enabled,
    source: p.source,
    config: p.config,
    max_workers: p.maxWorkers,
    healthy: p.healthy,
    health: p.health,
    capabilities: p.capabilities,
    created_at: p.createdAt.toISOString(),
  };
}

function bodyOf(raw: unknown): Record<string, unknown> {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new HodeiError("INVALID_ARGUMENT", "body: a JSON object is required");
  }
  return raw as Record<string, unknown>;
}

function text(body: Record<string, unknown>, field: string, fallback = ""): string {
  const v = body[field];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "string") throw new HodeiError("INVALID_ARGUMENT", `${field}: a string is required`);
  return v;
}

function config(body: Record<string, unknown>): Record<string, string> | undefined {
  const v = body.config;
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "object" || Array.isArray(v))
    throw new HodeiError("INVALID_ARGUMENT", "config: an object of string values is required");
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (typeof x !== "string" && typeof x !== "number" && typeof x !== "boolean")
      throw new HodeiError("INVALID_ARGUMENT", `config.${k}: a string is required`);
    out[k] = String(x);
  }
  return out;
}

function maxWorkers(body: Record<string, unknown>): number | undefined {
  const v = body.max_workers;
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0)
    throw new HodeiError("INVALID_ARGUMENT", "max_workers: a whole number ≥ 0 is required");
  return v;
}

function flag(v: unknown): boolean {
  return v === true || v === "true" || v === "1";
}

export function registerProviderRoutes(app: FastifyInstance, manager: ProviderManager): void {
  app.get("/api/providers", async () => ({ providers: manager.list().map(toJson) }));

  app.post("/api/providers", async (req, reply) => {
    const body = bodyOf(req.body);
    const view = await manager.register({
      name: text(body, "name") || text(body, "id"),
      kind: text(body, "type"),
      config: config(body) ?? {},
      enabled: body.enabled === undefined ? true : flag(body.enabled),
      maxWorkers: maxWorkers(body) ?? 0,
    });
    return reply.status(201).send(toJson(view));
  });

  app.get<{ Params: { id: string } }>("/api/providers/:id", async (req) =>
    toJson(manager.get(req.params.id)),
  );

  app.patch<{ Params: { id: string } }>("/api/providers/:id", async (req) => {
    const body = bodyOf(req.body);
    const cfg = config(body);
    const max = maxWorkers(body);
    let view = await manager.update(req.params.id, {
      ...(cfg !== undefined ? { config: cfg } : {}),
      ...(max !== undefined ? { maxWorkers: max } : {}),
    });
    if (body.enabled !== undefined) view = await manager.setEnabled(req.params.id, flag(body.enabled));
    return toJson(view);
  });

  app.delete<{ Params: { id: string }; Querystring: { force?: string } }>(
    "/api/providers/:id",
    async (req, reply) => {
      const actor = (req.headers["x-user-id"] as string | undefined) || "anonymous";
      await manager.delete(req.params.id, flag(req.query.force), actor);
      return reply.status(204).send();
    },
  );

  app.post<{ Params: { id: string } }>("/api/providers/:id/enable", async (req) =>
    toJson(await manager.setEnabled(req.params.id, true)),
  );
  app.post<{ Params: { id: string } }>("/api/providers/:id/disable", async (req) =>
    toJson(await manager.setEnabled(req.params.id, false)),
  );

  app.get<{ Params: { id: string } }>("/api/providers/:id/stats", async (req) => {
    const s = await manager.stats(req.params.id);
    return {
      id: s.name,
      enabled: s.enabled,
      healthy: s.healthy,
      health: s.health,
      active_workers: s.activeWorkers,
      workers_by_state: s.workersByState,
      workers_created: s.workersCreated,
      workers_failed: s.workersFailed,
      jobs_run: s.jobsRun,
      jobs_failed: s.jobsFailed,
      provision_p50_ms: s.provisionP50Ms,
      provision_p99_ms: s.provisionP99Ms,
      provision_avg_ms: s.provisionAvgMs,
    };
  });
}
