// Finding the uncompressed, PVH-bootable kernel inside a bzImage. The ELF files here are built by
// hand (a program header table with one PT_NOTE segment); the compression is the real lz4 and gzip
// tools. The real Debian kernel is extracted and booted by microvm-provider.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { gzipSync } from "node:zlib";
import { extractPvhKernel, hasPvhEntry } from "../src/microvm/pvh-kernel.js";

/** An ELF64 LE file with one PT_NOTE segment holding a `name`/`type` note, then `padding` bytes. */
function elfWithNote(name: string, type: number, padding = 4096): Buffer {
  const nameBytes = Buffer.from(`${name}\0`, "latin1");
  const pad4 = (n: number) => (n + 3) & ~3;
  const note = Buffer.alloc(12 + pad4(nameBytes.length) + 8);
  note.writeUInt32LE(nameBytes.length, 0);
  note.writeUInt32LE(8, 4);
  note.writeUInt32LE(type, 8);
  nameBytes.copy(note, 12);
  note.writeUInt32LE(0x1000000, 12 + pad4(nameBytes.length)); // the entry address (unused here)
  const header = Buffer.alloc(64);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]).copy(header);
  header.writeBigUInt64LE(64n, 32); // e_phoff
  header.writeUInt16LE(56, 54); // e_phentsize
  header.writeUInt16LE(1, 56); // e_phnum
  const ph = Buffer.alloc(56);
  ph.writeUInt32LE(4, 0); // PT_NOTE
  ph.writeBigUInt64LE(BigInt(64 + 56), 8); // p_offset
  ph.writeBigUInt64LE(BigInt(note.length), 32); // p_filesz
  // Incompressible-looking but deterministic filler, so the payload is not trivially small.
  const filler = Buffer.from(Array.from({ length: padding }, (_, i) => (i * 7919) & 0xff));
  return Buffer.concat([header, ph, note, filler]);
}

/** A stand-in bzImage: setup code (zeros), the compressed kernel, then trailing bytes. */
function bzImage(payload: Buffer): Buffer {
  return Buffer.concat([Buffer.alloc(16_384), payload, Buffer.alloc(512, 0xee)]);
}

function lz4Legacy(data: Buffer): Buffer | undefined {
  const r = spawnSync("lz4", ["-l", "-c", "-q"], { input: data, maxBuffer: 64 << 20 });
  return r.status === 0 ? r.stdout : undefined;
}

test("an ELF64 is PVH-bootable only with the Xen PHYS32_ENTRY note", () => {
  assert.equal(hasPvhEntry(elfWithNote("Xen", 18)), true);
  assert.equal(hasPvhEntry(elfWithNote("Xen", 17)), false, "another Xen note");
  assert.equal(hasPvhEntry(elfWithNote("GNU", 18)), false, "another owner's note");
  const elf32 = elfWithNote("Xen", 18);
  elf32[4] = 1;
  assert.equal(hasPvhEntry(elf32), false, "a 32-bit ELF");
  assert.equal(hasPvhEntry(elfWithNote("Xen", 18).subarray(0, 100)), false, "cut inside its headers");
  assert.equal(
    hasPvhEntry(Buffer.from("MZ not an ELF at all, but long enough to have a header......")),
    false,
  );
});

test("the kernel is found inside a bzImage's lz4 payload, past a false start, and trailing bytes are ignored", async (t) => {
  const kernel = elfWithNote("Xen", 18, 200_000);
  const payload = lz4Legacy(kernel);
  if (!payload) return t.skip("needs lz4");
  // The lz4 magic once before the real payload, followed by junk: it decompresses to nothing useful.
  const falseStart = Buffer.concat([Buffer.from([0x02, 0x21, 0x4c, 0x18]), Buffer.alloc(64, 0x55)]);
  const image = Buffer.concat([Buffer.alloc(1024), falseStart, bzImage(payload)]);
  const found = await extractPvhKernel(image);
  assert.ok(found, "no kernel found");
  assert.ok(found.equals(kernel), "the extracted kernel differs from the original");
});

test("a gzip payload is found too; a kernel without the PVH note, or no payload at all, gives undefined", async () => {
  const kernel = elfWithNote("Xen", 18, 50_000);
  const found = await extractPvhKernel(bzImage(gzipSync(kernel)));
  assert.ok(found?.equals(kernel), "the gzip payload was not extracted");
  assert.equal(await extractPvhKernel(bzImage(gzipSync(elfWithNote("Xen", 5, 50_000)))), undefined);
  assert.equal(await extractPvhKernel(Buffer.alloc(100_000, 0x41)), undefined);
});
