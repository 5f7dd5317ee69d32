import { test } from "node:test";
import assert from "node:assert/strict";
import {
  retryDelayMs,
  HodeiError,
  backoffDelayMs,
  commandJobSpec,
  commandLine,
  DEFAULT_EXECUTION_TIMEOUT_MS,
  DEFAULT_HEARTBEAT_TIMEOUT_MS,
  shellQuote,
  validateJobId,
  validateJobSpec,
  type JobSpec,
} from "../src/index.js";

function spec(over: Partial<JobSpec> = {}): JobSpec {
  return commandJobSpec("job-1", "echo hi", {
    name: "n",
    executionTimeoutMs: 1000,
    heartbeatTimeoutMs: 1000,
    ...over,
  });
}

function field(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof HodeiError);
    assert.equal(e.code, "INVALID_ARGUMENT");
    return String(e.details.field);
  }
  assert.fail("expected an INVALID_ARGUMENT error");
}

test("arguments are shell-quoted after the command, which is taken as written", () => {
  assert.equal(commandLine("echo", ["Hello from Hodei!"]), "echo 'Hello from Hodei!'");
  assert.equal(commandLine("echo 'a' | grep a", []), "echo 'a' | grep a");
  assert.equal(commandLine("/bin/bash", ["-c", "cd /tmp && ls"]), "/bin/bash -c 'cd /tmp && ls'");
  assert.equal(shellQuote("it's"), `'it'\\''s'`);
  assert.equal(shellQuote(""), "''");
  assert.equal(shellQuote("plain-arg_1.txt"), "plain-arg_1.txt");
});

test("job ids are 1-128 characters of [A-Za-z0-9._-]", () => {
  assert.equal(validateJobId("my-first-job"), "my-first-job");
  assert.equal(validateJobId("a".repeat(128)), "a".repeat(128));
  for (const bad of ["", "bad id!", "a".repeat(129), "x/y", "ñ"])
    assert.equal(
      field(() => validateJobId(bad)),
      "job_id.value",
    );
});

test("each rule names the field it rejects", () => {
  assert.equal(
    field(() => validateJobSpec(spec({ command: "  " }))),
    "job_definition.command",
  );
  assert.equal(
    field(() => validateJobSpec(spec({ executionTimeoutMs: -1 }))),
    "job_definition.timeout.execution_timeout",
  );
  assert.equal(
    field(() => validateJobSpec(spec({ maxRetries: -1 }))),
    "job_definition.max_retries",
  );
  assert.equal(
    field(() => validateJobSpec(spec({ environment: { "1BAD": "x" } }))),
    "job_definition.environment",
  );
  assert.equal(
    field(() => validateJobSpec(spec({ command: "", script: { interpreter: "ruby", content: "puts 1" } }))),
    "job_definition.script.interpreter",
  );
  assert.equal(
    field(() => validateJobSpec(spec({ requirements: { ...spec().requirements, memoryBytes: -5 } }))),
    "job_definition.requirements.memory_bytes",
  );
});

test("a script alone is a valid job", () => {
  const s = spec({ command: "", script: { interpreter: "python3", content: "print(1)" } });
  assert.equal(validateJobSpec(s), s);
});

test("backoff grows exponentially, is capped and jittered", () => {
  assert.equal(
    backoffDelayMs(0, 100, 5000, () => 0.999),
    99,
  );
  assert.equal(
    backoffDelayMs(3, 100, 5000, () => 0.5),
    400,
  );
  assert.equal(
    backoffDelayMs(20, 100, 5000, () => 0.999),
    4995,
  );
  assert.equal(
    backoffDelayMs(5, 100, 5000, () => 0),
    0,
  );
});

test("retries follow failures, timeouts and lost workers while attempts remain, never a cancel", () => {
  const half = () => 0.5;
  const policy = { baseMs: 1000, capMs: 60_000 };
  assert.equal(retryDelayMs("FAILED", 1, 2, policy, half), 500);
  assert.equal(retryDelayMs("TIMEOUT", 2, 2, policy, half), 1000);
  assert.equal(retryDelayMs("FAILED", 3, 2, policy, half), null, "the third attempt was the last");
  assert.equal(retryDelayMs("CANCELLED", 1, 5, policy, half), null);
  assert.equal(retryDelayMs("SUCCEEDED", 1, 5, policy, half), null);
  assert.equal(retryDelayMs("FAILED", 1, 0, policy, half), null, "no retries by default");
});

test("commandJobSpec: a valid job of its command with the defaults, the given fields over them", () => {
  const s = commandJobSpec("j-1", "echo hi", { priority: "HIGH", tags: ["a"] });
  assert.deepEqual(validateJobSpec(s), s);
  assert.deepEqual(
    [s.id, s.name, s.command, s.priority, s.tags, s.executionTimeoutMs, s.heartbeatTimeoutMs],
    ["j-1", "j-1", "echo hi", "HIGH", ["a"], DEFAULT_EXECUTION_TIMEOUT_MS, DEFAULT_HEARTBEAT_TIMEOUT_MS],
  );
});
