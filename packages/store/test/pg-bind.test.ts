import { test } from "node:test";
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import pg from "pg";
import { DIRECT_BYTES, bindParts, type BindConfig } from "../src/pg-bind.js";

// pg's own encoding of a Bind, read off a connection writing into a stream we hold.
function pgBind(config: BindConfig): Buffer {
  const stream = new PassThrough();
  const written: Buffer[] = [];
  stream.on("data", (b: Buffer) => written.push(b));
  const con = new pg.Connection({ stream } as unknown as pg.ConnectionConfig) as unknown as {
    bind(c: BindConfig): void;
  };
  con.bind(config);
  return Buffer.concat(written);
}

// What pg's queries map their values with before binding them.
const { prepareValue } = (pg as unknown as { utils: { prepareValue(v: unknown): unknown } }).utils;

test("a Bind with large binary parameters is byte for byte pg's, the large ones passed through uncopied", () => {
  const big = Buffer.alloc(DIRECT_BYTES + 17, 7);
  const bigger = Buffer.alloc(3 * DIRECT_BYTES, 9);
  const small = Buffer.from([1, 2, 3]);
  const config: BindConfig = {
    portal: "",
    statement: "hodei_3",
    values: ["job-é", 12, null, big, undefined, small, "", bigger, 4.5],
    valueMapper: prepareValue,
  };
  const parts = bindParts(config);
  assert.ok(parts);
  assert.equal(parts.length, 5);
  assert.equal(parts[1], big, "the caller's buffer itself, not a copy");
  assert.equal(parts[3], bigger);
  assert.deepEqual(Buffer.concat(parts), pgBind(config));
});

test("a Bind with binary results and a portal matches pg's too", () => {
  const config: BindConfig = {
    portal: "p1",
    statement: "",
    binary: true,
    values: [Buffer.alloc(DIRECT_BYTES, 1)],
  };
  assert.deepEqual(Buffer.concat(bindParts(config)!), pgBind(config));
});

test("a Bind without a large binary parameter is left to pg", () => {
  assert.equal(
    bindParts({ values: ["x".repeat(10 * DIRECT_BYTES), Buffer.alloc(DIRECT_BYTES - 1)] }),
    undefined,
  );
  assert.equal(bindParts({}), undefined);
});

test("a mapper that throws throws before any part is made", () => {
  assert.throws(
    () =>
      bindParts({
        values: [Buffer.alloc(DIRECT_BYTES), "x"],
        valueMapper: (v, i) => {
          if (i === 1) throw new Error("unencodable");
          return v;
        },
      }),
    /unencodable/,
  );
});
