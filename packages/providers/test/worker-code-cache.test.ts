import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { pruneWorkerCodeCaches, seedWorkerCodeCache, workerCodeCacheFile } from "../src/index.js";

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

test("a data directory's first code cache is a copy of the build's of the same name; one already there is kept", async () => {
  const dir = await mkdtemp(join(tmpdir(), "hodei-cc-seed-"));
  try {
    const built = join(dir, "dist", "code-cache");
    await mkdir(built, { recursive: true });
    await writeFile(join(built, "hodei-worker-aaaaaaaaaaaaaaaa.v8"), "built");
    const file = join(dir, "data", "cache", "hodei-worker-aaaaaaaaaaaaaaaa.v8");

    assert.equal(seedWorkerCodeCache(file, built), true, "copied");
    assert.equal(await readFile(file, "utf8"), "built");
    assert.deepEqual(await readdir(dirname(file)), [basename(file)], "nothing half-copied left beside it");

    await writeFile(file, "the workers' own");
    assert.equal(seedWorkerCodeCache(file, built), false, "one is there already");
    assert.equal(await readFile(file, "utf8"), "the workers' own");

    const other = join(dir, "data", "cache", "hodei-worker-bbbbbbbbbbbbbbbb.v8");
    assert.equal(seedWorkerCodeCache(other, built), false, "the build made none for another bundle or node");
    assert.equal(seedWorkerCodeCache(other, join(dir, "no-such-dir")), false, "a build without caches");
    assert.deepEqual(await readdir(dirname(file)), [basename(file)]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
