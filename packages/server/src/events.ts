import type { JobState } from "@hodei/core";
import type { LogChunk } from "@hodei/api";

export interface JobEvent {
  jobId: string;
  status: JobState;
  previous: JobState | null;
  atMs: number;
  workerId: string | null;
  executionId: string | null;
  exitCode: number | null;
  message: string;
  /** Relayed from another control plane on the same database (see instance-link.ts). */
  remote?: true;
}

type Listener<T> = (value: T) => void;

/** In-process fan-out of committed state changes and log lines. */
export class EventBus {
  private readonly jobListeners = new Set<Listener<JobEvent>>();
  private readonly logListeners = new Map<string, Set<Listener<LogChunk>>>();
  private readonly allLogListeners = new Set<(jobId: string, chunk: LogChunk) => void>();

  onJob(l: Listener<JobEvent>): () => void {
    this.jobListeners.add(l);
    return () => this.jobListeners.delete(l);
  }

  emitJob(e: JobEvent): void {
    for (const l of this.jobListeners) l(e);
  }

  onLogs(jobId: string, l: Listener<LogChunk>): () => void {
    let set = this.logListeners.get(jobId);
    if (!set) this.logListeners.set(jobId, (set = new Set()));
    set.add(l);
    return () => {
      set.delete(l);
      if (set.size === 0) this.logListeners.delete(jobId);
    };
  }

  hasLogListeners(jobId: string): boolean {
    return this.logListeners.has(jobId);
  }

  onAnyLogs(l: (jobId: string, chunk: LogChunk) => void): () => void {
    this.allLogListeners.add(l);
    return () => this.allLogListeners.delete(l);
  }

  emitLogs(jobId: string, chunk: LogChunk): void {
    const set = this.logListeners.get(jobId);
    if (set) for (const l of set) l(chunk);
    for (const l of this.allLogListeners) l(jobId, chunk);
  }
}
