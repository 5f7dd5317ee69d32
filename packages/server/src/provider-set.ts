// The providers this control plane runs workers on, and which of them a job goes to.
import { HodeiError, laneKey, unmetRequirement, type JobSpec, type Capabilities } from "@hodei/core";
import type { Provider, ProviderCommon, ProviderHealth, ProviderKind, WorkerExit } from "@hodei/providers";
import type { ProviderRecord } from "@hodei/store";
import type { Logger } from "./logger.js";

/** Builds a provider of one kind from its variables (the same names as in the environment). */
export type ProviderFactory = (
  name: string,
  config: Record<string, string>,
  common: ProviderCommon,
) => Provider;

export interface ProviderEntry {
  provider: Provider;
  record: ProviderRecord;
  health: ProviderHealth;
  checkedAtMs: number;
}

export const PROVIDER_KINDS: readonly ProviderKind[] = ["local", "docker", "microvm", "kubernetes"];
const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const HEALTH_EVERY_MS = 10_000;
/** An image found once is taken as present for this long (a QueueJob must not ask Docker each time). */
const IMAGE_OK_MS = 30_000;

export function checkProviderName(name: string): void {
  if (!NAME.test(name)) {
    throw new HodeiError(
      "INVALID_ARGUMENT",
      `provider.name: ${JSON.stringify(name)} must be 1-63 characters of a-z, 0-9 and '-', starting with a letter or digit`,
    );
  }
}

export class ProviderSet {
  private readonly entries = new Map<string, ProviderEntry>();
  private readonly exitListeners: ((e: WorkerExit) => void)[] = [];
  private readonly imageSeen = new Map<string, number>();

  constructor(
    private readonly d: {
      factories: Partial<Record<ProviderKind, ProviderFactory>>;
      common: ProviderCommon;
      /** Cheapest first: a job with no preference goes to the first that can run it. */
      order: readonly ProviderKind[];
      logger: Logger;
    },
  ) {}

  kinds(): ProviderKind[] {
    return PROVIDER_KINDS.filter((k) => this.d.factories[k] !== undefined);
  }

  /** A provider of `kind` named `name`, built from `config`; errors name what is wrong. */
  build(kind: string, name: string, config: Record<string, string>): Provider {
    checkProviderName(name);
    const factory = (this.d.factories as Record<string, ProviderFactory | undefined>)[kind];
    if (!factory) {
      throw new HodeiError(
        "INVALID_ARGUMENT",
        `provider.type: ${JSON.stringify(kind)} is not one of ${this.kinds().join(", ")}`,
      );
    }
    try {
      return factory(name, config, this.d.common);
    } catch (err) {
      throw new HodeiError("INVALID_ARGUMENT", `provider.config: ${(err as Error).message}`);
    }
  }

  /** Starts a provider (its init, then a health check) and offers it to placement. */
  async add(provider: Provider, record: ProviderRecord): Promise<ProviderEntry> {
    provider.onExit((e) => {
      for (const l of this.exitListeners) l(e);
    });
    let health: ProviderHealth;
    try {
      await provider.init?.();
      health = await provider.health();
    } catch (err) {
      health = { healthy: false, message: `start-up failed: ${(err as Error).message}` };
    }
    const entry: ProviderEntry = { provider, record, health, checkedAtMs: Date.now() };
    this.entries.set(provider.name, entry);
    if (!health.healthy)
      this.d.logger.warn({ provider: provider.name, health: health.message }, "provider unhealthy");
    return entry;
  }

  /** Forgets a provider and destroys its workers. */
  async remove(name: string): Promise<void> {
    const e = this.entries.get(name);
    if (!e) return;
    this.entries.delete(name);
    await e.provider.shutdown();
  }

  get(name: string): ProviderEntry | undefined {
    return this.entries.get(name);
  }

  /** Every provider, cheapest first. */
  list(): ProviderEntry[] {
    const rank = (e: ProviderEntry) => {
      const i = this.d.order.indexOf(e.provider.kind);
      return i < 0 ? this.d.order.length : i;
    };
    return [...this.entries.values()].sort(
      (a, b) => rank(a) - rank(b) || a.provider.name.localeCompare(b.provider.name),
    );
  }

  onExit(listener: (e: WorkerExit) => void): void {
    this.exitListeners.push(listener);
  }

  /** Re-checks the health of providers not checked for a while (the sweep calls it). */
  async refreshHealth(now = Date.now()): Promise<void> {
    await Promise.all(
      [...this.entries.values()]
        .filter((e) => now - e.checkedAtMs >= HEALTH_EVERY_MS)
        .map(async (e) => {
          e.checkedAtMs = now;
          const before = e.health.healthy;
          try {
            e.health = await e.provider.health();
          } catch (err) {
            e.health = { healthy: false, message: (err as Error).message };
          }
          if (before !== e.health.healthy) {
            this.d.logger.warn(
              { provider: e.provider.name, health: e.health.message },
              "provider health changed",
            );
          }
        }),
    );
  }

  capabilities(e: ProviderEntry): Capabilities {
    return { ...e.provider.capabilities(), provider: e.provider.name };
  }

  /**
   * The lane a new job runs in: its preferred provider, or else the cheapest enabled, healthy
   * provider that can meet its requirements and image. FAILED_PRECONDITION naming why when none can.
   */
  async place(spec: JobSpec): Promise<string> {
    const preferred = spec.preferredProvider;
    let candidates: ProviderEntry[];
    if (preferred) {
      const e = this.entries.get(preferred);
      if (!e) {
        throw new HodeiError(
          "FAILED_PRECONDITION",
          `no worker can ever run this job: scheduling.preferred_provider: ${preferred} is not available (providers: ${[...this.entries.keys()].join(", ") || "none"})`,
        );
      }
      candidates = [e];
    } else {
      candidates = this.list();
    }
    const reasons: string[] = [];
    for (const e of candidates) {
      const name = e.provider.name;
      if (!e.record.enabled) {
        reasons.push(`provider ${name} is disabled`);
        continue;
      }
      if (!e.health.healthy) {
        reasons.push(`provider ${name} is unhealthy: ${e.health.message}`);
        continue;
      }
      const unmet = unmetRequirement({ ...spec, preferredProvider: "" }, this.capabilities(e));
      if (unmet) {
        reasons.push(unmet);
        continue;
      }
      if (spec.image) {
        const why = await this.imageProblem(e, spec.image);
        if (why) {
          reasons.push(why);
          continue;
        }
      }
      const sized = e.provider.kind !== "local";
      return laneKey({
        provider: name,
        image: spec.image,
        cpuCores: sized ? spec.requirements.cpuCores : 0,
        memoryBytes: sized ? spec.requirements.memoryBytes : 0,
      });
    }
    throw new HodeiError(
      "FAILED_PRECONDITION",
      `no worker can ever run this job: ${reasons.join("; ") || "no provider is configured"}`,
    );
  }

  private async imageProblem(e: ProviderEntry, image: string): Promise<string | null> {
    const p = e.provider;
    if (!p.checkImage) return null;
    const key = `${p.name}\u0000${image}`;
    if ((this.imageSeen.get(key) ?? 0) > Date.now()) return null;
    const why = await p
      .checkImage(image)
      .catch((err: unknown) => `image ${image}: ${(err as Error).message}`);
    if (why === null) this.imageSeen.set(key, Date.now() + IMAGE_OK_MS);
    return why;
  }

  async shutdown(): Promise<void> {
    await Promise.all([...this.entries.values()].map((e) => e.provider.shutdown()));
  }
}
