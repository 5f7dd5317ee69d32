// How a job's secrets reach its process (stdin JSON by default, 0400 files when asked, env when
// asked) and what happens to bad requests, with real processes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { JobStatus } from "@hodei/api";
import { run, text } from "./run-job.js";

const SECRETS = { TOKEN: "s3cr3t-value-42", API_KEY: "k-9f8e7d" };

/** A scratch directory for what a job copies out, removed at the end of the test. */
function scratch(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), "hodei-secret-test-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const stderrLines = (lines: { line: string; isStderr: boolean }[]): string[] =>
  lines.filter((l) => l.isStderr).map((l) => l.line);

test("by default secrets come on stdin as one JSON object and a newline, then EOF; the log shows it redacted", async (t) => {
  const out = join(scratch(t), "stdin-copy");
  const r = run({
    command:
      'tee "$OUT"; echo "via=${HODEI_SECRETS_VIA_STDIN:-unset} dir=${HODEI_SECRETS_DIR:-unset} env=${TOKEN:-unset}"; readlink /proc/$$/fd/0',
    environment: { OUT: out },
    secrets: SECRETS,
  });
  const o = await r.outcome;
  assert.equal(o.status, JobStatus.COMPLETED, text(r).join("\n"));
  assert.equal(readFileSync(out, "utf8"), '{"API_KEY":"k-9f8e7d","TOKEN":"s3cr3t-value-42"}\n');
  const lines = text(r).slice(1);
  assert.deepEqual(lines.slice(0, 2), ['{"API_KEY":"***","TOKEN":"***"}', "via=1 dir=unset env=unset"]);
  assert.match(lines[2]!, /\/stdin \(deleted\)$/, "the stdin file is unlinked once the job holds it");
});

test("values that need escaping (quotes, backslash, newline, non-ASCII) survive the JSON", async (t) => {
  const out = join(scratch(t), "stdin-copy");
  const secrets = { PEM: '-----BEGIN KEY-----\nabc\\def"ghi\n-----END KEY-----\n', UNI: "clé-ñ-✓" };
  const r = run({ command: 'cat > "$OUT"', environment: { OUT: out }, secrets });
  assert.equal((await r.outcome).status, JobStatus.COMPLETED);
  assert.deepEqual(JSON.parse(readFileSync(out, "utf8")), secrets);
});

test("HODEI_SECRETS_DELIVERY=files: one 0400 file per secret in a private 0700 directory, gone after the job", async (t) => {
  const out = join(scratch(t), "token-copy");
  const r = run({
    command:
      'echo "dir=$HODEI_SECRETS_DIR via=${HODEI_SECRETS_VIA_STDIN:-unset}"; stat -c "%a" "$HODEI_SECRETS_DIR"; ls -l "$HODEI_SECRETS_DIR"; cat "$HODEI_SECRETS_DIR/TOKEN" > "$OUT"; wc -c < /dev/stdin',
    environment: { OUT: out, HODEI_SECRETS_DELIVERY: "files" },
    secrets: SECRETS,
  });
  const o = await r.outcome;
  assert.equal(o.status, JobStatus.COMPLETED, text(r).join("\n"));
  const lines = text(r).slice(1);
  const dir = /^dir=(\S+) via=unset$/.exec(lines[0]!)?.[1];
  assert.ok(dir?.startsWith(join(tmpdir(), "hodei-secrets-")), lines[0]);
  assert.equal(lines[1], "700");
  const entries = lines.filter((l) => /^-/.test(l));
  assert.deepEqual(
    entries.map((l) => [l.split(/\s+/)[0], l.split(/\s+/).at(-1)]),
    [
      ["-r--------", "API_KEY"],
      ["-r--------", "TOKEN"],
    ],
  );
  assert.equal(lines.at(-1), "0", "the job's stdin is empty");
  assert.equal(readFileSync(out, "utf8"), SECRETS.TOKEN, "a file holds exactly the value, no newline");
  assert.equal(existsSync(dir!), false, "the directory is removed once the job has ended");
});

test("a job with its own stdin keeps it, and gets its secrets as files", async () => {
  const r = run({
    command: 'cat; cat "$HODEI_SECRETS_DIR/API_KEY"; echo; echo "via=${HODEI_SECRETS_VIA_STDIN:-unset}"',
    stdin: "own input\n",
    secrets: SECRETS,
  });
  assert.equal((await r.outcome).status, JobStatus.COMPLETED);
  assert.deepEqual(text(r).slice(1), ["own input", "***", "via=unset"]);
});

