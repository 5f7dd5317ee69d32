// On-demand workers: as many as each lane's claimable jobs need, within its provider's limits; and no more.
import { randomBytes, randomUUID } from "node:crypto";
import { StartBackoff, parseLane, type StartFailure } from "@hodei/core";
import {
  claimableByLane,
  clearWaitingMessage,
  countClaimable,
  createWorker,
  setWaitingMessage,
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
  /** This control plane process: jobs whose secrets another one holds are not this one's to serve. */
  controlPlaneId: string;
}

export interface ProvisionerHooks {
  /** A worker that could not be created is gone. */
  gone(w: WorkerEntry, reason: string): void;
  /** Tears a worker down on purpose (no waiting job needs it). */
  destroy(w: WorkerEntry, reason: string): void;
  /** A scheduling pass in `ms`, with the queue looked at again (a lane's backoff is over). */
  wakeAfter(ms: number): void;
}

/** What the waiting jobs of a lane whose last worker failed to start say. */
export function startFailureMessage(reason: string): string {
  return `waiting for a worker: the last one failed to start: ${reason}`;
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
  /** Lanes whose workers end before registering wait before the next start. */
  private readonly backoff = new StartBackoff();

  constructor(
    private readonly d: ProvisionerDeps,
    private readonly ends: ProvisionerHooks,
  ) {}

  /** Worker counts or providers changed: the next pass looks at the lanes again. */
  forgetQuiet(): void {
    this.quietAsOf = -1;
  }

  /**
   * A worker ended before registering, not torn down on purpose: its lane waits before the next
   * start, and the lane's waiting jobs say why (one statement, whatever their number).
   */
  startFailed(w: WorkerEntry, reason: string): void {
    const now = Date.now();
    const f = this.backoff.failed(w.lane, reason, w.createdAtMs, now);
    const retryInMs = Math.max(0, f.retryAtMs - now);
    this.ends.wakeAfter(retryInMs);
    this.d.logger.info(
      { workerId: w.id, lane: w.lane, reason, failures: f.failures, retryInMs },
      "worker ended before registering; its lane backs off",
    );
    setWaitingMessage(this.d.db, w.lane, startFailureMessage(reason)).catch((err: unknown) =>
      this.d.logger.warn({ err, lane: w.lane }, "could not tell the waiting jobs why no worker started"),
    );
  }

  /** A worker registered: its lane starts afresh, and its jobs no longer say the last one failed. */
  started(w: WorkerEntry): void {
    const f = this.backoff.started(w.lane);
    if (!f) return;
    this.d.logger.info(
      { workerId: w.id, lane: w.lane, failures: f.failures },
      "a worker of a backed-off lane registered",
    );
    clearWaitingMessage(this.d.db, w.lane, startFailureMessage(f.reason)).catch((err: unknown) =>
      this.d.logger.warn({ err, lane: w.lane }, "could not clear the waiting jobs' start failure"),
    );
  }

  /** Why the lane's last worker did not start, while no later one has. */
  lastStartFailure(lane: string): StartFailure | undefined {
    return this.backoff.last(lane);
  }

  /**
   * New workers for the claimable jobs of each lane that workers already starting do not cover. A
   * lane whose workers fail to start gets none until its backoff is over, then one at a time until
   * one registers.
   */
  async provisionForWaitingJobs(): Promise<void> {
    const { registry, providers, db, writer } = this.d;
    if (this.inFlight || writer.epoch <= this.quietAsOf) return;
    const now = Date.now();
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
      for (const [lane, claimable] of await claimableByLane(db, limit, this.d.controlPlaneId)) {
        const { provider } = parseLane(lane);
        const left = rooms.get(provider) ?? 0;
        if (left <= 0) continue;
        if (this.backoff.waitMs(lane, now) > 0) continue;
        // Workers starting for the lane, and READY ones whose claim is in flight (the job still reads
        // PENDING until that claim commits): neither needs another worker.
        const covered = registry.provisioning(lane) + registry.claiming(lane);
        const needed = this.backoff.last(lane) ? Math.min(claimable, 1) : claimable;
        const wanted = Math.min(left, needed - covered);
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
        waiting = await countClaimable(this.d.db, candidates.length, lane, this.d.controlPlaneId);
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
      // The token is stored while the worker starts (a worker takes far longer to start than a write
      // to commit); its registration waits for the write all the same.
      const stored = createWorker(db, { id, provider: provider.name, token, ttlMs: config.otpTtlMs, lane });
      entry.tokenStored = stored.then(
        () => undefined,
        () => undefined,
      );
      const [created, written] = await Promise.allSettled([
        provider.create({
          workerId: id,
          otpToken: token,
          serverAddress: this.d.serverAddress,
          env: {},
          ...(image ? { image } : {}),
          resources: { cpuCores, memoryBytes, gpuCount: 0 },
        }),
        stored,
      ]);
      if (created.status === "rejected") throw created.reason;
      const handle = created.value;
      entry.handle = handle;
      if (written.status === "rejected") {
        await provider.destroy(handle);
        throw written.reason;
      }
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
