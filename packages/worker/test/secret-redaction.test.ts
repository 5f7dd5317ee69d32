// Secret values, and their base64 forms, never leave the worker in a log line.
import { test } from "node:test";
import assert from "node:assert/strict";
import { JobStatus } from "@hodei/api";
import { LineSplitter } from "../src/line-splitter.js";
import { keepSecretsTogether, secretForms, secretRedactor } from "../src/secret-redaction.js";
import { run, text } from "./run-job.js";

const TOKEN = "s3cr3t-value-42";

/**
 * True when `line` shows `value`: as is, or base64-encoded at any alignment. Checked independently
 * of the redactor: every run of base64 (or base64url) characters is decoded from each of its first
 * four offsets.
 */
function leaks(line: string, value: string): boolean {
  if (line.includes(value)) return true;
  for (const run of line.match(/[A-Za-z0-9+/_-]{4,}/g) ?? []) {
    for (let offset = 0; offset < 4; offset++) {
      const decoded = Buffer.from(run.slice(offset), "base64").toString("latin1");
      if (decoded.includes(value)) return true;
    }
  }
  return false;
}

test("the leak check itself finds a value base64-encoded at every alignment", () => {
  for (const prefix of ["", "x", "xy", "xyz"]) {
    const encoded = Buffer.from(`${prefix}${TOKEN}tail`).toString("base64");
    assert.ok(leaks(`log: ${encoded} end`, TOKEN), prefix);
  }
  assert.equal(leaks("nothing to see", TOKEN), false);
});

test("the redactor replaces the value and its base64 forms, at any alignment, in the middle of a line", () => {
  const redact = secretRedactor({ TOKEN })!;
  assert.equal(redact(`plain ${TOKEN} and ${TOKEN}!`), "plain *** and ***!");
  assert.equal(redact(Buffer.from(TOKEN).toString("base64")), "***");
  assert.equal(redact(Buffer.from(`${TOKEN}\n`).toString("base64")), "***", "echo value | base64");
  for (const prefix of ["", "a", "ab", "abc", "abcd"]) {
    for (const suffix of ["", "\n", "z", "zz"]) {
      const line = `data=${Buffer.from(`${prefix}${TOKEN}${suffix}`).toString("base64")};`;
      const clean = redact(line);
      assert.ok(clean.includes("***"), line);
      assert.equal(leaks(clean, TOKEN), false, `${line} → ${clean}`);
    }
  }
});

test("JSON-escaped and multi-line values are redacted too; short derived forms are not", () => {
  const pem = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END KEY-----";
  const redact = secretRedactor({ PEM: pem, Q: 'say "hi"\\now' })!;
  assert.equal(redact(JSON.stringify({ PEM: pem })), '{"PEM":"***"}');
  assert.equal(redact(JSON.stringify({ Q: 'say "hi"\\now' })), '{"Q":"***"}');
  assert.equal(redact("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"), "***", "a line of a multi-line value");
  assert.equal(redact("-----END KEY-----"), "***");
  assert.deepEqual(secretForms({ A: "" }), []);
  assert.deepEqual(
    secretForms({ A: "ab" }),
    ["ab"],
    "the 4-character base64 of a 2-byte value is left alone",
  );
  assert.equal(secretRedactor({ A: "" }), undefined);
});

test("a line cut into pieces (longer than the line limit) is never cut inside a secret", () => {
  const guard = keepSecretsTogether({ TOKEN })!;
  const redact = secretRedactor({ TOKEN })!;
  for (let at = 0; at <= 40; at++) {
    const line = `${"a".repeat(at)}${TOKEN}${"b".repeat(30)}`;
    // Whole, and byte by byte (the bytes wait as an unfinished line): the secret stays in one piece.
    for (const chunks of [[line], [...line]]) {
      const pieces: string[] = [];
      const s = new LineSplitter(
        (buf, start, end) => pieces.push(buf.toString("utf8", start, end)),
        32,
        Date.now,
        guard,
      );
      for (const c of chunks) s.push(Buffer.from(c));
      s.push(Buffer.from("\n"));
      assert.ok(pieces.length > 1 && pieces.every((p) => p.length <= 32), `at ${at}: ${pieces.join(" | ")}`);
      assert.equal(
        pieces.map(redact).join(""),
        `${"a".repeat(at)}***${"b".repeat(30)}`,
        `at ${at}: ${pieces.join(" | ")}`,
      );
    }
  }
});

test("a job printing its secret (echo, base64, mid-line, split across writes, stderr) logs only ***", async () => {
  const script = [
    'T=$(cat "$HODEI_SECRETS_DIR/TOKEN")',
    'echo "$T"',
    'printf %s "$T" | base64',
    'echo "$T" | base64',
    'echo "before-${T}-after and again:$T"',
    "printf 'split:%s' \"${T:0:5}\"; sleep 0.2; printf '%s:done\\n' \"${T:5}\"",
    'echo "shifted $(printf "xy%s" "$T" | base64 -w0) end"',
    'echo "url $(printf "%s" "$T" | base64 -w0 | tr "+/" "-_") end"',
    'echo "err $T" >&2',
  ].join("\n");
  const r = run({
    command: script,
    environment: { HODEI_SECRETS_DELIVERY: "files" },
    secrets: { TOKEN },
  });
  const o = await r.outcome;
  assert.equal(o.status, JobStatus.COMPLETED);
  const lines = text(r);
  for (const line of lines) assert.equal(leaks(line, TOKEN), false, `leaked: ${line}`);
  const output = lines.slice(lines.indexOf("EOF") + 1);
  assert.deepEqual(output.slice(0, 5), [
    "***",
    "***",
    "***",
    "before-***-after and again:***",
    "split:***:done",
  ]);
  assert.match(output[5]!, /^shifted .*\*\*\*.* end$/);
  assert.deepEqual(
    r.lines.filter((l) => l.isStderr).map((l) => l.line),
    ["err ***"],
  );
});

test("a secret across the 1 MiB cut of a very long line stays whole and is redacted", async () => {
  // 1 MiB minus 5 bytes of 'a', then the secret: the line limit falls 5 bytes into it.
  const r = run({
    command: 'head -c 1048571 /dev/zero | tr "\\0" a; cat; echo',
    secrets: { TOKEN },
    environment: { HODEI_SECRETS_DELIVERY: "env" },
    stdin: TOKEN,
  });
  assert.equal((await r.outcome).status, JobStatus.COMPLETED);
  const pieces = text(r).slice(1);
  assert.deepEqual(
    pieces.map((p) => (p.length > 100 ? `${p.length}×${p[0]}` : p)),
    ["1048571×a", "***"],
  );
});

test("an error message carrying a secret is redacted before it is reported", async () => {
  const r = run({ command: "sleep 10", secrets: { TOKEN } }, { killGraceMs: 100 });
  await r.waitForLine(() => true);
  r.execution.cancel(`operator pasted ${TOKEN}`);
  const o = await r.outcome;
  assert.equal(o.status, JobStatus.CANCELLED);
  assert.equal(o.errorMessage, "operator pasted ***");
  assert.ok(text(r).includes("Job cancelled: operator pasted ***"));
});
