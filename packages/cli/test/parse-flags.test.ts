import { test } from "node:test";
import assert from "node:assert/strict";
import { UsageError } from "../src/errors.js";
import {
  durationFromMs,
  keyValuesToRecord,
  parseCount,
  parseCpuCores,
  parseDurationMs,
  parseJobState,
  parseKeyValue,
  parseMemoryBytes,
  parsePriority,
} from "../src/parse-flags.js";

test("durations accept ms, s, m, h, compound forms and plain seconds", () => {
  assert.equal(parseDurationMs("300ms"), 300);
  assert.equal(parseDurationMs("10s"), 10_000);
  assert.equal(parseDurationMs("1.5s"), 1_500);
  assert.equal(parseDurationMs("5m"), 300_000);
  assert.equal(parseDurationMs("1h"), 3_600_000);
  assert.equal(parseDurationMs("1h30m"), 5_400_000);
  assert.equal(parseDurationMs("300"), 300_000);
  assert.equal(parseDurationMs(" 2 "), 2_000);
});

test("bad durations are usage errors that quote the input", () => {
  for (const bad of ["", "ten", "10x", "5 m", "-3s", "1h30", "s"]) {
    assert.throws(
      () => parseDurationMs(bad),
      (e: unknown) => e instanceof UsageError && e.exitCode === 2,
      bad,
    );
  }
  assert.throws(() => parseDurationMs("10x"), /invalid duration "10x"/);
});

test("a protobuf Duration keeps millisecond precision in nanos", () => {
  assert.deepEqual(durationFromMs(1_500), { seconds: 1n, nanos: 500_000_000 });
  assert.deepEqual(durationFromMs(300), { seconds: 0n, nanos: 300_000_000 });
  assert.deepEqual(durationFromMs(600_000), { seconds: 600n, nanos: 0 });
});

test("memory sizes accept bytes, binary and decimal units", () => {
  assert.equal(parseMemoryBytes("1024"), 1024n);
  assert.equal(parseMemoryBytes("512Mi"), 512n * 1024n * 1024n);
  assert.equal(parseMemoryBytes("1Gi"), 1073741824n);
  assert.equal(parseMemoryBytes("1GiB"), 1073741824n);
  assert.equal(parseMemoryBytes("500M"), 500_000_000n);
  assert.equal(parseMemoryBytes("2g"), 2_000_000_000n);
  assert.equal(parseMemoryBytes("1.5Gi"), 1610612736n);
  for (const bad of ["", "lots", "12Qi", "-1Gi", "1 Gi Gi"])
    assert.throws(() => parseMemoryBytes(bad), UsageError, bad);
});

test("cpu accepts cores and millicores", () => {
  assert.equal(parseCpuCores("2"), 2);
  assert.equal(parseCpuCores("0.5"), 0.5);
  assert.equal(parseCpuCores("500m"), 0.5);
  for (const bad of ["0", "-1", "many", "2000"]) assert.throws(() => parseCpuCores(bad), UsageError, bad);
});

test("K=V splits at the first = and needs a key", () => {
  assert.deepEqual(parseKeyValue("A=1"), ["A", "1"]);
  assert.deepEqual(parseKeyValue("URL=a=b"), ["URL", "a=b"]);
  assert.deepEqual(parseKeyValue("EMPTY="), ["EMPTY", ""]);
  assert.throws(() => parseKeyValue("NOVALUE"), /expected KEY=VALUE, got "NOVALUE"/);
  assert.throws(() => parseKeyValue("=x"), UsageError);
  assert.deepEqual(keyValuesToRecord(["A=1", "B=2", "A=3"]), { A: "3", B: "2" });
});

test("priorities are case-insensitive and closed", () => {
  assert.equal(parsePriority("high"), "HIGH");
  assert.equal(parsePriority("Critical"), "CRITICAL");
  assert.equal(parsePriority("PRIORITY_LOW"), "LOW");
  assert.throws(
    () => parsePriority("urgent"),
    /unknown priority "urgent" \(use low, normal, high or critical\)/,
  );
});

test("job states accept the human and the wire names", () => {
  assert.equal(parseJobState("succeeded"), "SUCCEEDED");
  assert.equal(parseJobState("COMPLETED"), "SUCCEEDED");
  assert.equal(parseJobState("JOB_STATUS_RUNNING"), "RUNNING");
  assert.equal(parseJobState("queued"), "PENDING");
  assert.throws(() => parseJobState("done"), /unknown status "done"/);
});

test("counts are whole numbers within bounds", () => {
  assert.equal(parseCount("0"), 0);
  assert.equal(parseCount("50", 1000), 50);
  assert.throws(() => parseCount("1001", 1000), UsageError);
  assert.throws(() => parseCount("1.5"), UsageError);
  assert.throws(() => parseCount("-1"), UsageError);
});
