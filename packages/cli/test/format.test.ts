import { test } from "node:test";
import assert from "node:assert/strict";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  GetQueueStatusResponseSchema,
  JobSchema,
  JobStatus,
  LogEntrySchema,
  Priority,
  providers,
  timestampFromMs,
  WorkerInfoSchema,
} from "@hodei/api";
import { formatBytes, formatDuration, formatKeyValues, formatTable, truncate } from "../src/format.js";
import { formatProvidersTable, formatQueueStatus, formatWorkersTable } from "../src/format-cluster.js";
import {
  formatJobDetails,
  formatJobsTable,
  formatJobSummary,
  formatLogLine,
  jobRunExitCode,
} from "../src/format-job.js";

process.env.TZ = "UTC";
const T0 = Date.UTC(2025, 0, 2, 3, 4, 5, 67);

function job(over: MessageInitShape<typeof JobSchema> = {}) {
  return create(JobSchema, {
    jobId: { value: "hello-1" },
    name: "hello",
    status: JobStatus.COMPLETED,
    exitCode: 0,
    createdAt: timestampFromMs(T0),
    startedAt: timestampFromMs(T0 + 100),
    finishedAt: timestampFromMs(T0 + 1_120),
    definition: { command: "echo", arguments: ["Hello from Hodei!"] },
    ...(over as object),
  });
}

test("a log line shows local time with milliseconds, the stream and the text", () => {
  const entry = create(LogEntrySchema, {
    jobId: "j",
    line: "hi",
    timestamp: timestampFromMs(T0),
    sequence: 1n,
  });
  assert.equal(formatLogLine(entry), "03:04:05.067 [OUT] hi");
  assert.equal(formatLogLine({ ...entry, isStderr: true }, "j  "), "j  03:04:05.067 [ERR] hi");
});

test("durations read naturally at every scale", () => {
  assert.equal(formatDuration(850), "850ms");
  assert.equal(formatDuration(1_020), "1.02s");
  assert.equal(formatDuration(42_500), "42.5s");
  assert.equal(formatDuration(123_000), "2m03s");
  assert.equal(formatDuration(3_720_000), "1h02m");
  assert.equal(formatDuration(-1), "-");
});

test("sizes, truncation, tables and key-value blocks", () => {
  assert.equal(formatBytes(0n), "-");
  assert.equal(formatBytes(512), "512 B");
  assert.equal(formatBytes(1610612736n), "1.5 GiB");
  assert.equal(formatBytes(2n ** 30n), "1 GiB");
  assert.equal(truncate("abcdef", 4), "abc…");
  assert.equal(truncate("a\n  b", 10), "a b");
  assert.equal(
    formatTable(
      ["A", "LONG"],
      [
        ["xyz", "1"],
        ["", "22"],
      ],
    ),
    "A    LONG\nxyz  1\n     22",
  );
  assert.equal(
    formatKeyValues([
      ["id", "1"],
      ["skipped", undefined],
      ["exit code", "0"],
    ]),
    "id:         1\nexit code:  0",
  );
});

test("the jobs table aligns its columns and shows human states", () => {
  const running = job({
    jobId: { value: "a-much-longer-job-id" },
    name: "a-much-longer-job-id",
    status: JobStatus.RUNNING,
    exitCode: undefined,
    finishedAt: undefined,
  });
  const text = formatJobsTable([job(), running], T0 + 2_100);
  assert.equal(
    text,
    [
      "ID                    NAME                      STATUS     EXIT  CREATED              DURATION",
      "hello-1               hello                     SUCCEEDED  0     2025-01-02 03:04:05  1.02s",
      "a-much-longer-job-id  echo 'Hello from Hodei!'  RUNNING    -     2025-01-02 03:04:05  2.00s",
    ].join("\n"),
  );
});

