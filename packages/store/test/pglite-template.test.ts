// A new embedded data directory is a copy of the template `npm run build` makes, not a run of initdb;
// a directory already in use, or a template of another PGlite, is left alone.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUILT_PGLITE_TEMPLATE, openPglite, seedFromTemplate, templateUsable } from "../src/index.js";

/** pg_control begins with the system identifier, which initdb draws anew for every cluster. */
const systemIdentifier = (dataDir: string): bigint =>
  readFileSync(join(dataDir, "global", "pg_control")).readBigUInt64LE(0);

test("the build leaves a template made by the installed PGlite", () => {
  assert.ok(templateUsable(BUILT_PGLITE_TEMPLATE), `no usable template at ${BUILT_PGLITE_TEMPLATE}`);
});

test("a new data directory starts as a copy of the template, and works as a database", async () => {
  const root = mkdtempSync(join(tmpdir(), "hodei-template-"));
  try {
    for (const dir of [join(root, "missing", "data"), join(root, "empty")]) {
      if (dir.endsWith("empty")) mkdirSync(dir);
      const db = await openPglite(dir);
      try {
        // The template's cluster, not one of initdb's own making.
        assert.equal(systemIdentifier(dir), systemIdentifier(BUILT_PGLITE_TEMPLATE));
        const r = await db.query<{ id: string }>(
          "SELECT system_identifier::text AS id FROM pg_control_system()",
        );
        assert.equal(r.rows[0]?.id, systemIdentifier(BUILT_PGLITE_TEMPLATE).toString());
        await db.exec("CREATE TABLE kept (x int); INSERT INTO kept VALUES (7)");
      } finally {
        await db.close();
      }
      const again = await openPglite(dir);
      try {
        assert.deepEqual((await again.query("SELECT x FROM kept")).rows, [{ x: 7 }]);
      } finally {
        await again.close();
      }
    }
    // Nothing of the copies is left beside them.
    assert.deepEqual(readdirSync(root).sort(), ["empty", "missing"]);
    assert.deepEqual(readdirSync(join(root, "missing")), ["data"]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("a directory already in use, or a template of another PGlite, is not copied over", () => {
  const root = mkdtempSync(join(tmpdir(), "hodei-template-"));
  try {
    const used = join(root, "used");
    mkdirSync(used);
    writeFileSync(join(used, "notes.txt"), "mine");
    assert.equal(seedFromTemplate(used), false);
    assert.deepEqual(readdirSync(used), ["notes.txt"]);

    const other = join(root, "other-template");
    mkdirSync(other);
    writeFileSync(join(other, "PG_VERSION"), "17\n");
    writeFileSync(`${other}.version`, "0.0.1\n");
    assert.equal(templateUsable(other), false);
    const target = join(root, "target");
    assert.equal(seedFromTemplate(target, other), false);
    assert.deepEqual(readdirSync(root).sort(), ["other-template", "other-template.version", "used"]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
