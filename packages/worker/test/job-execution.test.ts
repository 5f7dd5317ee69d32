import { describe, test } from "node:test";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import { JobStatus } from "@hodei/api";
import type { JobRequest } from "../src/job-execution.js";
import { HelperSpawner, type JobSpawner } from "../src/job-process.js";
import { silentLogger } from "../src/logger.js";
import { groupGone, groupHas, run as runWith, spawners, text } from "./run-job.js";

const variants = [
  { kind: "helper", name: "started through hodei-spawn", blocks: false },
  { kind: "node", name: "started through Node's spawn", blocks: false },
  { kind: "helper", name: "output sent as text blocks", blocks: true },
] as const;

for (const { kind, name, blocks } of variants) {
  describe(name, () => {
    const spawner = spawners[kind]();
    const asBlocks: Partial<JobRequest> = blocks ? { logSequenceBase: 0, logTextBlocks: true } : {};
    const run = (req: Partial<JobRequest>, opts: { killGraceMs?: number } = {}) =>
      runWith({ ...asBlocks, ...req }, { ...opts, spawner });

    test("stdout and stderr lines come with the $ header and contiguous sequences", async () => {
      const r = run({ command: "echo out; echo err >&2; printf 'no newline'" });
      const o = await r.outcome;
      assert.equal(o.status, JobStatus.COMPLETED);
      assert.equal(o.exitCode, 0);
      assert.equal(r.lines[0]!.line, "$ echo out; echo err >&2; printf 'no newline'");
      assert.deepEqual(new Set(text(r).slice(1)), new Set(["out", "err", "no newline"]));
      assert.equal(r.lines.find((l) => l.line === "err")!.isStderr, true);
      assert.deepEqual(
        r.lines.map((l) => Number(l.sequence)),
        [1, 2, 3, 4],
      );
      assert.equal(o.lastSequence, 4);
      assert.ok(o.finishedAtMs >= o.startedAtMs);
    });

    test("a failing command is FAILED with its exit code", async () => {
      const o = await run({ command: "exit 3" }).outcome;
      assert.equal(o.status, JobStatus.FAILED);
      assert.equal(o.exitCode, 3);
    });

    test("death by signal is exit code 128+signo, FAILED, named in the error", async () => {
      const o = await run({ command: "kill -9 $$" }).outcome;
      assert.equal(o.status, JobStatus.FAILED);
      assert.equal(o.exitCode, 137);
      assert.match(o.errorMessage, /SIGKILL/);
    });

    test("environment, secrets (as asked, env; redacted in logs), stdin and working directory reach the job; the OTP does not", async () => {
      const r = run({
        command: 'echo "$GREETING $TOKEN ${HODEI_OTP_TOKEN:-no-otp}"; cat; pwd',
        environment: { GREETING: "hi", HODEI_SECRETS_DELIVERY: "env" },
        secrets: { TOKEN: "s3cr3t" },
        stdin: "from stdin\n",
        workingDir: "/tmp",
      });
      assert.equal((await r.outcome).status, JobStatus.COMPLETED);
      assert.deepEqual(text(r).slice(1), ["hi *** no-otp", "from stdin", "/tmp"]);
    });

    test("a missing working directory fails to start with 127 and says why on stderr", async () => {
      const r = run({ command: "echo never", workingDir: "/nonexistent/dir" });
      const o = await r.outcome;
      assert.equal(o.status, JobStatus.FAILED);
      assert.equal(o.exitCode, 127);
      const last = r.lines.at(-1)!;
      assert.equal(last.isStderr, true);
      assert.match(last.line, /working directory \/nonexistent\/dir does not exist/);
    });

    test("a missing interpreter fails with 127", async () => {
      const o = await run({ command: "", script: { interpreter: "/no/such/interpreter", content: "x" } })
        .outcome;
      assert.equal(o.status, JobStatus.FAILED);
      assert.equal(o.exitCode, 127);
    });

    test("an interpreter named without a path is looked up in the job's own PATH", async () => {
      const dir = await mkdtemp(join(tmpdir(), "hodei-path-"));
      await writeFile(join(dir, "shout"), '#!/bin/bash\ntr a-z A-Z < "$1"\n', { mode: 0o755 });
      try {
        const r = run({
          command: "",
          script: { interpreter: "shout", content: "hello" },
          environment: { PATH: `${dir}:/usr/bin:/bin` },
        });
        const o = await r.outcome;
        assert.equal(o.status, JobStatus.COMPLETED, o.errorMessage);
        assert.equal(text(r).at(-1), "HELLO");
        const missing = await run({ command: "", script: { interpreter: "shout", content: "x" } }).outcome;
        assert.equal(missing.exitCode, 127, "not in the worker's PATH, so not found");
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    test("scripts run with their interpreter and show a heredoc header", async () => {
      const r = run({
        command: "",
        arguments: ["world"],
        script: { interpreter: "bash", content: 'echo "hello $1"\n' },
      });
      assert.equal((await r.outcome).status, JobStatus.COMPLETED);
      assert.deepEqual(text(r), ["$ bash -c << 'EOF'", 'echo "hello $1"', "EOF", "hello world"]);
      const n = run({ command: "#!/usr/bin/env node\nconsole.log(6 * 7)" });
      assert.equal((await n.outcome).status, JobStatus.COMPLETED);
      assert.equal(text(n).at(-1), "42");
    });

    test("a timeout kills the job's whole process group and reports TIMEOUT", async () => {
      const started = Date.now();
      const r = run({ command: "echo $$; sleep 10 & sleep 10; wait", timeoutMs: 300 });
      const pgid = Number((await r.waitForLine((l) => /^\d+$/.test(l.line))).line);
      const o = await r.outcome;
      assert.equal(o.status, JobStatus.TIMEOUT);
      assert.ok(Date.now() - started < 1500, `took ${Date.now() - started}ms`);
      assert.ok(text(r).includes("Job timed out after 300ms"));
      assert.ok(await groupGone(pgid, 500));
    });

    test("cancel kills the whole process group, even processes ignoring SIGTERM (after the grace)", async () => {
      const r = run(
        { command: "echo $$; trap '' TERM; sleep 1000 & sleep 1000; wait" },
        { killGraceMs: 200 },
      );
      const pgid = Number((await r.waitForLine((l) => /^\d+$/.test(l.line))).line);
      assert.ok(await groupHas(pgid, 2), "the job's processes are running");
      r.execution.cancel("user asked");
      const o = await r.outcome;
      assert.equal(o.status, JobStatus.CANCELLED);
      assert.equal(o.errorMessage, "user asked");
      assert.ok(await groupGone(pgid, 500));
    });

    test("processes left behind by a finished job are terminated", async () => {
      const r = run({ command: "echo $$; sleep 1000 >/dev/null 2>&1 &" });
      const o = await r.outcome;
      assert.equal(o.status, JobStatus.COMPLETED);
      const pgid = Number(text(r)[1]);
      assert.ok(await groupGone(pgid, 3000));
    });
  });
}

test("hodei-spawn: a job cancelled before its pid is known is ended as soon as it starts", async () => {
  const helper = spawners.helper(200);
  let cancel = (): void => {};
  // Cancels right after the start request is written, before hodei-spawn can answer with the pid.
  const cancelling: JobSpawner = {
    start: (spec, events) => {
      const started = helper.start(spec, events);
      assert.equal(started.pid, undefined);
      cancel();
      return started;
    },
    prepare: () => helper.prepare(),
    close: () => helper.close(),
  };
  const dir = await mkdtemp(join(tmpdir(), "hodei-cancel-"));
  const r = runWith(
    { command: `echo $$ > ${dir}/pid; trap '' TERM; sleep 1000` },
    { spawner: cancelling, killGraceMs: 200 },
  );
  cancel = () => r.execution.cancel("cancelled at once");
  const o = await r.outcome;
  assert.equal(o.status, JobStatus.CANCELLED);
  assert.equal(o.errorMessage, "cancelled at once");
  const pid = Number(await readFile(`${dir}/pid`, "utf8").catch(() => "0"));
  if (pid > 0) assert.ok(await groupGone(pid, 1000));
  await rm(dir, { recursive: true, force: true });
  helper.close();
});

test("hodei-spawn that cannot be run: jobs start through Node's spawn instead, none is lost", async () => {
  const spawner = new HelperSpawner("/nonexistent/hodei-spawn", 2_000, silentLogger);
  const runs = [1, 2, 3].map((n) => runWith({ command: `echo job ${n}` }, { spawner }));
  for (const [i, r] of runs.entries()) {
    const o = await r.outcome;
    assert.equal(o.status, JobStatus.COMPLETED, o.errorMessage);
    assert.equal(text(r).at(-1), `job ${i + 1}`);
  }
  const later = runWith({ command: "echo later" }, { spawner });
  assert.equal((await later.outcome).status, JobStatus.COMPLETED);
  assert.equal(text(later).at(-1), "later");
  spawner.close();
});

test("hodei-spawn: output larger than its pipes, on both streams, arrives whole and in order", async () => {
  const r = runWith({ command: "seq 200000; seq 50000 >&2" });
  const o = await r.outcome;
  assert.equal(o.status, JobStatus.COMPLETED);
  const out = r.lines
    .filter((l) => !l.isStderr)
    .slice(1)
    .map((l) => l.line);
  const err = r.lines.filter((l) => l.isStderr).map((l) => l.line);
  assert.equal(out.length, 200_000);
  assert.equal(err.length, 50_000);
  assert.equal(out[199_999], "200000");
  assert.ok(out.every((line, i) => line === String(i + 1)));
  assert.ok(err.every((line, i) => line === String(i + 1)));
});

test("text blocks: output larger than the pipes arrives whole and in order as blocks, numbered on from the base", async () => {
  const r = runWith({ command: "seq 200000; seq 50000 >&2", logSequenceBase: 1000, logTextBlocks: true });
  const o = await r.outcome;
  assert.equal(o.status, JobStatus.COMPLETED);
  const out = r.lines.filter((l) => !l.isStderr).map((l) => l.line);
  const err = r.lines.filter((l) => l.isStderr).map((l) => l.line);
  assert.deepEqual(out.slice(0, 2), ["$ seq 200000; seq 50000 >&2", "1"]);
  assert.equal(out.length, 200_001);
  assert.ok(out.slice(1).every((line, i) => line === String(i + 1)));
  assert.ok(err.every((line, i) => line === String(i + 1)) && err.length === 50_000);
  assert.ok(r.lines.every((l, i) => l.sequence === BigInt(i + 1)));
  assert.equal(o.lastSequence, 250_001);
  assert.ok(r.batchesWithBlocks > 20, `${r.batchesWithBlocks} batches held blocks`);
});

test("text blocks are not used when secrets are redacted: every line is checked on its own", async () => {
  const r = runWith({
    command: 'for i in 1 2 3; do echo "line $i $TOKEN"; done',
    environment: { HODEI_SECRETS_DELIVERY: "env" },
    secrets: { TOKEN: "s3cr3t" },
    logSequenceBase: 0,
    logTextBlocks: true,
  });
  assert.equal((await r.outcome).status, JobStatus.COMPLETED);
  assert.deepEqual(text(r).slice(1), ["line 1 ***", "line 2 ***", "line 3 ***"]);
  assert.equal(r.batchesWithBlocks, 0);
});
