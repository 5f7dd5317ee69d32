import { test } from "node:test";
import assert from "node:assert/strict";
import { isUtf8 } from "node:buffer";
import { LineSplitter, MAX_BLOCK_BYTES, MAX_LINE_BYTES } from "../src/line-splitter.js";

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

/** The lines of `chunks` through a splitter with a block sink: blocks split back into lines. */
function splitBlocks(
  chunks: (string | Buffer)[],
  maxLineBytes?: number,
): { lines: string[]; blocks: number } {
  const lines: string[] = [];
  let blocks = 0;
  const splitter = new LineSplitter(
    (buf, start, end) => lines.push(buf.toString("utf8", start, end)),
    maxLineBytes,
    Date.now,
    undefined,
    (buf, start, end, count) => {
      blocks++;
      assert.equal(buf[end - 1], 0x0a, "a block ends with its last line's newline");
      assert.ok(isUtf8(buf.subarray(start, end)));
      const text = buf.toString("utf8", start, end - 1).split("\n");
      assert.equal(text.length, count, "the count is the block's lines");
      assert.ok(end - start <= MAX_BLOCK_BYTES + 200, `a block of ${end - start} bytes`);
      lines.push(...text);
    },
  );
  for (const c of chunks) splitter.push(typeof c === "string" ? Buffer.from(c) : c);
  splitter.end();
  return { lines, blocks };
}

test("with a block sink, a chunk's whole lines go as blocks, and the lines are the same as one by one", () => {
  const seq = Buffer.from(Array.from({ length: 30_000 }, (_, i) => `${i} año ✓`).join("\n") + "\n");
  const cases: (string | Buffer)[][] = [
    ["he", "llo\nwor", "ld\n", "a\nb\nc"],
    ["one\ntwo"],
    ["\n\na\n\n"],
    ["a\r\nb\r", "\nc\r\n"],
    ["progress 1\rprogress 2\r\n", "x\ny\n"],
    [Buffer.from([0x41, 0xff, 0x0a, 0x42, 0xc3]), Buffer.from([0x28, 0x0a])],
    chunkify(seq, 65_536),
    chunkify(seq, 1000),
    chunkify(seq, 7),
  ];
  for (const chunks of cases) {
    const { lines, blocks } = splitBlocks(chunks);
    assert.deepEqual(lines, split(chunks), JSON.stringify(chunks).slice(0, 60));
    if (chunks[0]!.length >= 1000) assert.ok(blocks > 0);
  }
  // 64 KiB chunks of short lines: a few blocks each, never a line on its own.
  const big = splitBlocks(chunkify(seq, 65_536));
  assert.ok(big.blocks <= Math.ceil(seq.length / MAX_BLOCK_BYTES) + 2 * chunkify(seq, 65_536).length);
  // Where a line must be changed (a CR dropped) or cut, lines go one by one.
  assert.equal(splitBlocks(["a\r\nb\r\n"]).blocks, 0);
  assert.equal(splitBlocks(["a".repeat(50) + "\n"], 10).blocks, 0);
  assert.deepEqual(splitBlocks(["a".repeat(25) + "\nb\n"], 10).lines, split(["a".repeat(25) + "\nb\n"], 10));
});
