import { test } from "node:test";
import assert from "node:assert/strict";
import {
  HodeiError,
  TERMINAL_STATES,
  canTransition,
  isTerminal,
  outcomeState,
  transition,
  type JobState,
} from "../src/index.js";

const ALL: JobState[] = ["PENDING", "ASSIGNED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED", "TIMEOUT"];

test("the happy path of a job is legal step by step", () => {
  let s: JobState = "PENDING";
  for (const next of ["ASSIGNED", "RUNNING", "SUCCEEDED"] as const) s = transition(s, next);
  assert.equal(s, "SUCCEEDED");
});

test("illegal transitions are errors naming both states", () => {
  for (const [from, to] of [
    ["PENDING", "RUNNING"],
    ["PENDING", "SUCCEEDED"],
    ["RUNNING", "ASSIGNED"],
    ["SUCCEEDED", "RUNNING"],
    ["CANCELLED", "SUCCEEDED"],
  ] as const) {
    assert.throws(
      () => transition(from, to),
      (e: unknown) =>
        e instanceof HodeiError &&
        e.code === "ILLEGAL_TRANSITION" &&
        e.message.includes(from) &&
        e.message.includes(to),
    );
  }
});

test("a finished job only ever goes back to PENDING (a new attempt)", () => {
  for (const done of TERMINAL_STATES) {
    assert.deepEqual(
      ALL.filter((to) => canTransition(done, to)),
      ["PENDING"],
    );
  }
});

test("nothing stays in place and every state can end", () => {
  for (const s of ALL) {
    assert.equal(canTransition(s, s), false, `${s} → ${s}`);
    assert.ok(ALL.some((to) => isTerminal(to) && canTransition(s, to)) || isTerminal(s), `${s} can end`);
  }
});

test("cancel and timeout are reachable from every unfinished state", () => {
  for (const s of ["PENDING", "ASSIGNED", "RUNNING"] as const) {
    assert.ok(canTransition(s, "CANCELLED"));
    assert.ok(canTransition(s, "TIMEOUT"));
  }
});

test("exit code 0 succeeds, anything else fails", () => {
  assert.equal(outcomeState(0), "SUCCEEDED");
  assert.equal(outcomeState(1), "FAILED");
  assert.equal(outcomeState(137), "FAILED");
});
