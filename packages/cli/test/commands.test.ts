// The commands against a scripted server over real gRPC: requests sent, output printed, exit codes.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import {
  ExecutionEventSchema,
  JobSchema,
  JobStatus,
  LogEntrySchema,
  timestampFromMs,
  type CancelJobRequest,
  type GetLogsRequest,
  type ListJobsRequest,
  type QueueJobRequest,
  type SubscribeLogsRequest,
} from "@hodei/api";
import { runCli } from "../src/program.js";
import { captureDeps, startFakeServer } from "./fake-server.js";

process.env.TZ = "UTC";
const T0 = Date.UTC(2025, 0, 2, 3, 4, 5, 0);
const line = (seq: number, text: string, isStderr = false) =>
  create(LogEntrySchema, {
    jobId: "j1",
    line: text,
    isStderr,
    sequence: BigInt(seq),
    timestamp: timestampFromMs(T0 + seq),
  });
const finished = (status: JobStatus, exitCode?: number) =>
  create(JobSchema, {
    jobId: { value: "j1" },
    status,
    exitCode,
    startedAt: timestampFromMs(T0),
    finishedAt: timestampFromMs(T0 + 1_020),
  });

test("job run streams lines, survives a broken stream without loss or duplicates, exits with the job's code", async () => {
  const queued: QueueJobRequest[] = [];
  const subscriptions: SubscribeLogsRequest[] = [];
  const server = await startFakeServer({
    queueJob: async (req: QueueJobRequest) => {
      queued.push(req);
      return { success: true, jobId: { value: "j1" } };
    },
    subscribeLogs: (call: grpc.ServerWritableStream<SubscribeLogsRequest, unknown>) => {
      subscriptions.push(call.request);
      if (subscriptions.length === 1) {
        call.write(line(1, "$ echo hi"));
        call.write(line(2, "hi"));
        // the server goes away mid-stream
        setTimeout(() => call.emit("error", { code: grpc.status.UNAVAILABLE, details: "restarting" }), 20);
      } else {
        call.write(line(2, "hi")); // a resumed stream may repeat the last line
        call.write(line(3, "oops", true));
        call.end();
      }
    },
    getJob: async () => ({ job: finished(JobStatus.FAILED, 3) }),
  });
  try {
    const { deps, out } = captureDeps();
    const args = ["--server", server.address, "job", "run", "--command", "echo hi", "--priority", "high"];
    const code = await runCli([...args, "--env", "A=1", "--timeout", "1.5s"], deps);
    assert.equal(code, 3);
    assert.equal(
      out.stdout,
      "03:04:05.001 [OUT] $ echo hi\n03:04:05.002 [OUT] hi\n03:04:05.003 [ERR] oops\n",
    );
    assert.match(out.stderr, /^job j1 queued$/m);
    assert.match(out.stderr, /interrupted; reconnecting/);
    assert.match(out.stderr, /^job j1 FAILED exit 3 in 1\.02s$/m);
    assert.equal(queued[0]?.queuedBy, "tester");
    assert.equal(queued[0]?.jobDefinition?.command, "echo hi");
    assert.deepEqual(queued[0]?.jobDefinition?.environment, { A: "1" });
    assert.equal(queued[0]?.jobDefinition?.timeout?.executionTimeout?.nanos, 500_000_000);
    assert.deepEqual(
      subscriptions.map((s) => [s.jobId, s.includeHistory, s.sinceSequence]),
      [
        ["j1", true, 0n],
        ["j1", true, 2n],
      ],
    );
  } finally {
    await server.stop();
  }
});

