import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { pruneWorkerCodeCaches, workerCodeCacheFile } from "../src/index.js";

test("worker code cache file: keyed to the bundle's content and the node flags, not only its length", async () => {
  const dir = await mkdtemp(join(tmpdir(), "hodei-cc-key-"));
  try {
    const bundle = join(dir, "bundle.cjs");
    await writeFile(bundle, "console.log(1);");
    const a = workerCodeCacheFile("/cache", bundle, ["--max-semi-space-size=1"]);
    assert.equal(dirname(a), "/cache");
    assert.match(basename(a), /^hodei-worker-[0-9a-f]{16}\.v8$/);
    assert.equal(workerCodeCacheFile("/cache", bundle, ["--max-semi-space-size=1"]), a, "stable");
    assert.notEqual(workerCodeCacheFile("/cache", bundle, ["--max-semi-space-size=2"]), a, "other flags");
    await writeFile(bundle, "console.log(2);"); // same length, other content
    assert.notEqual(workerCodeCacheFile("/cache", bundle, ["--max-semi-space-size=1"]), a, "other content");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("pruning worker code caches keeps the current one and what is not ours", async () => {
  const dir = await mkdtemp(join(tmpdir(), "hodei-cc-prune-"));
  try {
    const keep = join(dir, "hodei-worker-aaaaaaaaaaaaaaaa.v8");
    for (const name of [
      "hodei-worker-aaaaaaaaaaaaaaaa.v8",
      "hodei-worker-bbbbbbbbbbbbbbbb.v8",
      "hodei-worker-cccccccccccccccc.v8.123.tmp",
      "notes.txt",
    ])
      await writeFile(join(dir, name), "x");
    pruneWorkerCodeCaches(dir, keep);
    assert.deepEqual((await readdir(dir)).sort(), ["hodei-worker-aaaaaaaaaaaaaaaa.v8", "notes.txt"]);
    pruneWorkerCodeCaches(join(dir, "missing"), keep); // no directory yet: nothing to do
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
