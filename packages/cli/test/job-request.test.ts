import { test } from "node:test";
import assert from "node:assert/strict";
import { create, toJson } from "@bufbuild/protobuf";
import { Priority, QueueJobRequestSchema } from "@hodei/api";
import { UsageError } from "../src/errors.js";
import { buildQueueJobRequest, scriptInterpreter } from "../src/job-request.js";

const wire = (init: Parameters<typeof create<typeof QueueJobRequestSchema>>[1]) =>
  toJson(QueueJobRequestSchema, create(QueueJobRequestSchema, init), { useProtoFieldName: true });

test("every flag lands in its field of the job definition", () => {
  const req = buildQueueJobRequest(
    {
      name: "build",
      command: "npm",
      args: ["run", "build"],
      env: ["NODE_ENV=production", "A=b=c"],
      secret: ["TOKEN=s3cr3t"],
      timeout: "1.5s",
      priority: "high",
      image: "node:20",
      provider: "docker",
      cpu: "500m",
      memory: "1Gi",
      label: ["zone=eu", "gpu=no"],
      maxRetries: "3",
      id: "build-42",
      workdir: "/src",
      queuedBy: "alice",
    },
    undefined,
    "cli",
  );
  assert.deepEqual(wire(req), {
    job_definition: {
      job_id: { value: "build-42" },
      name: "build",
      command: "npm",
      arguments: ["run", "build"],
      environment: { NODE_ENV: "production", A: "b=c" },
      requirements: { cpu_cores: 0.5, memory_bytes: "1073741824" },
      scheduling: {
        priority: "PRIORITY_HIGH",
        preferred_provider: "docker",
        required_labels: { zone: "eu", gpu: "no" },
      },
      timeout: { execution_timeout: "1.500s" },
      image: "node:20",
      working_dir: "/src",
      secrets: { TOKEN: "s3cr3t" },
      max_retries: 3,
    },
    queued_by: "alice",
  });
});

test("a bare command leaves everything else to the server's defaults", () => {
  const req = buildQueueJobRequest({ command: "echo hi" }, undefined, "bob");
  assert.equal(req.queuedBy, "bob");
  assert.equal(req.jobDefinition?.jobId, undefined);
  assert.equal(req.jobDefinition?.timeout, undefined);
  assert.equal(req.jobDefinition?.scheduling?.priority, undefined);
  assert.equal(create(QueueJobRequestSchema, req).jobDefinition?.scheduling?.priority, Priority.UNSPECIFIED);
});

test("a script is sent with its interpreter and named after its file", () => {
  const req = buildQueueJobRequest({}, { path: "/tmp/etl.py", content: "print('hi')\n" }, "cli");
  assert.equal(req.jobDefinition?.name, "etl.py");
  assert.equal(req.jobDefinition?.command, "");
  assert.deepEqual(req.jobDefinition?.script, { interpreter: "python3", content: "print('hi')\n" });
});

test("the interpreter comes from the #! line, then the extension, else bash", () => {
  assert.equal(scriptInterpreter("x", "#!/usr/bin/env python3\nprint(1)"), "python3");
  assert.equal(scriptInterpreter("x.sh", "#!/usr/bin/python3.11\n"), "python3");
  assert.equal(scriptInterpreter("x", "#!/usr/bin/env -S node --no-warnings\n"), "node");
  assert.equal(scriptInterpreter("x.py", "#!/bin/sh\n"), "sh");
  assert.equal(scriptInterpreter("x.py", "print(1)"), "python3");
  assert.equal(scriptInterpreter("x.js", "console.log(1)"), "node");
  assert.equal(scriptInterpreter("x.txt", "echo hi"), "bash");
  assert.throws(() => scriptInterpreter("x", "#!/usr/bin/perl\n"), /unsupported interpreter "perl"/);
});

test("mistakes are usage errors naming the flag", () => {
  const cases: [Parameters<typeof buildQueueJobRequest>[0], RegExp][] = [
    [{ command: "x", priority: "urgent" }, /^--priority: unknown priority "urgent"/],
    [{ command: "x", timeout: "soon" }, /^--timeout: invalid duration "soon"/],
    [{ command: "x", timeout: "0s" }, /^--timeout: must be greater than zero/],
    [{ command: "x", env: ["NOPE"] }, /^--env: expected KEY=VALUE, got "NOPE"/],
    [{ command: "x", env: ["1A=b"] }, /^--env: invalid variable name "1A"/],
    [{ command: "x", secret: ["=v"] }, /^--secret: expected KEY=VALUE/],
    [{ command: "x", label: ["zone"] }, /^--label: expected KEY=VALUE/],
    [{ command: "x", memory: "big" }, /^--memory: invalid memory size "big"/],
    [{ command: "x", cpu: "lots" }, /^--cpu: invalid cpu "lots"/],
    [{ command: "x", maxRetries: "101" }, /^--max-retries: expected a whole number between 0 and 100/],
    [{ command: "x", id: "has space" }, /^--id: must be 1-128 characters/],
    [{}, /needs --command <text> or --script <file>/],
  ];
  for (const [flags, message] of cases) {
    assert.throws(
      () => buildQueueJobRequest(flags, undefined, "cli"),
      (e: unknown) => e instanceof UsageError && e.exitCode === 2 && message.test(e.message),
      String(message),
    );
  }
  assert.throws(
    () => buildQueueJobRequest({ command: "x" }, { path: "a.sh", content: "echo" }, "cli"),
    /either --command or --script, not both/,
  );
  assert.throws(() => buildQueueJobRequest({}, { path: "a.sh", content: "  \n" }, "cli"), /a.sh is empty/);
});
