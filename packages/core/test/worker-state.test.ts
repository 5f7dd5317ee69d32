import { test } from "node:test";
import assert from "node:assert/strict";
import { HodeiError, canWorkerTransition, workerTransition } from "../src/index.js";

test("a worker goes CREATING → CONNECTING → READY ↔ BUSY → DRAINING → TERMINATED", () => {
  let s = workerTransition("CREATING", "CONNECTING");
  s = workerTransition(s, "READY");
  s = workerTransition(s, "BUSY");
  s = workerTransition(s, "READY");
  s = workerTransition(s, "DRAINING");
  assert.equal(workerTransition(s, "TERMINATED"), "TERMINATED");
});

test("a terminated worker never comes back, an unhealthy one only ends", () => {
  for (const to of ["CREATING", "CONNECTING", "READY", "BUSY", "DRAINING", "UNHEALTHY"] as const) {
    assert.equal(canWorkerTransition("TERMINATED", to), false);
  }
  assert.throws(() => workerTransition("UNHEALTHY", "READY"), HodeiError);
  assert.equal(workerTransition("UNHEALTHY", "TERMINATED"), "TERMINATED");
});