test("job details list the fields people look for, and each execution", () => {
  const text = formatJobDetails(
    job({
      priority: Priority.HIGH,
      workerId: "w-1",
      attempt: 1,
      queuedBy: "alice",
      executions: [
        {
          executionId: "e-1",
          attempt: 1,
          workerId: "w-1",
          status: JobStatus.COMPLETED,
          exitCode: 0,
          startedAt: timestampFromMs(T0 + 100),
          finishedAt: timestampFromMs(T0 + 1_120),
        },
      ],
    }),
    T0,
  );
  assert.match(text, /^id: +hello-1$/m);
  assert.match(text, /^status: +SUCCEEDED$/m);
  assert.match(text, /^exit code: +0$/m);
  assert.match(text, /^command: +echo 'Hello from Hodei!'$/m);
  assert.match(text, /^priority: +HIGH$/m);
  assert.match(text, /^started: +2025-01-02 03:04:05$/m);
  assert.match(text, /^worker: +w-1$/m);
  assert.match(text, /^ +#1 +e-1 +SUCCEEDED +0 +w-1 +2025-01-02 03:04:05 +1\.02s$/m);
  assert.doesNotMatch(text, /message:/);
});

test("the run summary and exit code follow the final state", () => {
  assert.equal(formatJobSummary(job(), T0), "job hello-1 SUCCEEDED exit 0 in 1.02s");
  const failed = job({ status: JobStatus.FAILED, exitCode: 3, message: "exit status 3" });
  assert.equal(formatJobSummary(failed, T0), "job hello-1 FAILED exit 3 in 1.02s: exit status 3");
  assert.equal(jobRunExitCode(job()), 0);
  assert.equal(jobRunExitCode(failed), 3);
  assert.equal(jobRunExitCode(job({ status: JobStatus.FAILED, exitCode: undefined })), 1);
  assert.equal(jobRunExitCode(job({ status: JobStatus.FAILED, exitCode: 0 })), 1);
  assert.equal(jobRunExitCode(job({ status: JobStatus.FAILED, exitCode: 300 })), 1);
  assert.equal(jobRunExitCode(job({ status: JobStatus.CANCELLED, exitCode: undefined })), 130);
  assert.equal(jobRunExitCode(job({ status: JobStatus.TIMEOUT, exitCode: 137 })), 124);
});

test("workers, queue status and providers render as tables and key-values", () => {
  const w = create(WorkerInfoSchema, {
    workerId: "w-1",
    state: "BUSY",
    provider: "local",
    hostname: "box",
    capacity: { cpuCores: 4, memoryBytes: 8n * 2n ** 30n },
    currentJobId: "hello-1",
    lastHeartbeat: timestampFromMs(T0 - 3_000),
  });
  assert.equal(
    formatWorkersTable([w], T0),
    "ID   STATE  PROVIDER  HOST  CPU  MEMORY  JOB      HEARTBEAT\n" +
      "w-1  BUSY   local     box   4    8 GiB   hello-1  3.00s ago",
  );
  const q = formatQueueStatus(
    create(GetQueueStatusResponseSchema, {
      pendingJobs: 2n,
      completedJobs: 5n,
      totalJobs: 7n,
      readyWorkers: 1,
    }),
  );
  assert.match(q, /^pending: +2$/m);
  assert.match(q, /^succeeded: +5$/m);
  assert.match(q, /^workers: +1 ready, 0 busy, 0 provisioning$/m);
  const p = create(providers.ProviderSchema, {
    id: "local",
    name: "local",
    type: "local",
    enabled: true,
    health: "2 local worker process(es)",
    healthy: true,
    maxWorkers: 4,
  });
  const sick = create(providers.ProviderSchema, {
    name: "docker",
    type: "docker",
    enabled: false,
    health: "engine unreachable",
    healthy: false,
  });
  assert.equal(
    formatProvidersTable([p, sick]),
    "NAME    TYPE    ENABLED  MAX WORKERS  HEALTH\n" +
      "local   local   yes      4            ok: 2 local worker process(es)\n" +
      "docker  docker  no       -            UNHEALTHY: engine unreachable",
  );
});
