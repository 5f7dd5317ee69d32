// On-demand workers: as many as each lane's claimable jobs need, within its provider's limits; and no more.
import { randomBytes, randomUUID } from "node:crypto";
import { parseLane } from "@hodei/core";
import {
  claimableByLane,
  countClaimable,
  createWorker,
  type Database,
  type GroupCommitWriter,
} from "@hodei/store";
import type { ServerConfig } from "./config.js";
import type { Logger } from "./logger.js";
import type { ProviderEntry, ProviderSet } from "./provider-set.js";
import type { WorkerEntry, WorkerRegistry } from "./worker-registry.js";

export interface ProvisionerDeps {
  db: Database;
  writer: GroupCommitWriter;
  registry: WorkerRegistry;
  providers: ProviderSet;
  config: ServerConfig;
  logger: Logger;
  serverAddress: string;
}

export interface WorkerEnds {
  /** A worker that could not be created is gone. */
  gone(w: WorkerEntry, reason: string): void;
  /** Tears a worker down. */
  destroy(w: WorkerEntry, reason: string): void;
}

const starting = (w: WorkerEntry) => w.state === "CREATING" || w.state === "CONNECTING";

/** Workers this provider may still start now. */
function room(e: ProviderEntry, registry: WorkerRegistry): number {
  const live = registry.live(e.provider.name);
  let n = e.provider.limits.maxWorkers - live.length;
  const concurrent = e.provider.limits.maxConcurrentProvisionings ?? 0;
  if (concurrent > 0) n = Math.min(n, concurrent - live.filter(starting).length);
  return Math.max(0, n);
}

export class Provisioner {
  private inFlight = false;
  /** Writes up to this epoch were seen by a pass that started every worker the lanes needed. */
  private quietAsOf = -1;

  constructor(
    private readonly d: ProvisionerDeps,
    private readonly ends: WorkerEnds,
  ) {}

  /** Worker counts or providers changed: the next pass looks at the lanes again. */
  forgetQuiet(): void {
    this.quietAsOf = -1;
  }

  /** New workers for the claimable jobs of each lane that workers already starting do not cover. */
  async provisionForWaitingJobs(): Promise<void> {
    const { registry, providers, db, writer } = this.d;
    if (this.inFlight || writer.epoch <= this.quietAsOf) return;
    // What the query below can see: only writes already committed.
    const epoch = writer.settledEpoch;
    const rooms = new Map<string, number>();
    for (const e of providers.list()) {
      if (e.record.enabled && e.health.healthy) rooms.set(e.provider.name, room(e, registry));
    }
    if (![...rooms.values()].some((n) => n > 0)) return;
    this.inFlight = true;
    try {
      const creations: Promise<void>[] = [];
      // Enough to cover any lane: the most any provider may start plus every worker already starting.
      const limit = Math.max(...rooms.values()) + registry.all().filter(starting).length;
      for (const [lane, claimable] of await claimableByLane(db, limit)) {
        const { provider } = parseLane(lane);
        const left = rooms.get(provider) ?? 0;
        if (left <= 0) continue;
        const covered = registry.provisioning(lane);
        const wanted = Math.min(left, claimable - covered);
        if (wanted <= 0) continue;
        rooms.set(provider, left - wanted);
        for (let i = 0; i < wanted; i++) creations.push(this.provisionOne(providers.get(provider)!, lane));
      }
      await Promise.all(creations);
      this.quietAsOf = Math.max(this.quietAsOf, epoch);
    } catch (err) {
      this.d.logger.error({ err }, "provisioning failed");
    } finally {
      this.inFlight = false;
    }
  }

  /** Workers still starting beyond what their lane's claimable jobs need are torn down, newest first. */
  async trimStarting(): Promise<void> {
    const byLane = new Map<string, WorkerEntry[]>();
    for (const w of this.d.registry.all().filter(starting)) {
      byLane.set(w.lane, [...(byLane.get(w.lane) ?? []), w]);
    }
    for (const [lane, list] of byLane) {
      const candidates = list.sort((a, b) => b.createdAtMs - a.createdAtMs);
      let waiting: number;
      try {
        waiting = await countClaimable(this.d.db, candidates.length, lane);
      } catch (err) {
        this.d.logger.warn({ err }, "could not count waiting jobs; keeping the workers being started");
        return;
      }
      for (const w of candidates.slice(0, Math.max(0, candidates.length - waiting))) {
        if (starting(w)) this.ends.destroy(w, "no waiting job needs it any more");
      }
    }
  }

  private async provisionOne(e: ProviderEntry, lane: string): Promise<void> {
    const { registry, db, config } = this.d;
    const provider = e.provider;
    const { image, cpuCores, memoryBytes } = parseLane(lane);
    const id = `${provider.name}-${randomUUID().slice(0, 8)}`;
    const token = randomBytes(24).toString("base64url");
    const entry = registry.add(id, provider.name, null, lane);
    try {
      await createWorker(db, { id, provider: provider.name, token, ttlMs: config.otpTtlMs, lane });
      const handle = await provider.create({
        workerId: id,
        otpToken: token,
        serverAddress: this.d.serverAddress,
        env: {},
        ...(image ? { image } : {}),
        resources: { cpuCores, memoryBytes, gpuCount: 0 },
      });
      entry.handle = handle;
      if (entry.state === "TERMINATED") {
        // Torn down while create() was in flight (its job cancelled, say): nothing may be left behind.
        await provider.destroy(handle);
        return;
      }
      if (entry.state === "CREATING") entry.state = "CONNECTING";
      this.d.writer
        .audit([
          {
            eventType: "WorkerProvisioned",
            actor: "scheduler",
            correlationId: id,
            payload: { provider: provider.name, lane },
          },
        ])
        .catch((err: unknown) => this.d.logger.error({ err }, "could not record a provisioned worker"));
      this.d.logger.debug({ workerId: id, lane }, "worker provisioned");
    } catch (err) {
      this.d.logger.error({ err, workerId: id }, "could not create a worker");
      this.ends.gone(entry, `provisioning failed: ${String(err)}`);
    }
  }
}