test("job run maps CANCELLED to 130 and TIMEOUT to 124; --output json prints entries and the job", async () => {
  for (const [status, exit] of [
    [JobStatus.CANCELLED, 130],
    [JobStatus.TIMEOUT, 124],
    [JobStatus.COMPLETED, 0],
  ] as const) {
    const server = await startFakeServer({
      queueJob: async () => ({ success: true, jobId: { value: "j1" } }),
      subscribeLogs: (call: grpc.ServerWritableStream<unknown, unknown>) => {
        call.write(line(1, "hello"));
        call.end();
      },
      getJob: async () => ({ job: finished(status, status === JobStatus.COMPLETED ? 0 : undefined) }),
    });
    try {
      const { deps, out } = captureDeps();
      const code = await runCli(
        ["--server", server.address, "-o", "json", "job", "run", "--command", "x"],
        deps,
      );
      assert.equal(code, exit);
      const [entry, job] = out.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      assert.deepEqual(entry, {
        jobId: "j1",
        line: "hello",
        timestamp: "2025-01-02T03:04:05.001Z",
        sequence: "1",
      });
      assert.equal(job.jobId.value, "j1");
      assert.equal(out.stderr, "");
    } finally {
      await server.stop();
    }
  }
});

test("unknown jobs are reported by id with exit 4; server validation errors exit 2", async () => {
  const server = await startFakeServer({
    getJob: async () => Promise.reject({ code: grpc.status.NOT_FOUND, details: "JOB_NOT_FOUND" }),
    cancelJob: async () =>
      Promise.reject({ code: grpc.status.FAILED_PRECONDITION, details: "job j1 already finished" }),
    queueJob: async () =>
      Promise.reject({ code: grpc.status.ALREADY_EXISTS, details: "job dup already exists" }),
  });
  try {
    const cases: [string[], number, string][] = [
      [["job", "get", "nope"], 4, "error: job nope not found\n"],
      [["logs", "nope"], 4, "error: job nope not found\n"],
      [["jobs", "cancel", "j1"], 2, "error: job j1 already finished\n"],
      [["job", "queue", "--command", "x", "--id", "dup"], 2, "error: job dup already exists\n"],
    ];
    for (const [args, exit, stderr] of cases) {
      const { deps, out } = captureDeps();
      assert.equal(await runCli(["--server", server.address, ...args], deps), exit, args.join(" "));
      assert.equal(out.stderr, stderr);
    }
  } finally {
    await server.stop();
  }
});

test("logs pages through the stored log; --tail keeps the last lines", async () => {
  const pages: GetLogsRequest[] = [];
  const server = await startFakeServer({
    getJob: async () => ({ job: finished(JobStatus.COMPLETED, 0) }),
    getLogs: async (req: GetLogsRequest) => {
      pages.push(req);
      const from = Number(req.sinceSequence);
      const entries = [1, 2].map((i) => line(from + i, `line ${from + i}`));
      return { entries, hasMore: from < 4, nextSequence: BigInt(from + 2) };
    },
  });
  try {
    const all = captureDeps();
    assert.equal(await runCli(["--server", server.address, "logs", "j1"], all.deps), 0);
    assert.deepEqual(
      all.out.stdout
        .trim()
        .split("\n")
        .map((l) => l.slice(19)),
      ["line 1", "line 2", "line 3", "line 4", "line 5", "line 6"],
    );
    assert.deepEqual(
      pages.map((p) => p.sinceSequence),
      [0n, 2n, 4n],
    );
    const tail = captureDeps();
    assert.equal(await runCli(["--server", server.address, "logs", "j1", "--tail", "2"], tail.deps), 0);
    assert.deepEqual(
      tail.out.stdout
        .trim()
        .split("\n")
        .map((l) => l.slice(19)),
      ["line 5", "line 6"],
    );
  } finally {
    await server.stop();
  }
});

test("job list sends the filters on the wire and prints a table", async () => {
  const requests: ListJobsRequest[] = [];
  const server = await startFakeServer({
    listJobs: async (req: ListJobsRequest) => {
      requests.push(req);
      return { jobs: [finished(JobStatus.COMPLETED, 0)], totalCount: 1 };
    },
  });
  try {
    const { deps, out } = captureDeps();
    const args = [
      "job",
      "list",
      "--status",
      "succeeded",
      "--search",
      "echo",
      "--limit",
      "5",
      "--offset",
      "0",
    ];
    assert.equal(await runCli(["--server", server.address, ...args], deps), 0);
    assert.equal(requests[0]?.status, JobStatus.COMPLETED);
    assert.equal(requests[0]?.searchTerm, "echo");
    assert.equal(requests[0]?.limit, 5);
    assert.match(out.stdout, /^ID +NAME +STATUS +EXIT +CREATED +DURATION$/m);
    assert.match(out.stdout, /^j1 +SUCCEEDED +0 +- +1\.02s$/m);
  } finally {
    await server.stop();
  }
});

