/** Worker lifecycle: CREATING → CONNECTING → READY ↔ BUSY → DRAINING → TERMINATED, plus UNHEALTHY. */
import { HodeiError } from "./errors.js";

export type WorkerState =
  "CREATING" | "CONNECTING" | "READY" | "BUSY" | "DRAINING" | "TERMINATED" | "UNHEALTHY";

const allowed: Record<WorkerState, readonly WorkerState[]> = {
  CREATING: ["CONNECTING", "READY", "TERMINATED", "UNHEALTHY"],
  CONNECTING: ["READY", "TERMINATED", "UNHEALTHY"],
  READY: ["BUSY", "DRAINING", "TERMINATED", "UNHEALTHY"],
  BUSY: ["READY", "DRAINING", "TERMINATED", "UNHEALTHY"],
  DRAINING: ["TERMINATED", "UNHEALTHY"],
  UNHEALTHY: ["TERMINATED"],
  TERMINATED: [],
};

export function canWorkerTransition(from: WorkerState, to: WorkerState): boolean {
  return from === to || allowed[from].includes(to);
}

export function workerTransition(from: WorkerState, to: WorkerState): WorkerState {
  if (!canWorkerTransition(from, to)) {
    throw new HodeiError("ILLEGAL_TRANSITION", `a ${from} worker cannot become ${to}`, {
      details: { from, to },
    });
  }
  return to;
}
