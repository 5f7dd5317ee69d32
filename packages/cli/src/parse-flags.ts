/** Pure parsers for flag values. Each throws UsageError with a message fit for the terminal. */
import { type JobState, type PriorityName } from "@hodei/api";
import { UsageError } from "./errors.js";

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A duration in milliseconds: `300ms`, `10s`, `5m`, `1h`, `1h30m`, `1.5s`, or plain seconds (`300`).
 */
export function parseDurationMs(text: string): number {
  const s = text.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1_000);
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let consumed = 0;
  for (let m = part.exec(s); m !== null; m = part.exec(s)) {
    total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
    consumed = part.lastIndex;
  }
  if (s === "" || consumed !== s.length) {
    throw new UsageError(`invalid duration ${JSON.stringify(text)} (use e.g. 300ms, 10s, 5m, 1h or seconds)`);
  }
  return Math.round(total);
}

/** A protobuf Duration init (seconds as bigint, nanos keeping millisecond precision). */
export function durationFromMs(ms: number): { seconds: bigint; nanos: number } {
  const seconds = Math.floor(ms / 1_000);
  return { seconds: BigInt(seconds), nanos: (ms - seconds * 1_000) * 1_000_000 };
}

const MEMORY_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  ki: 2 ** 10,
  kib: 2 ** 10,
  mi: 2 ** 20,
  mib: 2 ** 20,
  gi: 2 ** 30,
  gib: 2 ** 30,
  ti: 2 ** 40,
  tib: 2 ** 40,
};

/** A memory size in bytes: plain bytes, `512Mi`, `1Gi` (binary) or `500M`, `2G` (decimal). */
export function parseMemoryBytes(text: string): bigint {
  const m = /^(\d+(?:\.\d+)?)\s*([A-Za-z]*)$/.exec(text.trim());
  const factor = m ? MEMORY_UNITS[(m[2] as string).toLowerCase()] : undefined;
  if (!m || factor === undefined) {
    throw new UsageError(`invalid memory size ${JSON.stringify(text)} (use bytes or e.g. 512Mi, 1Gi, 500M)`);
  }
  return BigInt(Math.round(Number(m[1]) * factor));
}

/** CPU cores: `2`, `0.5`, or Kubernetes-style millicores `500m`. */
export function parseCpuCores(text: string): number {
  const s = text.trim();
  const milli = /^(\d+)m$/.exec(s);
  const cores = milli ? Number(milli[1]) / 1_000 : /^\d+(\.\d+)?$/.test(s) ? Number(s) : NaN;
  if (!(cores > 0) || cores > 1024) {
    throw new UsageError(`invalid cpu ${JSON.stringify(text)} (use cores such as 1, 0.5 or 500m)`);
  }
  return cores;
}

/** One `K=V` pair; the value may contain `=` and may be empty, the key may not. */
export function parseKeyValue(text: string): [string, string] {
  const eq = text.indexOf("=");
  if (eq <= 0) throw new UsageError(`expected KEY=VALUE, got ${JSON.stringify(text)}`);
  return [text.slice(0, eq), text.slice(eq + 1)];
}

/** Folds repeated `K=V` flags into a record; a later key wins. */
export function keyValuesToRecord(pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const [k, v] = parseKeyValue(p);
    out[k] = v;
  }
  return out;
}

const PRIORITIES: readonly PriorityName[] = ["LOW", "NORMAL", "HIGH", "CRITICAL"];

export function parsePriority(text: string): PriorityName {
  const name = text
    .trim()
    .toUpperCase()
    .replace(/^PRIORITY_/, "");
  if (!(PRIORITIES as readonly string[]).includes(name)) {
    throw new UsageError(`unknown priority ${JSON.stringify(text)} (use low, normal, high or critical)`);
  }
  return name as PriorityName;
}

const STATE_ALIASES: Record<string, JobState> = {
  PENDING: "PENDING",
  QUEUED: "PENDING",
  ASSIGNED: "ASSIGNED",
  RUNNING: "RUNNING",
  SUCCEEDED: "SUCCEEDED",
  COMPLETED: "SUCCEEDED",
  FAILED: "FAILED",
  CANCELLED: "CANCELLED",
  CANCELED: "CANCELLED",
  TIMEOUT: "TIMEOUT",
};

/** A job state as humans write it (`succeeded`, `RUNNING`, `JOB_STATUS_COMPLETED`). */
export function parseJobState(text: string): JobState {
  const state =
    STATE_ALIASES[
      text
        .trim()
        .toUpperCase()
        .replace(/^JOB_STATUS_/, "")
    ];
  if (!state) {
    throw new UsageError(
      `unknown status ${JSON.stringify(text)} (use pending, assigned, running, succeeded, failed, cancelled or timeout)`,
    );
  }
  return state;
}

/** A non-negative integer flag such as --limit, --tail or --max-retries. */
export function parseCount(text: string, max = Number.MAX_SAFE_INTEGER): number {
  const s = text.trim();
  const n = /^\d+$/.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n) || n > max) {
    throw new UsageError(`expected a whole number between 0 and ${max}, got ${JSON.stringify(text)}`);
  }
  return n;
}
