import { test } from "node:test";
import assert from "node:assert/strict";
import { JobStatus } from "@hodei/api";
import { liveGroupMembers } from "../src/process-group.js";
import { groupGone, run, text } from "./run-job.js";

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
  const o = await run({ command: "", script: { interpreter: "/no/such/interpreter", content: "x" } }).outcome;
  assert.equal(o.status, JobStatus.FAILED);
  assert.equal(o.exitCode, 127);
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
  const r = run({ command: "echo $$; trap '' TERM; sleep 1000 & sleep 1000; wait" }, { killGraceMs: 200 });
  const pgid = Number((await r.waitForLine((l) => /^\d+$/.test(l.line))).line);
  assert.ok((await liveGroupMembers(pgid)).length >= 2);
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
