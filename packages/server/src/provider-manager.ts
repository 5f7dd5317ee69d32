// Providers as records: configured from the environment at start, or registered, changed, enabled,
// disabled and deleted through the API. Protocol-neutral (gRPC, REST and the CLI share it).
import { HodeiError, type WorkerState } from "@hodei/core";
import type { Provider, ProviderKind } from "@hodei/providers";
import {
  deleteProviderRecord,
  insertProviderRecord,
  listProviderRecords,
  pendingJobsOfProvider,
  providerUsage,
  updateProviderRecord,
  upsertEnvProvider,
  type Database,
  type ProviderRecord,
  type ProviderUsage,
} from "@hodei/store";
import type { Dispatcher } from "./dispatcher.js";
import type { JobService } from "./job-service.js";
import type { Logger } from "./logger.js";
import type { ProviderEntry, ProviderSet } from "./provider-set.js";
import type { WorkerRegistry } from "./worker-registry.js";

/** A provider configured in the control plane's environment. */
export interface EnvProvider {
  name: string;
  kind: ProviderKind;
  config: Record<string, string>;
}

export interface ProviderView {
  name: string;
  kind: string;
  enabled: boolean;
  source: string;
  config: Record<string, string>;
  maxWorkers: number;
  healthy: boolean;
  health: string;
  capabilities: Record<string, string>;
  createdAt: Date;
}

export interface ProviderStatsView extends ProviderUsage {
  name: string;
  enabled: boolean;
  healthy: boolean;
  health: string;
  activeWorkers: number;
  workersByState: Partial<Record<WorkerState, number>>;
}

/** The key of a provider's config that overrides its most-workers limit. */
export const MAX_WORKERS_KEY = "max_workers";

function notFound(name: string): HodeiError {
  return new HodeiError("PROVIDER_NOT_FOUND", `provider ${JSON.stringify(name)} not found`);
}

export class ProviderManager {
  constructor(
    private readonly d: {
      db: Database;
      providers: ProviderSet;
      registry: WorkerRegistry;
      dispatcher: Dispatcher;
      jobs: JobService;
      logger: Logger;
    },
  ) {}

  /** The environment's providers (their records follow the environment), then the registered ones. */
  async start(fromEnv: EnvProvider[]): Promise<void> {
    for (const p of fromEnv) {
      const record = await upsertEnvProvider(this.d.db, p);
      await this.d.providers.add(this.build(record), record);
    }
    const envNames = new Set(fromEnv.map((p) => p.name));
    for (const record of await listProviderRecords(this.d.db)) {
      if (envNames.has(record.name)) continue;
      if (record.source === "env") {
        // Configured from the environment on an earlier start, not any more.
        await deleteProviderRecord(this.d.db, record.name);
        continue;
      }
      try {
        await this.d.providers.add(this.build(record), record);
      } catch (err) {
        this.d.logger.error({ err, provider: record.name }, "a registered provider could not be built");
      }
    }
  }

  private build(record: ProviderRecord): Provider {
    const p = this.d.providers.build(record.kind, record.name, record.config);
    const max = record.config[MAX_WORKERS_KEY];
    if (max !== undefined) {
      // limits is the provider's own mutable object: the override applies to its next decisions.
      (p.limits as { maxWorkers: number }).maxWorkers = Number(max);
    }
    return p;
  }

  private entry(name: string): ProviderEntry {
    const e = this.d.providers.get(name);
    if (!e) throw notFound(name);
    return e;
  }

