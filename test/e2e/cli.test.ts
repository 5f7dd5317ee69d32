// The `hodei` CLI against a real control plane and on-demand local workers: `job run` streams a
// job's lines live and exits with the job's exit code; errors are clear and exit non-zero.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { JobExecutionService, unary } from "@hodei/api";
import { runCli, type CliResult } from "./support/cli.js";
import { jobStatus, waitForJobEnd } from "./support/jobs.js";
import { freePort, startPlatform, stopCleanly, type Platform } from "./support/platform.js";

const LINE = /^(\d\d:\d\d:\d\d\.\d{3}) \[(OUT|ERR)\] (.*)$/;

/** The CLI's stdout as log lines; stdout is the log and nothing else. */
function logOf(r: CliResult): { atMs: number; stream: string; text: string }[] {
  return r.lines.map((l) => {
    const m = LINE.exec(l.text);
    assert.ok(m, `not a log line: ${JSON.stringify(l.text)}\nstdout:\n${r.stdout}`);
    return { atMs: l.atMs, stream: m[2]!, text: m[3]! };
  });
}

describe("hodei CLI end to end", () => {
  let platform: Platform;
  before(async () => {
    platform = await startPlatform();
  });
  after(() => stopCleanly(platform));

  test("job run streams each line as the job prints it and exits 0", async () => {
    const command = "echo 'Step 1' && sleep 1 && echo 'Step 2' | grep Step";
    const r = await runCli([
      "--server",
      platform.grpcAddress,
      "job",
      "run",
      "--name",
      "hello",
      "--command",
      command,
    ]);
    assert.equal(r.code, 0, `exit code; stderr:\n${r.stderr}`);

    const logLines = logOf(r);
    assert.deepEqual(
      logLines.map((l) => `${l.stream} ${l.text}`),
      [`OUT $ ${command}`, "OUT Step 1", "OUT Step 2"],
      `stdout:\n${r.stdout}`,
    );
    const [, step1, step2] = logLines;
    const gapMs = step2!.atMs - step1!.atMs;
    assert.ok(gapMs >= 800, `Step 2 arrived ${gapMs.toFixed(0)} ms after Step 1: not live`);
    assert.ok(gapMs < 10_000, `Step 2 arrived ${gapMs.toFixed(0)} ms after Step 1: far too late`);
  });

  test("a failing command: the CLI exits with the job's code and the job is FAILED with it", async () => {
    const r = await runCli([
      "--server",
      platform.grpcAddress,
      "job",
      "run",
      "--name",
      "boom",
      "--command",
      "echo boom >&2; exit 3",
    ]);
    assert.equal(r.code, 3, `exit code; stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    assert.deepEqual(
      logOf(r).map((l) => `${l.stream} ${l.text}`),
      ["OUT $ echo boom >&2; exit 3", "ERR boom"],
    );

    const jobId = /job (\S+) queued/.exec(r.stdout + r.stderr)?.[1];
    assert.ok(jobId, `the CLI names the job it queued:\n${r.stdout}\n${r.stderr}`);
    const { job } = await unary(platform.client, JobExecutionService.method.getJob, {
      jobId: { value: jobId },
    });
    assert.equal(job?.statusName, "FAILED");
    assert.equal(job?.exitCode, 3);
    assert.equal((await jobStatus(platform.client, jobId)).exitCode, 3);
  });

  test("job queue, then logs --follow prints the whole log and returns when the job ends; job get --output json", async () => {
    const queued = await runCli([
      "--server",
      platform.grpcAddress,
      "job",
      "queue",
      "--id",
      "cli-follow",
      "--command",
      "echo one; sleep 1; echo two",
    ]);
    assert.equal(queued.code, 0, queued.stderr);
    assert.match(queued.stdout, /cli-follow/);

    const followed = await runCli(["--server", platform.grpcAddress, "logs", "cli-follow", "--follow"]);
    assert.equal(followed.code, 0, followed.stderr);
    assert.deepEqual(
      logOf(followed).map((l) => l.text),
      ["$ echo one; sleep 1; echo two", "one", "two"],
    );

    const got = await runCli([
      "--server",
      platform.grpcAddress,
      "--output",
      "json",
      "job",
      "get",
      "cli-follow",
    ]);
    assert.equal(got.code, 0, got.stderr);
    const parsed = JSON.parse(got.stdout);
    const job = parsed.job ?? parsed;
    assert.equal(job.jobId?.value, "cli-follow", got.stdout);
    assert.equal(job.statusName, "SUCCEEDED", got.stdout);
  });

  test("job queue-batch queues a file's definitions and prints their ids; a taken id is said and exits 1; a bad file exits 2", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hodei-cli-batch-"));
    try {
      const file = join(dir, "jobs.json");
      writeFileSync(
        file,
        JSON.stringify([{ jobId: { value: "cli-batch-1" }, command: "true" }, { command: "exit 5" }]),
      );
      const r = await runCli(["--server", platform.grpcAddress, "job", "queue-batch", file]);
      assert.equal(r.code, 0, r.stderr);
      const ids = r.stdout.trim().split("\n");
      assert.equal(ids.length, 2, r.stdout);
      assert.equal(ids[0], "cli-batch-1");
      const second = await waitForJobEnd(platform.client, ids[1]!, 20_000);
      assert.deepEqual([second.statusName, second.exitCode], ["FAILED", 5]);

      const again = await runCli(["--server", platform.grpcAddress, "job", "queue-batch", file]);
      assert.equal(again.code, 1, again.stderr);
      assert.match(
        again.stderr,
        /not queued: job_definitions\[0\]\.job_id: a job with id "cli-batch-1" already exists/,
      );
      assert.equal(again.stdout.trim().split("\n").length, 1, again.stdout);

      writeFileSync(file, JSON.stringify([{ command: "true" }, { commnd: "typo" }]));
      const bad = await runCli(["--server", platform.grpcAddress, "job", "queue-batch", file]);
      assert.equal(bad.code, 2, bad.stderr);
      assert.match(bad.stderr, /job_definitions\[1\]: .*commnd/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a job that ends at once shows how long it ran on its worker, not 0 ms", async () => {
    // `true` ends before its worker's next turn: its start and its end reach the control plane in
    // one message, and the job's times come from what its worker measured.
    for (let i = 0; i < 3; i++) {
      const r = await runCli(["--server", platform.grpcAddress, "job", "run", "--command", "true"]);
      assert.equal(r.code, 0, `stderr:\n${r.stderr}`);
      const m = /job (\S+) SUCCEEDED exit 0 in (\d+)ms/.exec(r.stderr);
      assert.ok(m, `stderr:\n${r.stderr}`);
      assert.ok(Number(m[2]) >= 1, `"in ${m[2]}ms"`);
      const { job } = await unary(platform.client, JobExecutionService.method.getJob, {
        jobId: { value: m[1]! },
      });
      const [started, finished] = [job?.startedAt, job?.finishedAt].map((t) =>
        t ? Number(t.seconds) * 1000 + t.nanos / 1e6 : NaN,
      );
      assert.ok(finished! - started! >= 1, `started ${started}, finished ${finished}`);
    }
  });

  test("job get of an unknown id fails with a not-found message", async () => {
    const r = await runCli(["--server", platform.grpcAddress, "job", "get", "no-such-job-42"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /not found/i);
    assert.match(r.stderr, /no-such-job-42/);
  });

  test("against a port where nothing listens: exit 3 and 'cannot reach'", async () => {
    const deadPort = await freePort();
    const r = await runCli(["--server", `127.0.0.1:${deadPort}`, "job", "list"]);
    assert.equal(r.code, 3, `stderr:\n${r.stderr}`);
    assert.match(r.stderr, /cannot reach/i);
    assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${deadPort}`));
  });
});