test("logs --follow without an id prints every job's lines, prefixed with the job id, until Ctrl-C", async () => {
  const subscriptions: SubscribeLogsRequest[] = [];
  let emit: ((jobId: string, status: JobStatus) => void) | undefined;
  const server = await startFakeServer({
    listJobs: async (req: ListJobsRequest) => ({
      jobs: req.status === JobStatus.RUNNING ? [finished(JobStatus.RUNNING)] : [],
    }),
    executionEventStream: (call: grpc.ServerWritableStream<unknown, unknown>) => {
      emit = (jobId, status) => call.write(create(ExecutionEventSchema, { jobId: { value: jobId }, status }));
    },
    subscribeLogs: (call: grpc.ServerWritableStream<SubscribeLogsRequest, unknown>) => {
      subscriptions.push(call.request);
      const jobId = call.request.jobId;
      call.write(
        create(LogEntrySchema, {
          jobId,
          line: `from ${jobId}`,
          sequence: 1n,
          timestamp: timestampFromMs(T0),
        }),
      );
      call.end();
    },
  });
  try {
    const { deps, out, interrupt } = captureDeps();
    const done = runCli(["--server", server.address, "logs", "--follow"], deps);
    await until(() => emit !== undefined && out.stdout.includes("from j1"));
    emit?.("j2", JobStatus.PENDING); // not started yet: nothing to follow
    emit?.("j2", JobStatus.RUNNING);
    await until(() => out.stdout.includes("from j2"));
    interrupt();
    assert.equal(await done, 130);
    assert.deepEqual(out.stdout.split("\n").sort(), [
      "",
      "j1  03:04:05.000 [OUT] from j1",
      "j2  03:04:05.000 [OUT] from j2",
    ]);
    // a job already running is followed from now; one that starts later from its first line
    assert.deepEqual(
      subscriptions.map((s) => [s.jobId, s.includeHistory]),
      [
        ["j1", false],
        ["j2", true],
      ],
    );
  } finally {
    await server.stop();
  }
});

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

test("Ctrl-C during job run cancels the job, keeps following to its end and exits 130", async () => {
  let cancelled: CancelJobRequest | undefined;
  let endStream: (() => void) | undefined;
  const server = await startFakeServer({
    queueJob: async () => ({ success: true, jobId: { value: "j1" } }),
    subscribeLogs: (call: grpc.ServerWritableStream<unknown, unknown>) => {
      call.write(line(1, "working"));
      endStream = () => {
        call.write(line(2, "Job cancelled"));
        call.end();
      };
    },
    cancelJob: async (req: CancelJobRequest) => {
      cancelled = req;
      setTimeout(() => endStream?.(), 10);
      return { success: true, message: "cancelling" };
    },
    getJob: async () => ({ job: finished(cancelled ? JobStatus.CANCELLED : JobStatus.RUNNING) }),
  });
  try {
    const { deps, out, interrupt } = captureDeps();
    const done = runCli(["--server", server.address, "job", "run", "--command", "sleep 60"], deps);
    await until(() => out.stdout.includes("working"));
    interrupt();
    assert.equal(await done, 130);
    assert.equal(cancelled?.jobId?.value, "j1");
    assert.match(out.stdout, /\[OUT\] Job cancelled$/m);
    assert.match(out.stderr, /^cancelling job j1 \(press Ctrl-C again to stop waiting\)$/m);
    assert.match(out.stderr, /^job j1 CANCELLED in 1\.02s$/m);
  } finally {
    await server.stop();
  }
});
