import type { V1Pod } from "@kubernetes/client-node";
import { describeApiError, withTimeout } from "./api-call.js";
import type { KubeClient } from "./kube-client.js";

export type PodEventType = "ADDED" | "MODIFIED" | "DELETED";

export interface PodWatchOptions {
  /** The client, loaded on first use; a rejection counts as a failed attempt. */
  connect(): Promise<KubeClient>;
  namespace: string;
  labelSelector: string;
  /** Every change to a matching pod, in the order the API server reports them. */
  onEvent(type: PodEventType, pod: V1Pod): void;
  /**
   * The full list after each (re)connection: changes missed while disconnected are found here.
   * `listStartedAt` tells pods created after the list began (absent from it for that reason alone).
   */
  onResync(pods: V1Pod[], listStartedAt: number): void;
  /** Longest pause between reconnection attempts. */
  maxRetryDelayMs?: number;
  /** Longest wait for the list that precedes each watch. */
  listTimeoutMs: number;
}

/**
 * List-then-watch of one namespace's pods matching a selector, reconnecting with backoff for as
 * long as it runs: the API server ends watches on its own (timeouts, 410 Gone after compaction).
 */
export class PodWatch {
  private running = false;
  private abort: AbortController | undefined;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  /** Why the last attempt failed; undefined while a watch stream is open. */
  lastError: string | undefined = "not started";

  constructor(private readonly o: PodWatchOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.abort?.abort();
    this.wake?.();
    // The client hands out a watch's abort controller only once the response has started, so a
    // stream still connecting cannot be cut: it is aborted as soon as it starts; stop waits a little.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.loop, new Promise((r) => (timer = setTimeout(r, 1_000)))]);
    clearTimeout(timer);
  }

  private async run(): Promise<void> {
    let delayMs = 100;
    const maxDelayMs = this.o.maxRetryDelayMs ?? 5_000;
    while (this.running) {
      const startedAt = Date.now();
      const ended = await this.once().catch((e: unknown) => new Error(describeApiError(e)));
      if (!this.running) break;
      if (ended instanceof Error) {
        this.lastError = ended.message;
        delayMs = Math.min(delayMs * 2, maxDelayMs);
      } else if (Date.now() - startedAt < 1_000) {
        // Cut as soon as it opened (a proxy, an overloaded server): back off, or this is a hot loop.
        this.lastError = "reconnecting";
        delayMs = Math.min(delayMs * 2, maxDelayMs);
      } else {
        // A stream that ran and ended normally (server-side timeout): reconnect soon.
        this.lastError = "reconnecting";
        delayMs = 100;
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delayMs);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  /** One list and one watch stream; resolves when the stream ends, rejects when it cannot start. */
  private async once(): Promise<void> {
    const client = await this.o.connect();
    const listStartedAt = Date.now();
    const list = await withTimeout(
      client.core.listNamespacedPod({ namespace: this.o.namespace, labelSelector: this.o.labelSelector }),
      this.o.listTimeoutMs,
      "listing worker pods",
    );
    if (!this.running) return;
    this.o.onResync(list.items, listStartedAt);
    const resourceVersion = list.metadata?.resourceVersion;
    await new Promise<void>((resolve, reject) => {
      let failed: Error | undefined;
      let settled = false;
      const path = `/api/v1/namespaces/${encodeURIComponent(this.o.namespace)}/pods`;
      const query = {
        labelSelector: this.o.labelSelector,
        allowWatchBookmarks: true,
        // Ended by the server well before idle proxies cut it, then resumed from a fresh list.
        timeoutSeconds: 300,
        ...(resourceVersion ? { resourceVersion } : {}),
      };
      client.watch
        .watch(
          path,
          query,
          (type: string, obj: unknown) => {
            if (type === "ADDED" || type === "MODIFIED" || type === "DELETED") {
              this.o.onEvent(type, obj as V1Pod);
            } else if (type === "ERROR") {
              // Typically 410 Gone: our resourceVersion is too old. Start over from a list.
              const status = obj as { code?: number; message?: string };
              failed = new Error(`watch error ${status.code ?? ""}: ${status.message ?? "unknown"}`);
              this.abort?.abort();
            }
          },
          (err: unknown) => {
            settled = true;
            const e = failed ?? (err ? (err instanceof Error ? err : new Error(String(err))) : undefined);
            if (e && !(e.name === "AbortError" && !failed)) reject(e);
            else resolve();
          },
        )
        .then((controller) => {
          this.abort = controller;
          if (!this.running) controller.abort();
          else if (!settled) this.lastError = undefined;
        }, reject);
    });
  }
}
