import type { ServerDuplexStream } from "@grpc/grpc-js";
import type { ServerMessage, WorkerMessage } from "@hodei/api";
import type { WorkerState } from "@hodei/core";
import type { WorkerHandle } from "@hodei/providers";

/** An attempt at a job, as much as deciding on a retry needs. */
export interface Attempt {
  jobId: string;
  executionId: string;
  attempt: number;
  maxRetries: number;
}

export interface RunningJob extends Attempt {
  /** Added to the worker's per-execution sequence so a job's log stays one increasing sequence. */
  logBase: number;
  started: boolean;
  /** When it was given to its worker (this clock): no run the worker reports can be longer than since. */
  givenAtMs: number;
  /** The job's own timeout.heartbeat_timeout: its worker is lost sooner when it is shorter than the server's. */
  heartbeatTimeoutMs: number;
  /** Who asked for a cancel sent to the worker: the actor of the CANCELLED transition. */
  cancelledBy?: string;
}

export interface WorkerEntry {
  id: string;
  provider: string;
  /** The jobs it takes: see laneKey. */
  lane: string;
  state: WorkerState;
  handle: WorkerHandle | null;
  sessionId: string | null;
  stream: ServerDuplexStream<WorkerMessage, ServerMessage> | null;
  job: RunningJob | null;
  reserved: boolean;
  createdAtMs: number;
  lastSeenMs: number;
  idleSinceMs: number;
  hostname: string;
  labels: Record<string, string>;
  /** Settles once its one-time token is stored (written while the worker starts). */
  tokenStored?: Promise<void>;
}

/** The workers this control-plane instance knows, in memory. */
export class WorkerRegistry {
  private readonly workers = new Map<string, WorkerEntry>();

  add(id: string, provider: string, handle: WorkerHandle | null, lane = provider): WorkerEntry {
    const now = Date.now();
    const w: WorkerEntry = {
      id,
      provider,
      lane,
      state: "CREATING",
      handle,
      sessionId: null,
      stream: null,
      job: null,
      reserved: false,
      createdAtMs: now,
      lastSeenMs: now,
      idleSinceMs: now,
      hostname: "",
      labels: {},
    };
    this.workers.set(id, w);
    return w;
  }

  get(id: string): WorkerEntry | undefined {
    return this.workers.get(id);
  }

  remove(id: string): void {
    this.workers.delete(id);
  }

  all(): WorkerEntry[] {
    return [...this.workers.values()];
  }

  /** READY, connected, not running or about to run a job. */
  idle(): WorkerEntry[] {
    const out: WorkerEntry[] = [];
    for (const w of this.workers.values()) {
      if (w.state === "READY" && w.stream && !w.job && !w.reserved) out.push(w);
    }
    return out;
  }

  /** Workers that exist or are being created (count against provider limits). */
  live(provider: string): WorkerEntry[] {
    return this.all().filter((w) => w.provider === provider && w.state !== "TERMINATED");
  }

  /** READY workers of `lane` whose claim is in flight: each is about to take one of its jobs. */
  claiming(lane: string): number {
    let n = 0;
    for (const w of this.workers.values()) if (w.lane === lane && w.reserved) n++;
    return n;
  }

  /** Workers of `lane` being created. */
  provisioning(lane: string): number {
    let n = 0;
    for (const w of this.workers.values())
      if (w.lane === lane && (w.state === "CREATING" || w.state === "CONNECTING")) n++;
    return n;
  }

  /** Workers by state, of one provider or of all. */
  counts(provider?: string): Record<WorkerState, number> {
    const out: Record<WorkerState, number> = {
      CREATING: 0,
      CONNECTING: 0,
      READY: 0,
      BUSY: 0,
      DRAINING: 0,
      TERMINATED: 0,
      UNHEALTHY: 0,
    };
    for (const w of this.workers.values())
      if (provider === undefined || w.provider === provider) out[w.state]++;
    return out;
  }
}