test("the secrets directory is removed after a timeout and after a cancel, even if the job locked it", async () => {
  for (const end of ["timeout", "cancel"] as const) {
    const r = run(
      {
        command: 'echo "$HODEI_SECRETS_DIR"; chmod 000 "$HODEI_SECRETS_DIR"; sleep 10',
        environment: { HODEI_SECRETS_DELIVERY: "files" },
        secrets: SECRETS,
        timeoutMs: end === "timeout" ? 300 : 0,
      },
      { killGraceMs: 200 },
    );
    const dir = (await r.waitForLine((l) => l.line.includes("hodei-secrets-"))).line;
    assert.ok(existsSync(dir));
    if (end === "cancel") r.execution.cancel("stop");
    const o = await r.outcome;
    assert.equal(o.status, end === "timeout" ? JobStatus.TIMEOUT : JobStatus.CANCELLED);
    assert.equal(existsSync(dir), false, `the directory outlived a ${end}`);
  }
});

test("HODEI_SECRETS_DELIVERY=env is an explicit opt-in: secrets become environment variables", async () => {
  const r = run({
    command: 'echo "${TOKEN:0:6} ${#API_KEY} ${HODEI_SECRETS_VIA_STDIN:-unset} ${HODEI_SECRETS_DIR:-unset}"',
    environment: { HODEI_SECRETS_DELIVERY: "env" },
    secrets: SECRETS,
  });
  assert.equal((await r.outcome).status, JobStatus.COMPLETED);
  assert.deepEqual(text(r).slice(1), ["s3cr3t 8 unset unset"]);
});

test("bad secret requests fail the job with exit 126 and a clear stderr line; the command never runs", async (t) => {
  const marker = join(scratch(t), "ran");
  const cases: {
    name: string;
    secrets: Record<string, string>;
    env?: Record<string, string>;
    stdin?: string;
    says: RegExp;
  }[] = [
    { name: "a dash in a name", secrets: { "BAD-NAME": "x" }, says: /invalid secret name "BAD-NAME"/ },
    { name: "a path in a name", secrets: { "../escape": "x" }, says: /invalid secret name "\.\.\/escape"/ },
    { name: "a leading digit", secrets: { "1ST": "x" }, says: /invalid secret name "1ST"/ },
    { name: "an empty name", secrets: { "": "x" }, says: /invalid secret name ""/ },
    {
      name: "an unknown delivery",
      secrets: { A: "x" },
      env: { HODEI_SECRETS_DELIVERY: "vault" },
      says: /HODEI_SECRETS_DELIVERY="vault" is not one of stdin, files, env/,
    },
    {
      name: "stdin asked with own stdin",
      secrets: { A: "x" },
      env: { HODEI_SECRETS_DELIVERY: "stdin" },
      stdin: "mine\n",
      says: /the job has its own stdin/,
    },
    {
      name: "NUL in an env secret",
      secrets: { A: "x\0y" },
      env: { HODEI_SECRETS_DELIVERY: "env" },
      says: /secret A holds a NUL byte/,
    },
  ];
  for (const c of cases) {
    const r = run({
      command: `touch ${marker}`,
      secrets: c.secrets,
      environment: c.env ?? {},
      stdin: c.stdin ?? "",
    });
    const o = await r.outcome;
    assert.equal(o.status, JobStatus.FAILED, c.name);
    assert.equal(o.exitCode, 126, c.name);
    const err = stderrLines(r.lines);
    assert.equal(err.length, 1, c.name);
    assert.match(err[0]!, /^hodei: /, c.name);
    assert.match(err[0]!, c.says, c.name);
    assert.equal(existsSync(marker), false, `${c.name}: the command ran`);
  }
});

test("a job without secrets gets no secret variables, whatever the worker's or its own environment says", async () => {
  const r = run({
    command: 'echo "${HODEI_SECRETS_VIA_STDIN:-unset} ${HODEI_SECRETS_DIR:-unset}"',
    environment: { HODEI_SECRETS_DIR: "/tmp/forged", HODEI_SECRETS_DELIVERY: "nonsense" },
  });
  assert.equal((await r.outcome).status, JobStatus.COMPLETED);
  assert.deepEqual(text(r).slice(1), ["unset unset"]);
});
