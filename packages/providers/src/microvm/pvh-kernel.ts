// The guest kernel as an uncompressed ELF with a PVH entry point, which QEMU starts directly: no
// real-mode setup and no self-decompression in the guest. Under software emulation (TCG) that
// decompression alone took about 0.4 s of a boot here; the ELF is loaded by QEMU on the host.
import { spawn } from "node:child_process";
import { which } from "./run-command.js";

/** Compressed payloads a bzImage may carry, by their magic, with the tool that unpacks each. */
const PAYLOADS = [
  { magic: Buffer.from([0x02, 0x21, 0x4c, 0x18]), tool: "lz4", args: ["-d", "-c", "-q"] },
  { magic: Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), tool: "zstd", args: ["-d", "-c", "-q"] },
  {
    magic: Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]),
    tool: "xz",
    args: ["-d", "-c", "-q"],
  },
  { magic: Buffer.from([0x1f, 0x8b, 0x08]), tool: "gzip", args: ["-d", "-c", "-q"] },
] as const;

/** A kernel image is far smaller; a runaway decompressor is cut off here. */
const MAX_VMLINUX_BYTES = 512 * 1024 * 1024;
/** Offsets of one magic tried at most (the magic bytes may also occur by chance in the payload). */
const MAX_TRIES_PER_PAYLOAD = 8;

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
const PT_NOTE = 4;
/** XEN_ELFNOTE_PHYS32_ENTRY: the 32-bit entry point of a PVH boot. */
const XEN_ELFNOTE_PHYS32_ENTRY = 18;

/**
 * Whether `elf` is a 64-bit little-endian ELF with the Xen note that names a PVH entry point, the
 * only way QEMU boots an uncompressed kernel.
 */
export function hasPvhEntry(elf: Buffer): boolean {
  if (elf.length < 64 || !elf.subarray(0, 4).equals(ELF_MAGIC)) return false;
  if (elf[4] !== 2 || elf[5] !== 1) return false; // ELFCLASS64, ELFDATA2LSB
  const phoff = Number(elf.readBigUInt64LE(32));
  const phentsize = elf.readUInt16LE(54);
  const phnum = elf.readUInt16LE(56);
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (ph + 56 > elf.length) return false;
    if (elf.readUInt32LE(ph) !== PT_NOTE) continue;
    const start = Number(elf.readBigUInt64LE(ph + 8));
    const end = Math.min(start + Number(elf.readBigUInt64LE(ph + 32)), elf.length);
    for (let o = start; o + 12 <= end;) {
      const namesz = elf.readUInt32LE(o);
      const descsz = elf.readUInt32LE(o + 4);
      const type = elf.readUInt32LE(o + 8);
      const name = elf.subarray(o + 12, o + 12 + namesz).toString("latin1");
      if (name === "Xen\0" && type === XEN_ELFNOTE_PHYS32_ENTRY) return true;
      o += 12 + align4(namesz) + align4(descsz);
    }
  }
  return false;
}

const align4 = (n: number): number => (n + 3) & ~3;

/** Runs `tool` on `input`; its output however it exits (a payload is followed by other bytes). */
function decompress(tool: string, args: readonly string[], input: Buffer): Promise<Buffer> {
  return new Promise((resolve) => {
    const child = spawn(tool, args, { stdio: ["pipe", "pipe", "ignore"] });
    const chunks: Buffer[] = [];
    let size = 0;
    child.stdout.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_VMLINUX_BYTES) child.kill("SIGKILL");
      else chunks.push(c);
    });
    child.stdin.on("error", () => {}); // the tool may stop reading at the payload's end
    child.stdin.end(input);
    child.once("error", () => resolve(Buffer.alloc(0)));
    child.once("close", () => resolve(Buffer.concat(chunks)));
  });
}

/**
 * The uncompressed kernel inside a bzImage, if it has a PVH entry point and a decompressor for its
 * payload is installed (lz4, zstd, xz or gzip); undefined otherwise, and the bzImage is used as is.
 */
export async function extractPvhKernel(bzImage: Buffer): Promise<Buffer | undefined> {
  for (const p of PAYLOADS) {
    if (!(await which(p.tool))) continue;
    let at = bzImage.indexOf(p.magic);
    for (let tries = 0; at >= 0 && tries < MAX_TRIES_PER_PAYLOAD; tries++) {
      const out = await decompress(p.tool, p.args, bzImage.subarray(at));
      if (hasPvhEntry(out)) return out;
      at = bzImage.indexOf(p.magic, at + 1);
    }
  }
  return undefined;
}
