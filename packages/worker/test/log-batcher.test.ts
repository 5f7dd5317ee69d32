import { test } from "node:test";
import assert from "node:assert/strict";
import type { LogLine } from "@hodei/api";
import { LogBatcher, secretRedactor } from "../src/log-batcher.js";

test("a batch is emitted when it reaches the batch size", () => {
  const batches: LogLine[][] = [];
  const b = new LogBatcher({ batchSize: 3, flushIntervalMs: 60_000, emit: (l) => batches.push(l) });
  for (let i = 1; i <= 7; i++) b.add(`line ${i}`, i % 2 === 0, 1000 + i);
  assert.deepEqual(
    batches.map((x) => x.length),
    [3, 3],
  );
  b.flush();
  assert.deepEqual(
    batches.flat().map((l) => [l.line, l.isStderr, Number(l.sequence), Number(l.timestampMs)]),
    [1, 2, 3, 4, 5, 6, 7].map((i) => [`line ${i}`, i % 2 === 0, i, 1000 + i]),
  );
  assert.equal(b.lastSequence, 7);
});

test("a partial batch is emitted the flush interval after its first line", async () => {
  const emitted: { at: number; n: number }[] = [];
  const b = new LogBatcher({ batchSize: 100, flushIntervalMs: 20, emit: (l) => emitted.push({ at: Date.now(), n: l.length }) });
  const start = Date.now();
  b.add("a", false, start);
  b.add("b", false, start);
  await new Promise<void>((resolve) => {
    const check = setInterval(() => {
      if (emitted.length > 0 || Date.now() - start > 2000) resolve(clearInterval(check));
    }, 1);
  });
  assert.equal(emitted.length, 1);
  assert.equal(emitted[0]!.n, 2);
  assert.ok(emitted[0]!.at - start >= 15, `flushed after ${emitted[0]!.at - start}ms`);
});

test("secret values are redacted, longest first", () => {
  const redact = secretRedactor({ A: "hunter2", B: "hunter2-extended", C: "" })!;
  assert.equal(redact("pw=hunter2-extended and hunter2"), "pw=*** and ***");
  assert.equal(secretRedactor({}), undefined);
  const lines: LogLine[] = [];
  const b = new LogBatcher({ batchSize: 1, flushIntervalMs: 5, emit: (l) => lines.push(...l), redact });
  b.add("token hunter2", false, 0);
  assert.equal(lines[0]!.line, "token ***");
});
