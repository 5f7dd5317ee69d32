// On-demand workers: as many as claimable jobs need, within the provider's limit; and no more.
import { randomBytes, randomUUID } from "node:crypto";
import { countClaimable, createWorker, type Database, type GroupCommitWriter } from "@hodei/store";
import type { Provider } from "@hodei/providers";
import type { ServerConfig } from "./config.js";
import type { Logger } from "./logger.js";
import type { WorkerEntry, WorkerRegistry } from "./worker-registry.js";

export interface ProvisionerDeps {
  db: Database;
  writer: GroupCommitWriter;
  registry: WorkerRegistry;
  provider: Provider;
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

export class Provisioner {
  private inFlight = false;

  constructor(
    private readonly d: ProvisionerDeps,
    private readonly ends: WorkerEnds,
  ) {}

  /** New workers for the claimable jobs that workers already starting do not cover. */
  async provisionForWaitingJobs(): Promise<void> {
    const { registry, provider, db } = this.d;
    if (this.inFlight) return;
    const room = provider.limits.maxWorkers - registry.live(provider.name).length;
    if (room <= 0) return;
    this.inFlight = true;
    try {
      const covered = registry.provisioning();
      const wanted = Math.min(room, (await countClaimable(db, room + covered)) - covered);
      await Promise.all(Array.from({ length: Math.max(0, wanted) }, () => this.provisionOne()));
    } catch (err) {
      this.d.logger.error({ err }, "provisioning failed");
    } finally {
      this.inFlight = false;
    }
  }

  /** Workers still starting beyond what the claimable jobs need are torn down, newest first. */
  async trimStarting(): Promise<void> {
    const candidates = this.d.registry
      .all()
      .filter(starting)
      .sort((a, b) => b.createdAtMs - a.createdAtMs);
    if (candidates.length === 0) return;
    let waiting: number;
    try {
      waiting = await countClaimable(this.d.db, candidates.length);
    } catch (err) {
      this.d.logger.warn({ err }, "could not count waiting jobs; keeping the workers being started");
      return;
    }
    for (const w of candidates.slice(0, Math.max(0, candidates.length - waiting))) {
      if (starting(w)) this.ends.destroy(w, "no waiting job needs it any more");
    }
  }

  private async provisionOne(): Promise<void> {
    const { registry, provider, db, config } = this.d;
    const id = `${provider.name}-${randomUUID().slice(0, 8)}`;
    const token = randomBytes(24).toString("base64url");
    const entry = registry.add(id, provider.name, null);
    try {
      await createWorker(db, { id, provider: provider.name, token, ttlMs: config.otpTtlMs });
      entry.handle = await provider.create({
        workerId: id,
        otpToken: token,
        serverAddress: this.d.serverAddress,
        env: {},
        resources: { cpuCores: 0, memoryBytes: 0, gpuCount: 0 },
      });
      if (entry.state === "CREATING") entry.state = "CONNECTING";
      this.d.writer
        .audit([
          {
            eventType: "WorkerProvisioned",
            actor: "scheduler",
            correlationId: id,
            payload: { provider: provider.name },
          },
        ])
        .catch((err: unknown) => this.d.logger.error({ err }, "could not record a provisioned worker"));
      this.d.logger.debug({ workerId: id }, "worker provisioned");
    } catch (err) {
      this.d.logger.error({ err, workerId: id }, "could not create a worker");
      this.ends.gone(entry, `provisioning failed: ${String(err)}`);
    }
  }
}
