import { test, afterEach } from "node:test";
import assert from "node:assert/strict";
import { JobStatus } from "@hodei/api";
import { WorkerAgent, type WorkerConfig } from "../src/index.js";
import { silentLogger } from "../src/logger.js";
import { HarnessControlPlane } from "./harness-control-plane.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function config(address: string, over: Partial<WorkerConfig> = {}): WorkerConfig {
  return {
    serverAddress: address,
    otpToken: "otp-xyz",
    workerId: "worker-life",
    logBatchSize: 256,
    logFlushIntervalMs: 5,
    heartbeatIntervalMs: 60_000,
    provider: "local",
    labels: {},
    maxReconnectDelayMs: 200,
    idleTimeoutMs: 0,
    ...over,
  };
}

async function harness(
  opts: Parameters<typeof HarnessControlPlane.start>[0] = {},
): Promise<HarnessControlPlane> {
  const cp = await HarnessControlPlane.start(opts);
  cleanups.push(() => cp.kill());
  return cp;
}

function agentFor(cp: HarnessControlPlane, over: Partial<WorkerConfig> = {}): WorkerAgent {
  const agent = new WorkerAgent(config(cp.address, over), silentLogger);
  cleanups.push(() => agent.stop("test over"));
  return agent;
}

function settled(p: Promise<unknown>, deadlineMs: number): Promise<"resolved" | "rejected" | "pending"> {
  return Promise.race([
    p.then(
      () => "resolved" as const,
      () => "rejected" as const,
    ),
    new Promise<"pending">((r) => setTimeout(() => r("pending"), deadlineMs)),
  ]);
}

test("against a harness control plane: a refused OTP with no session ends the worker with a clear error", async () => {
  const cp = await harness({ acceptToken: () => false });
  const agent = agentFor(cp);
  await assert.rejects(agent.start(), /HODEI_OTP_TOKEN/);
  await assert.rejects(agent.done, /HODEI_OTP_TOKEN/);
  assert.equal(cp.registrations.length, 1);
});

test("against a harness control plane: across a server restart the job keeps running, its output is kept and the worker resumes its session", async () => {
  const cp1 = await harness();
  const agent = agentFor(cp1);
  await agent.start();
  await cp1.waitFor(() => cp1.messages("hello")[0], "hello");
  const command = "for i in $(seq 1 30); do echo line-$i; sleep 0.05; done";
  cp1.send({ payload: { case: "runJob", value: { jobId: "survivor", executionId: "x1", command } } });
  await cp1.waitFor(
    () =>
      cp1
        .messages("logBatch")
        .flatMap((b) => b.lines)
        .find((l) => l.line === "line-3"),
    "line-3",
  );
  cp1.kill();
  await new Promise((r) => setTimeout(r, 400)); // a deliberate outage: the job goes on printing meanwhile
  const cp2StartedAt = Date.now();
  const cp2 = await harness({ port: cp1.port });
  const hello = await cp2.waitFor(() => cp2.messages("hello")[0], "hello after restart");
  assert.deepEqual(hello.runningJobIds, ["survivor"]);
  const reg = cp2.registrations[0]!;
  assert.equal(reg.sessionId, "session-1");
  assert.equal(reg.authToken, "otp-xyz");
  const result = await cp2.resultFor("survivor");
  assert.equal(result.status, JobStatus.COMPLETED);
  const after = cp2.messages("logBatch").flatMap((b) => b.lines);
  assert.ok(
    after.some((l) => Number(l.timestampMs) < cp2StartedAt),
    "lines printed during the outage are delivered after it",
  );
  assert.equal(after.at(-1)!.line, "line-30");
  const seqs = after.map((l) => Number(l.sequence));
  assert.ok(
    seqs.every((s, i) => i === 0 || s === seqs[i - 1]! + 1),
    `contiguous after reconnect: ${seqs}`,
  );
  assert.equal(Number(result.lastSequence), 31);
});

test("against a harness control plane: the worker keeps retrying while the server is down, then registers", async () => {
  const cp1 = await harness();
  const port = cp1.port;
  cp1.kill();
  const agent = new WorkerAgent(config(`127.0.0.1:${port}`), silentLogger);
  cleanups.push(() => agent.stop("test over"));
  const started = agent.start();
  await new Promise((r) => setTimeout(r, 300)); // let it fail a few times against the closed port
  const cp2 = await harness({ port });
  await started;
  await cp2.waitFor(() => cp2.messages("hello")[0], "hello");
  assert.equal(cp2.registrations[0]!.sessionId, "");
});

test("against a harness control plane: idle for idleTimeoutMs, the worker says self_terminate idle and stops", async () => {
  const cp = await harness();
  const agent = agentFor(cp, { idleTimeoutMs: 300 });
  await agent.start();
  const bye = await cp.waitFor(() => cp.messages("selfTerminate")[0], "self_terminate");
  assert.equal(bye.reason, "idle");
  assert.equal(await settled(agent.done, 3000), "resolved");
});

test("against a harness control plane: a clean end of the stream while idle stops the worker (no reconnect)", async () => {
  const cp = await harness();
  const agent = agentFor(cp);
  await agent.start();
  await cp.waitFor(() => cp.messages("hello")[0], "hello");
  cp.endStreams();
  assert.equal(await settled(agent.done, 3000), "resolved");
  assert.equal(cp.registrations.length, 1);
});

test("against a harness control plane: stop() cancels the running job, reports it, and resolves done", async () => {
  const cp = await harness();
  const agent = agentFor(cp);
  await agent.start();
  await cp.waitFor(() => cp.messages("hello")[0], "hello");
  cp.send({
    payload: { case: "runJob", value: { jobId: "long", executionId: "l1", command: "sleep 1000" } },
  });
  await cp.waitFor(() => cp.messages("ack")[0], "ack");
  await agent.stop("maintenance");
  const result = await cp.resultFor("long");
  assert.equal(result.status, JobStatus.CANCELLED);
  assert.match(result.errorMessage, /maintenance/);
  assert.equal(cp.messages("selfTerminate")[0]?.reason, "maintenance");
  assert.equal(await settled(agent.done, 100), "resolved");
});

test("against a harness control plane: heartbeats carry usage and the running job", async () => {
  const cp = await harness({ heartbeatIntervalMs: 50 });
  const agent = agentFor(cp);
  await agent.start();
  await cp.waitFor(() => cp.messages("hello")[0], "hello");
  cp.send({ payload: { case: "runJob", value: { jobId: "hb", executionId: "h1", command: "sleep 0.3" } } });
  const hb = await cp.waitFor(
    () => cp.messages("heartbeat").find((h) => h.runningJobIds.includes("hb")),
    "heartbeat",
  );
  assert.equal(hb.workerId, "worker-life");
  assert.ok((hb.usage?.rssBytes ?? 0n) > 0n);
  await cp.resultFor("hb");
});
