// AuditService: the audit_logs table as the user guide queries it, through the API.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate, timestampMs } from "@bufbuild/protobuf/wkt";
import { AuditLogSchema, AuditService, type AuditLog, type GrpcHandlers } from "@hodei/api";
import { invalid } from "@hodei/core";
import { auditEventCounts, listAudit, type AuditRecord, type Database } from "@hodei/store";

export function auditToWire(a: AuditRecord): AuditLog {
  return create(AuditLogSchema, {
    id: String(a.id),
    occurredAt: timestampFromDate(a.occurredAt),
    eventType: a.eventType,
    actor: a.actor,
    correlationId: a.correlationId ?? "",
    payload: JSON.stringify(a.payload),
  });
}

function page(limit: number, offset: number): { limit: number; offset: number } {
  if (limit < 0) throw invalid("limit", "must not be negative");
  if (offset < 0) throw invalid("offset", "must not be negative");
  return { limit: limit === 0 ? 100 : Math.min(limit, 1000), offset };
}

export function auditHandlers(db: Database): GrpcHandlers<typeof AuditService> {
  return {
    async getAuditLogs(req) {
      const { logs, total } = await listAudit(db, {
        ...page(req.limit, req.offset),
        eventType: req.eventType || undefined,
        sinceMs: req.since ? timestampMs(req.since) : undefined,
        untilMs: req.until ? timestampMs(req.until) : undefined,
      });
      return { logs: logs.map(auditToWire), totalCount: total };
    },
    async getAuditLogsByCorrelation(req) {
      if (!req.correlationId) throw invalid("correlation_id", "is required");
      const { logs, total } = await listAudit(db, {
        correlationId: req.correlationId,
        limit: 10_000,
        offset: 0,
      });
      return { logs: logs.map(auditToWire), totalCount: total };
    },
    async getEventCounts(req) {
      const counts = await auditEventCounts(db, req.since ? timestampMs(req.since) : undefined);
      return { counts: Object.fromEntries(Object.entries(counts).map(([k, n]) => [k, BigInt(n)])) };
    },
  };
}
