import type { LogLevel } from "@hodei/core";
import type { Logger } from "./logger.js";

type Level = "debug" | "info" | "warn" | "error";
const RANK: Record<LogLevel, number> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: Infinity,
};

function errorFields(value: unknown): unknown {
  return value instanceof Error ? { message: value.message, stack: value.stack } : value;
}

/** One JSON line per entry on stderr, pino's shape, for the standalone worker (no dependency to load). */
export function stderrLogger(name: string, minLevel: LogLevel = "info"): Logger {
  const write = (level: Level) => (objOrMsg: object | string, msg?: string) => {
    if (RANK[level] < RANK[minLevel]) return;
    const fields = typeof objOrMsg === "string" ? { msg: objOrMsg } : { ...objOrMsg, msg };
    const entry: Record<string, unknown> = { level: RANK[level], time: Date.now(), name };
    for (const [k, v] of Object.entries(fields)) entry[k] = errorFields(v);
    process.stderr.write(JSON.stringify(entry) + "\n");
  };
  return { debug: write("debug"), info: write("info"), warn: write("warn"), error: write("error") };
}
