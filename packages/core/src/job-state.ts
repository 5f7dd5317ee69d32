/** Job lifecycle: PENDING → ASSIGNED → RUNNING → SUCCEEDED | FAILED | CANCELLED | TIMEOUT. */
import { HodeiError } from "./errors.js";

export type JobState = "PENDING" | "ASSIGNED" | "RUNNING" | "SUCCEEDED" | "FAILED" | "CANCELLED" | "TIMEOUT";

export const TERMINAL_STATES: readonly JobState[] = ["SUCCEEDED", "FAILED", "CANCELLED", "TIMEOUT"];

export function isTerminal(s: JobState): boolean {
  return TERMINAL_STATES.includes(s);
}

const allowed: Record<JobState, readonly JobState[]> = {
  // PENDING → TIMEOUT: waited past its deadline; → FAILED: no provider can ever run it.
  PENDING: ["ASSIGNED", "CANCELLED", "TIMEOUT", "FAILED"],
  // ASSIGNED → PENDING: the worker refused or vanished before starting; the job is offered again.
  ASSIGNED: ["RUNNING", "PENDING", "SUCCEEDED", "FAILED", "CANCELLED", "TIMEOUT"],
  // RUNNING → PENDING: a retry (a new attempt).
  RUNNING: ["SUCCEEDED", "FAILED", "CANCELLED", "TIMEOUT", "PENDING"],
  SUCCEEDED: ["PENDING"],
  FAILED: ["PENDING"],
  CANCELLED: ["PENDING"],
  TIMEOUT: ["PENDING"],
};

export function canTransition(from: JobState, to: JobState): boolean {
  return allowed[from].includes(to);
}

/** Returns `to` when the transition is legal; throws ILLEGAL_TRANSITION otherwise. */
export function transition(from: JobState, to: JobState): JobState {
  if (!canTransition(from, to)) {
    throw new HodeiError("ILLEGAL_TRANSITION", `a ${from} job cannot become ${to}`, {
      details: { from, to },
    });
  }
  return to;
}

/** Terminal state for a process outcome. */
export function outcomeState(exitCode: number): JobState {
  return exitCode === 0 ? "SUCCEEDED" : "FAILED";
}
