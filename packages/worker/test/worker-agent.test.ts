import { test, afterEach } from "node:test";
import assert from "node:assert/strict";
import { JobStatus, type LogLine } from "@hodei/api";
import { WorkerAgent, type WorkerConfig } from "../src/index.js";
import { silentLogger } from "../src/logger.js";
import { readdirSync, readFileSync } from "node:fs";
import { defaultSpawnHelper } from "../src/job-process.js";
import { liveGroupMembers } from "../src/process-group.js";
import { groupHas } from "./run-job.js";
import { HarnessControlPlane } from "./harness-control-plane.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function config(address: string, over: Partial<WorkerConfig> = {}): WorkerConfig {
  return {
    serverAddress: address,
    otpToken: "otp-123",
    workerId: "worker-test",
    logBatchSize: 256,
    logFlushIntervalMs: 5,
    heartbeatIntervalMs: 60_000,
    provider: "local",
    labels: { zone: "test" },
    maxReconnectDelayMs: 200,
    idleTimeoutMs: 0,
    ...over,
  };
}

async function setup(
  over: Partial<WorkerConfig> = {},
): Promise<{ cp: HarnessControlPlane; agent: WorkerAgent }> {
  const cp = await HarnessControlPlane.start();
  cleanups.push(() => cp.kill());
  const agent = new WorkerAgent(config(cp.address, over), silentLogger);
  cleanups.push(() => agent.stop("test over"));
  await agent.start();
  await cp.waitFor(() => cp.messages("hello")[0], "hello");
  return { cp, agent };
}

function runJob(
  cp: HarnessControlPlane,
  jobId: string,
  command: string,
  extra: { timeoutMs?: bigint } = {},
): void {
  cp.send({ payload: { case: "runJob", value: { jobId, executionId: `${jobId}-e1`, command, ...extra } } });
}

function linesOf(cp: HarnessControlPlane, jobId: string): { line: LogLine; at: number }[] {
  const out: { line: LogLine; at: number }[] = [];
  for (const r of cp.received) {
    const p = r.message.payload;
    if (p.case === "logBatch" && p.value.jobId === jobId)
      for (const line of p.value.lines) out.push({ line, at: r.at });
  }
  return out;
}

test("against a harness control plane: registers with the OTP and worker info, then says hello", async () => {
  const { cp } = await setup();
  const reg = cp.registrations[0]!;
  assert.equal(reg.authToken, "otp-123");
  assert.equal(reg.sessionId, "");
  assert.equal(reg.workerInfo?.workerId, "worker-test");
  assert.equal(reg.workerInfo?.provider, "local");
  assert.deepEqual(reg.workerInfo?.labels, { zone: "test" });
  assert.ok((reg.workerInfo?.capacity?.cpuCores ?? 0) >= 1);
  assert.ok(["x86_64", "aarch64"].includes(reg.workerInfo?.capacity?.architecture ?? ""));
  assert.equal(reg.workerInfo?.pid, process.pid);
  const hello = cp.messages("hello")[0]!;
  assert.deepEqual([hello.workerId, hello.sessionId, hello.runningJobIds], ["worker-test", "session-1", []]);
});

/** Names (comm) of this process's children. */
function childNames(): string[] {
  const names: string[] = [];
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    let stat = "";
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      continue; // gone meanwhile
    }
    const m = /^\d+ \((.*)\) \S+ (\d+)/.exec(stat);
    if (m && Number(m[2]) === process.pid) names.push(m[1]!);
  }
  return names;
}

test("against a harness control plane: hodei-spawn is started by the answer to the hello, before any job comes", async () => {
  const spawnHelper = defaultSpawnHelper();
  assert.ok(spawnHelper, "hodei-spawn is built (npm run build)");
  assert.ok(!childNames().includes("hodei-spawn"), "no helper before the agent starts");
  const { cp } = await setup({ spawnHelper });
  // The control plane's answer to the hello starts it.
  await cp.waitFor(() => (childNames().includes("hodei-spawn") ? true : undefined), "hodei-spawn");
  runJob(cp, "job-first", "echo first");
  const result = await cp.resultFor("job-first");
  assert.equal(result.status, JobStatus.COMPLETED);
  assert.deepEqual(
    linesOf(cp, "job-first").map((l) => l.line.line),
    ["$ echo first", "first"],
  );
});

test("against a harness control plane: output streams live, line by line, before the job ends", async () => {
  const { cp } = await setup();
  runJob(cp, "live", "echo 'Step 1' && sleep 1 && echo 'Step 2'");
  const ack = await cp.waitFor(() => cp.messages("ack").find((a) => a.jobId === "live"), "ack");
  assert.equal(ack.accepted, true);
  const result = await cp.resultFor("live");
  assert.equal(result.status, JobStatus.COMPLETED);
  assert.equal(result.exitCode, 0);
  const lines = linesOf(cp, "live");
  assert.deepEqual(
    lines.map((l) => [l.line.line, Number(l.line.sequence)]),
    [
      ["$ echo 'Step 1' && sleep 1 && echo 'Step 2'", 1],
      ["Step 1", 2],
      ["Step 2", 3],
    ],
  );
  const gap = lines[2]!.at - lines[1]!.at;
  assert.ok(gap >= 800, `Step 2 arrived ${gap} ms after Step 1: not streamed live`);
  assert.equal(Number(result.lastSequence), 3);
});