  view(e: ProviderEntry): ProviderView {
    const cap = e.provider.capabilities();
    const capabilities: Record<string, string> = {
      cpu_cores: String(cap.cpuCores),
      memory_bytes: String(cap.memoryBytes),
      gpu_count: String(cap.gpuCount),
      architecture: cap.architecture,
    };
    if (Object.keys(cap.labels).length > 0) {
      capabilities.labels = Object.entries(cap.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(",");
    }
    if (cap.images?.length) capabilities.images = cap.images.join(",");
    for (const [k, v] of Object.entries(cap.details ?? {})) capabilities[k] = v;
    return {
      name: e.provider.name,
      kind: e.provider.kind,
      enabled: e.record.enabled,
      source: e.record.source,
      config: e.record.config,
      maxWorkers: e.provider.limits.maxWorkers,
      healthy: e.health.healthy,
      health: e.health.message,
      capabilities,
      createdAt: e.record.createdAt,
    };
  }

  list(): ProviderView[] {
    return this.d.providers.list().map((e) => this.view(e));
  }

  get(name: string): ProviderView {
    return this.view(this.entry(name));
  }

  async register(input: {
    name: string;
    kind: string;
    config: Record<string, string>;
    enabled: boolean;
    maxWorkers: number;
  }): Promise<ProviderView> {
    if (this.d.providers.get(input.name)) {
      throw new HodeiError(
        "PROVIDER_ALREADY_EXISTS",
        `provider ${JSON.stringify(input.name)} already exists`,
      );
    }
    const config = { ...input.config };
    if (input.maxWorkers < 0) throw new HodeiError("INVALID_ARGUMENT", "provider.max_workers must be ≥ 0");
    if (input.maxWorkers > 0) config[MAX_WORKERS_KEY] = String(input.maxWorkers);
    const draft = {
      name: input.name,
      kind: input.kind,
      enabled: input.enabled,
      source: "api",
      config,
      createdAt: new Date(),
      updatedAt: new Date(),
    };
    // Built (and so validated) before it is stored: a bad config stores nothing.
    const provider = this.build(draft);
    const record = await insertProviderRecord(this.d.db, draft);
    if (!record) {
      await provider.shutdown();
      throw new HodeiError(
        "PROVIDER_ALREADY_EXISTS",
        `provider ${JSON.stringify(input.name)} already exists`,
      );
    }
    const e = await this.d.providers.add(provider, record);
    this.d.dispatcher.rescan();
    return this.view(e);
  }

  /** New config or limit. A new config rebuilds the provider, so it must have no live workers. */
  async update(
    name: string,
    input: { config?: Record<string, string>; maxWorkers?: number },
  ): Promise<ProviderView> {
    const e = this.entry(name);
    if (input.maxWorkers !== undefined && input.maxWorkers < 0)
      throw new HodeiError("INVALID_ARGUMENT", "provider.max_workers must be ≥ 0");
    if (input.config !== undefined) {
      if (e.record.source === "env") {
        throw new HodeiError(
          "FAILED_PRECONDITION",
          `provider ${name} is configured from the control plane's environment; change it there`,
        );
      }
      const live = this.d.registry.live(name).length;
      if (live > 0) {
        throw new HodeiError(
          "FAILED_PRECONDITION",
          `provider ${name} has ${live} live worker(s); disable it and let them finish before changing its config`,
        );
      }
    }
    const config = { ...(input.config ?? e.record.config) };
    if (input.maxWorkers !== undefined && input.maxWorkers > 0)
      config[MAX_WORKERS_KEY] = String(input.maxWorkers);
    const next = { ...e.record, config };
    const rebuilt = input.config !== undefined ? this.build(next) : null;
    const record = await updateProviderRecord(this.d.db, name, { config });
    if (!record) throw notFound(name);
    if (rebuilt) {
      await this.d.providers.remove(name);
      await this.d.providers.add(rebuilt, record);
    } else {
      e.record = record;
      if (input.maxWorkers !== undefined && input.maxWorkers > 0) {
        (e.provider.limits as { maxWorkers: number }).maxWorkers = input.maxWorkers;
      }
    }
    this.d.dispatcher.rescan();
    return this.get(name);
  }

  async setEnabled(name: string, enabled: boolean): Promise<ProviderView> {
    const e = this.entry(name);
    const record = await updateProviderRecord(this.d.db, name, { enabled });
    if (!record) throw notFound(name);
    e.record = record;
    this.d.dispatcher.rescan();
    return this.view(e);
  }

  /**
   * Removes a registered provider. With live workers or waiting jobs it is refused unless forced;
   * forced, its workers are destroyed (their jobs fail or retry as for any lost worker) and its
   * waiting jobs are cancelled with the reason.
   */
  async delete(name: string, force: boolean, actor: string): Promise<void> {
    const e = this.entry(name);
    if (e.record.source === "env") {
      throw new HodeiError(
        "FAILED_PRECONDITION",
        `provider ${name} is configured from the control plane's environment; disable it instead`,
      );
    }
    const live = this.d.registry.live(name);
    const waiting = await pendingJobsOfProvider(this.d.db, name);
    if (!force && (live.length > 0 || waiting.length > 0)) {
      throw new HodeiError(
        "FAILED_PRECONDITION",
        `provider ${name} has ${live.length} live worker(s) and ${waiting.length} waiting job(s); disable it and wait, or delete with force`,
      );
    }
    await this.d.providers
      .remove(name)
      .catch((err: unknown) => this.d.logger.warn({ err }, "provider shutdown"));
    for (const w of live) this.d.dispatcher.destroy(w, `provider ${name} was deleted`, { deliberate: true });
    for (const id of waiting) {
      await this.d.jobs.cancel(id, `provider ${name} was deleted`, actor).catch(() => undefined);
    }
    await deleteProviderRecord(this.d.db, name);
  }

  async stats(name: string): Promise<ProviderStatsView> {
    const e = this.entry(name);
    const usage = await providerUsage(this.d.db, name);
    const counts = this.d.registry.counts(name);
    const workersByState: Partial<Record<WorkerState, number>> = {};
    for (const [state, n] of Object.entries(counts) as [WorkerState, number][]) {
      if (n > 0 && state !== "TERMINATED") workersByState[state] = n;
    }
    return {
      ...usage,
      name,
      enabled: e.record.enabled,
      healthy: e.health.healthy,
      health: e.health.message,
      activeWorkers: this.d.registry.live(name).length,
      workersByState,
    };
  }
}
