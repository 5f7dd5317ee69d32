import { pino } from "pino";

/** The small logging surface the control plane uses; pino behind it. */
export interface Logger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

export function createLogger(level: string): Logger {
  return pino({ level, base: { service: "hodei-server" } }, pino.destination({ dest: 2, sync: false }));
}
