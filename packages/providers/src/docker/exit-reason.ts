import { constants } from "node:os";

const SIGNAL_NAMES = new Map(Object.entries(constants.signals).map(([name, n]) => [n, name]));

/** What an ended worker container says about itself, as the engine reports it. */
export interface ContainerEnd {
  exitCode: number | null;
  oomKilled: boolean;
  /** Set when the control plane asked for it: no reason needed. */
  destroyed: boolean;
  memoryLimitBytes: number;
  /** The agent's last line of output, if any. */
  lastLine: string;
}

/**
 * Exit code, signal and reason of a worker container. docker-init exits 128+n when the agent was
 * killed by signal n, which is reported as the signal.
 */
export function explainExit(end: ContainerEnd): {
  code: number | null;
  signal: string | null;
  reason?: string;
} {
  const code = end.exitCode;
  const signal = code !== null && code > 128 ? (SIGNAL_NAMES.get(code - 128) ?? null) : null;
  const out = { code: signal ? null : code, signal };
  if (end.oomKilled) {
    const mib = Math.round(end.memoryLimitBytes / 1024 ** 2);
    return { ...out, reason: `OOM killed: the worker container reached its memory limit of ${mib} MiB` };
  }
  if (end.destroyed || code === 0) return out;
  const how = signal ?? `code ${code}`;
  return { ...out, reason: `worker container exited with ${how}${end.lastLine ? `: ${end.lastLine}` : ""}` };
}

/**
 * The last non-empty line of a container's log as the engine sends it without a TTY: chunks each
 * behind an 8-byte header (stream, size). Cut to 300 characters.
 */
export function lastLogLine(raw: Buffer): string {
  const text: string[] = [];
  for (let i = 0; i + 8 <= raw.length;) {
    const size = raw.readUInt32BE(i + 4);
    text.push(raw.subarray(i + 8, i + 8 + size).toString("utf8"));
    i += 8 + size;
  }
  const lines = text
    .join("")
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  return (lines.at(-1) ?? "").slice(0, 300);
}
