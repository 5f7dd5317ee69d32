// LOG_LEVEL, as the control plane and the worker agent both read it.

/** pino's levels. */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The level `raw` names (any case, spaces around ignored); undefined when it names none. */
export function parseLogLevel(raw: string): LogLevel | undefined {
  const wanted = raw.trim().toLowerCase();
  return LOG_LEVELS.find((l) => l === wanted);
}
