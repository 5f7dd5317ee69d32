// The frames of `hodei-spawn` (packages/worker/native/hodei-spawn.c), shared by its two clients: the
// worker's job spawner and the control plane's launcher of local workers.
import { constants } from "node:os";

/** Every frame starts with a u32 length (little-endian) of what follows, a kind byte and a u32 id. */
export const SPAWN_FRAME_HEADER = 9;

/** A frame of `kind` (one ASCII letter) for `id`, its body the UTF-8 of `body`. */
export function spawnFrame(kind: string, id: number, body = ""): Buffer {
  const bodyLen = Buffer.byteLength(body);
  const frame = Buffer.allocUnsafe(SPAWN_FRAME_HEADER + bodyLen);
  frame.writeUInt32LE(5 + bodyLen, 0);
  frame[4] = kind.charCodeAt(0);
  frame.writeUInt32LE(id, 5);
  if (bodyLen > 0) frame.write(body, SPAWN_FRAME_HEADER);
  return frame;
}

const signalNames = new Map<number, NodeJS.Signals>(
  Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]),
);

/** A `waitpid` status (an 'X' frame's) as Node reports a child's end: an exit code or a signal. */
export function waitStatus(status: number): { code: number | null; signal: NodeJS.Signals | null } {
  const sig = status & 0x7f;
  return sig === 0
    ? { code: (status >> 8) & 0xff, signal: null }
    : { code: null, signal: signalNames.get(sig) ?? null };
}
