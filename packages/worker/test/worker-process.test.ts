import { test, afterEach } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { JobStatus } from "@hodei/api";
import { runWorkerMain } from "../src/index.js";
import { silentLogger } from "../src/logger.js";
import { liveGroupMembers } from "../src/process-group.js";
import { groupHas } from "./run-job.js";
import { HarnessControlPlane } from "./harness-control-plane.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const entry = new URL("../src/index.js", import.meta.url).href;
const script = `
import { runWorkerMain } from ${JSON.stringify(entry)};
const log = (level) => (o, m) => process.stderr.write(JSON.stringify({ level, ...(typeof o === "string" ? { msg: o } : { ...o, msg: m }) }) + "\\n");
const code = await runWorkerMain(process.env, { info: log("info"), warn: log("warn"), error: log("error"), debug: () => {} });
process.exit(code);
`;

/** `hodei worker` as its own process, as a provider starts it. */
function startWorkerProcess(env: Record<string, string>): {
  child: ChildProcess;
  exited: Promise<number | null>;
  stderr: () => string;
} {
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  cleanups.push(() => {
    if (child.exitCode === null) child.kill("SIGKILL");
  });
  return { child, exited, stderr: () => stderr };
}

async function peakRssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

test("runWorkerMain without HODEI_OTP_TOKEN exits 2 without connecting anywhere", async () => {
  const messages: string[] = [];
  const logger = { ...silentLogger, error: (o: object | string) => messages.push(String(o)) };
  assert.equal(await runWorkerMain({}, logger), 2);
  assert.match(messages.join("\n"), /HODEI_OTP_TOKEN/);
});

test("hodei worker process against a harness control plane: seq 1000000 through a stalling server stays under 100 MB, SIGTERM stops it cleanly", async (t) => {
  const cp = await HarnessControlPlane.start({ keepLines: false, stallAfterFirstBatchMs: 1000 });
  cleanups.push(() => cp.kill());
  const worker = startWorkerProcess({
    HODEI_SERVER_ADDRESS: cp.address,
    HODEI_OTP_TOKEN: "otp-proc",
    HODEI_WORKER_ID: "proc-1",
  });
  await cp.waitFor(() => cp.messages("hello")[0], "hello", 15_000);
  assert.equal(cp.registrations[0]!.authToken, "otp-proc");
  const started = Date.now();
  cp.send({
    payload: { case: "runJob", value: { jobId: "million", executionId: "m1", command: "seq 1000000" } },
  });
  const result = await cp.waitFor(() => cp.messages("result")[0], "result", 60_000);
  const ms = Date.now() - started;
  assert.equal(result.status, JobStatus.COMPLETED);
  assert.equal(cp.logLineCount, 1_000_001);
  assert.equal(Number(result.lastSequence), 1_000_001);
  const peak = await peakRssBytes(worker.child.pid!);
  t.diagnostic(`seq 1000000 (with a 1 s stall): ${ms} ms; worker peak RSS ${Math.round(peak / 1048576)} MiB`);
  assert.ok(peak < 100 * 1024 * 1024, `worker peak RSS ${Math.round(peak / 1048576)} MiB`);
  worker.child.kill("SIGTERM");
  assert.equal(await worker.exited, 0, worker.stderr());
  const bye = await cp.waitFor(() => cp.messages("selfTerminate")[0], "self_terminate");
  assert.equal(bye.reason, "signal SIGTERM");
});

for (const [how, helper] of [
  ["hodei-spawn", undefined],
  ["Node's spawn", "off"],
] as const) {
  test(`hodei worker process against a harness control plane: a job started through ${how} does not outlive a worker killed with SIGKILL`, async () => {
    const cp = await HarnessControlPlane.start();
    cleanups.push(() => cp.kill());
    const worker = startWorkerProcess({
      HODEI_SERVER_ADDRESS: cp.address,
      HODEI_OTP_TOKEN: "otp-kill",
      ...(helper ? { HODEI_SPAWN_HELPER: helper } : {}),
    });
    await cp.waitFor(() => cp.messages("hello")[0], "hello", 15_000);
    const command = "echo $$; trap '' TERM; sleep 1000 & sleep 1000; wait";
    cp.send({ payload: { case: "runJob", value: { jobId: "orphan", executionId: "o1", command } } });
    const pidLine = await cp.waitFor(
      () =>
        cp
          .messages("logBatch")
          .flatMap((b) => b.lines)
          .find((l) => /^\d+$/.test(l.line)),
      "the job's pid",
    );
    const pgid = Number(pidLine.line);
    assert.ok(await groupHas(pgid, 2), "the job's processes are running");
    worker.child.kill("SIGKILL");
    await worker.exited;
    // SIGTERM is ignored by this job: it takes the SIGKILL after the 2 s grace.
    const deadline = Date.now() + 5000;
    while ((await liveGroupMembers(pgid)).length > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(await liveGroupMembers(pgid), [], "the job's processes outlived their worker");
  });
}

test("hodei worker process against a harness control plane: a job's secret files do not outlive a worker killed with SIGKILL", async () => {
  const cp = await HarnessControlPlane.start();
  cleanups.push(() => cp.kill());
  const worker = startWorkerProcess({ HODEI_SERVER_ADDRESS: cp.address, HODEI_OTP_TOKEN: "otp-secrets" });
  await cp.waitFor(() => cp.messages("hello")[0], "hello", 15_000);
  cp.send({
    payload: {
      case: "runJob",
      value: {
        jobId: "secret-files",
        executionId: "s1",
        command: 'echo "$HODEI_SECRETS_DIR"; sleep 1000',
        environment: { HODEI_SECRETS_DELIVERY: "files" },
        secrets: { TOKEN: "s3cr3t-value-42" },
      },
    },
  });
  const dirLine = await cp.waitFor(
    () =>
      cp
        .messages("logBatch")
        .flatMap((b) => b.lines)
        .find((l) => l.line.includes("hodei-secrets-")),
    "the job's secrets directory",
  );
  const dir = dirLine.line;
  assert.ok(existsSync(`${dir}/TOKEN`));
  worker.child.kill("SIGKILL");
  await worker.exited;
  const deadline = Date.now() + 5000;
  while (existsSync(dir) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(existsSync(dir), false, "the secrets directory outlived its worker");
});
