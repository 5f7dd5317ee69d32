import { test } from "node:test";
import assert from "node:assert/strict";
import { StartBackoff, startRetryDelayMs } from "../src/index.js";

const policy = { baseMs: 1_000, capMs: 60_000 };

test("the wait after failed starts doubles from 1 s to a 60 s cap, jittered in its upper half", () => {
  const low = () => 0;
  const high = () => 0.999_999;
  assert.deepEqual(
    [1, 2, 3, 4, 7, 8, 30].map((n) => startRetryDelayMs(n, policy, low)),
    [500, 1_000, 2_000, 4_000, 30_000, 30_000, 30_000],
  );
  assert.deepEqual(
    [1, 2, 3, 7, 8].map((n) => startRetryDelayMs(n, policy, high)),
    [999, 1_999, 3_999, 59_999, 59_999],
  );
});

test("a lane waits after each failure, longer each time, and starts afresh once a worker registers", () => {
  const b = new StartBackoff(policy, () => 0.5);
  assert.equal(b.waitMs("k8s|img", 0), 0, "nothing failed yet");
  const first = b.failed("k8s|img", "image pull failed", 0, 100);
  assert.equal(first.failures, 1);
  assert.equal(first.retryAtMs, 100 + 750);
  assert.equal(b.waitMs("k8s|img", 500), 350);
  assert.equal(b.waitMs("k8s|img", 900), 0);
  assert.equal(b.waitMs("other", 500), 0, "other lanes are not held back");

  const second = b.failed("k8s|img", "image pull failed again", 900, 1_500);
  assert.deepEqual(second, {
    failures: 2,
    reason: "image pull failed again",
    failedAtMs: 1_500,
    retryAtMs: 1_500 + 1_500,
  });
  assert.equal(b.started("k8s|img")?.failures, 2);
  assert.equal(b.last("k8s|img"), undefined);
  assert.equal(b.waitMs("k8s|img", 1_600), 0);
  assert.equal(b.failed("k8s|img", "again", 1_600, 2_000).failures, 1, "counting starts over");
});

test("workers started together that fail together count as one failure", () => {
  const b = new StartBackoff(policy, () => 0.5);
  b.failed("lane", "first", 0, 1_000);
  const sibling = b.failed("lane", "second", 10, 1_020);
  assert.equal(sibling.failures, 1);
  assert.equal(sibling.retryAtMs, 1_000 + 750, "the wait is not lengthened");
  assert.equal(sibling.reason, "second", "the latest reason is kept");
  assert.equal(b.failed("lane", "retry", 1_750, 2_000).failures, 2, "a worker started after it counts");
});