test("against a harness control plane: a job's acceptance comes first, with its first lines, while it runs", async () => {
  const { cp } = await setup();
  runJob(cp, "held", "sleep 1");
  await cp.resultFor("held");
  const kinds = cp.received
    .filter((r) => {
      const p = r.message.payload;
      return (p.case === "ack" || p.case === "logBatch" || p.case === "result") && p.value.jobId === "held";
    })
    .map((r) => ({ kind: r.message.payload.case, at: r.at }));
  assert.deepEqual(
    kinds.map((k) => k.kind),
    ["ack", "logBatch", "result"],
  );
  const [ack, header, result] = kinds;
  assert.ok(header!.at - ack!.at < 500, "the acceptance is held back only until the first lines go");
  assert.ok(
    result!.at - ack!.at >= 800,
    `acknowledged ${result!.at - ack!.at} ms before the end of a 1 s job`,
  );
});

test("against a harness control plane: a short job's acceptance, header and result come in one frame", async () => {
  // The header (and the acceptance with it) waits up to the flush interval for the job's end: a
  // long one, so that even on a loaded machine all three are ready in the same turn.
  const { cp } = await setup({ logFlushIntervalMs: 2000 });
  runJob(cp, "short", "true");
  await cp.resultFor("short");
  const mine = cp.received.filter((r) => {
    const p = r.message.payload;
    return (p.case === "ack" || p.case === "logBatch" || p.case === "result") && p.value.jobId === "short";
  });
  assert.deepEqual(
    mine.map((r) => r.message.payload.case),
    ["ack", "logBatch", "result"],
  );
  assert.equal(new Set(mine.map((r) => r.frame)).size, 1, "one write on the worker, one read here");
});

test("against a harness control plane: a failing command reports FAILED with its exit code", async () => {
  const { cp } = await setup();
  runJob(cp, "fails", "echo bad >&2; exit 42");
  const result = await cp.resultFor("fails");
  assert.equal(result.status, JobStatus.FAILED);
  assert.equal(result.exitCode, 42);
  assert.deepEqual(
    linesOf(cp, "fails").map((l) => [l.line.line, l.line.isStderr]),
    [
      ["$ echo bad >&2; exit 42", false],
      ["bad", true],
    ],
  );
});

test("against a harness control plane: cancel kills every process of the job and reports CANCELLED", async () => {
  const { cp } = await setup();
  runJob(cp, "cancel-me", "echo $$; sleep 1000 & sleep 1000; wait");
  const pidLine = await cp.waitFor(
    () => linesOf(cp, "cancel-me").find((l) => /^\d+$/.test(l.line.line)),
    "pid line",
  );
  const pgid = Number(pidLine.line.line);
  assert.ok(await groupHas(pgid, 2), "the job's processes are running");
  cp.send({ payload: { case: "cancel", value: { jobId: "cancel-me", reason: "user pressed cancel" } } });
  const result = await cp.resultFor("cancel-me");
  assert.equal(result.status, JobStatus.CANCELLED);
  assert.equal(result.errorMessage, "user pressed cancel");
  // Zombies do not count: this sandbox's PID 1 does not reap orphans, so kill(-pgid, 0) would still succeed.
  const deadline = Date.now() + 1000;
  while ((await liveGroupMembers(pgid)).length > 0 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(await liveGroupMembers(pgid), []);
});

test("against a harness control plane: timeout_ms 300 on sleep 10 reports TIMEOUT well within a second", async () => {
  const { cp } = await setup();
  const sent = Date.now();
  runJob(cp, "slow", "sleep 10", { timeoutMs: 300n });
  const result = await cp.resultFor("slow");
  const took = Date.now() - sent;
  assert.equal(result.status, JobStatus.TIMEOUT);
  assert.ok(took >= 300 && took < 900, `TIMEOUT after ${took} ms`);
  assert.ok(linesOf(cp, "slow").some((l) => l.line.isStderr && l.line.line === "Job timed out after 300ms"));
});

test("against a harness control plane: seq 200000 delivers every line in order with contiguous sequences", async (t) => {
  const { cp } = await setup();
  const started = Date.now();
  runJob(cp, "volume", "seq 200000");
  const result = await cp.resultFor("volume");
  const ms = Date.now() - started;
  assert.equal(result.status, JobStatus.COMPLETED);
  const lines = linesOf(cp, "volume");
  assert.equal(lines.length, 200_001);
  for (let i = 1; i < lines.length; i++) {
    const l = lines[i]!.line;
    if (l.line !== String(i) || Number(l.sequence) !== i + 1)
      assert.fail(`line ${i}: ${l.line} seq ${l.sequence}`);
  }
  assert.equal(Number(result.lastSequence), 200_001);
  t.diagnostic(`seq 200000: ${ms} ms, ${Math.round(200_000 / (ms / 1000))} lines/s`);
});

test("against a harness control plane: a second run_job while busy is refused", async () => {
  const { cp } = await setup();
  runJob(cp, "first", "sleep 0.5");
  runJob(cp, "second", "echo no");
  const refused = await cp.waitFor(
    () => cp.messages("ack").find((a) => a.jobId === "second"),
    "ack of second",
  );
  assert.equal(refused.accepted, false);
  assert.equal((await cp.resultFor("first")).status, JobStatus.COMPLETED);
  assert.equal(cp.messages("result").length, 1);
});
