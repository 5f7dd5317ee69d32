import { test } from "node:test";
import assert from "node:assert/strict";
import { isUtf8 } from "node:buffer";
import { LineSplitter, MAX_LINE_BYTES } from "../src/line-splitter.js";

function split(chunks: (string | Buffer)[], maxLineBytes?: number): string[] {
  const lines: string[] = [];
  const splitter = new LineSplitter(
    (buf, start, end) => lines.push(buf.toString("utf8", start, end)),
    maxLineBytes,
  );
  for (const c of chunks) splitter.push(typeof c === "string" ? Buffer.from(c) : c);
  splitter.end();
  return lines;
}

test("lines split across chunks are joined, in order", () => {
  assert.deepEqual(split(["he", "llo\nwor", "ld\n", "a\nb\nc"]), ["hello", "world", "a", "b", "c"]);
});

test("a final partial line at end of stream is a line; a trailing newline adds none", () => {
  assert.deepEqual(split(["one\ntwo"]), ["one", "two"]);
  assert.deepEqual(split(["one\ntwo\n"]), ["one", "two"]);
  assert.deepEqual(split([]), []);
});

test("empty lines are kept", () => {
  assert.deepEqual(split(["\n\na\n\n"]), ["", "", "a", ""]);
});

test("CRLF endings lose their CR, also when CR and LF arrive in different chunks; inner CRs stay", () => {
  assert.deepEqual(split(["a\r\nb\r", "\nc\r\n"]), ["a", "b", "c"]);
  assert.deepEqual(split(["progress 1\rprogress 2\r\n"]), ["progress 1\rprogress 2"]);
});

test("a multi-byte character split between chunks is decoded whole", () => {
  const bytes = Buffer.from("año ✓\n");
  assert.deepEqual(split([bytes.subarray(0, 2), bytes.subarray(2, 6), bytes.subarray(6)]), ["año ✓"]);
});

test("invalid UTF-8 and binary output become replacement characters (valid UTF-8 out), never an exception", () => {
  const raw: Buffer[] = [];
  const s = new LineSplitter((buf, start, end) => raw.push(Buffer.from(buf.subarray(start, end))));
  s.push(Buffer.from([0x41, 0xff, 0x0a, 0x42, 0xc3]));
  s.push(Buffer.from([0x28, 0x0a]));
  s.end();
  assert.ok(raw.every((b) => isUtf8(b)));
  assert.deepEqual(
    raw.map((b) => b.toString()),
    ["A\ufffd", "B\ufffd("],
  );
  const lines = split([Buffer.from([0xff, 0xfe, 0x41, 0x0a, 0xc3]), Buffer.from([0x00, 0x80, 0x0a])]);
  assert.equal(lines.length, 2);
  assert.equal(lines[0], "\ufffd\ufffdA");
  assert.ok(lines[1]!.includes("\ufffd"));
  const random = Buffer.alloc(256 * 1024);
  for (let i = 0; i < random.length; i++) random[i] = (i * 7919) % 256;
  assert.doesNotThrow(() => split([random]));
});

test("a 10 MB line without newline is cut into pieces of at most 1 MiB, nothing lost", () => {
  const big = Buffer.alloc(10 * 1024 * 1024, 0x61);
  for (const chunks of [[big], chunkify(big, 65536), [Buffer.concat([big, Buffer.from("\nnext")])]]) {
    const lines = split(chunks);
    const pieces = lines.slice(0, 10);
    assert.ok(pieces.every((l) => l.length <= MAX_LINE_BYTES));
    assert.equal(
      pieces.reduce((n, l) => n + l.length, 0),
      big.length,
    );
  }
});

test("a line of exactly the cap stays one line; cuts never split a UTF-8 character", () => {
  assert.deepEqual(split(["abcd\nabcdefgh\n"], 4), ["abcd", "abcd", "efgh"]);
  const lines = split(["ééé\n"], 5); // 6 bytes, é is 2 bytes: cut at 4
  assert.deepEqual(lines, ["éé", "é"]);
});

test("each chunk's lines carry the time the chunk arrived", () => {
  const stamps: number[] = [];
  let clock = 100;
  const splitter = new LineSplitter(
    (_b, _s, _e, ts) => stamps.push(ts),
    MAX_LINE_BYTES,
    () => clock,
  );
  splitter.push(Buffer.from("a\nb"));
  clock = 200;
  splitter.push(Buffer.from("\nc\n"));
  assert.deepEqual(stamps, [100, 200, 200]);
});

function chunkify(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out;
}
