// The embedded driver writes parameters into its statements as literals (one simple-protocol
// message instead of a parse/bind round): every value must come back exactly as it went in, and a
// value with no literal form must take the parameterized path.
import { test } from "node:test";
import assert from "node:assert/strict";
import { PreparedTexts, executeStatement, inlineParams, openPglite } from "../src/index.js";

test("inlineParams quotes every value, doubles quotes, keeps $10 apart from $1, refuses NUL", () => {
  const params = ["it's", 2, null, true, 10n, new Date(0), "a", "b", "c", "ten"];
  assert.equal(
    inlineParams("SELECT $1, $2, $3, $4, $5, $6, $10", params),
    "SELECT 'it''s', '2', NULL, 't', '10', '1970-01-01T00:00:00.000Z', 'ten'",
  );
  assert.equal(inlineParams("SELECT $1", ["a\0b"]), undefined);
  assert.equal(inlineParams("SELECT $1", [{ x: 1 }]), undefined);
  assert.equal(inlineParams("SELECT $1", [Number.NaN]), undefined);
});

test("hostile text round-trips exactly through an inlined insert; NUL is refused with an error, not mangled", async () => {
  const db = await openPglite(null);
  try {
    await db.query("CREATE TABLE t (id int, s text, j jsonb)");
    const hostile = [
      "O'Brien",
      "back\\slash \\' \\\\",
      "$1 $$ $2 -- not a comment /* nor this */",
      "'; DROP TABLE t; --",
      "ünïcödé ✓ 𝄞",
      "line\nbreak\ttab\r",
      "",
    ];
    for (const [i, s] of hostile.entries()) {
      await db.query("INSERT INTO t (id, s, j) VALUES ($1, $2, $3::jsonb)", [i, s, JSON.stringify({ s })]);
    }
    const rows = (await db.query<{ id: number; s: string; j: { s: string } }>("SELECT * FROM t ORDER BY id"))
      .rows;
    assert.deepEqual(
      rows.map((r) => r.s),
      hostile,
    );
    assert.deepEqual(
      rows.map((r) => r.j.s),
      hostile,
    );
    const updated = await db.transaction((tx) => tx.query("UPDATE t SET s = $1 WHERE id < $2", ["x", 3]));
    assert.equal(updated.rowCount, 3);
    await assert.rejects(db.query("INSERT INTO t (id, s) VALUES ($1, $2)", [99, "nul\0byte"]));
    assert.equal((await db.query("SELECT count(*)::int AS n FROM t")).rows[0]?.n, hostile.length);
  } finally {
    await db.close();
  }
});

test("PreparedTexts names a text on its second run, up to its bound, and gives up on one that fails to prepare", () => {
  const texts = new PreparedTexts("p_", 2);
  assert.equal(texts.nameFor("A"), undefined, "a first run runs as text");
  assert.equal(texts.nameFor("A"), "p_0");
  assert.equal(texts.nameFor("A"), "p_0");
  texts.nameFor("B");
  assert.equal(texts.nameFor("B"), "p_1");
  texts.nameFor("C");
  assert.equal(texts.nameFor("C"), undefined, "past the bound every new text runs as text");
  texts.failed("B");
  assert.equal(texts.nameFor("B"), "p_1", "one failure may be the session's, not the text's");
  texts.failed("B");
  assert.equal(texts.nameFor("B"), undefined);
  // With room for more names, a text given up on never earns one again, nor uses up another.
  const roomy = new PreparedTexts("r_", 8);
  roomy.nameFor("SHOW x");
  assert.equal(roomy.nameFor("SHOW x"), "r_0");
  roomy.failed("SHOW x");
  roomy.failed("SHOW x");
  for (let i = 0; i < 4; i++) assert.equal(roomy.nameFor("SHOW x"), undefined);
  roomy.nameFor("D");
  assert.equal(roomy.nameFor("D"), "r_1");
  assert.equal(executeStatement("p_0", ["it's", 1, null]), "EXECUTE p_0('it''s', '1', NULL)");
  assert.equal(executeStatement("p_0", []), "EXECUTE p_0");
  assert.equal(executeStatement("p_0", ["nul\0"]), undefined);
});
