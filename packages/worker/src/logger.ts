/** The logging surface the worker needs: a subset of pino's, so a pino logger can be passed as is. */
export interface Logger {
  info(objOrMsg: object | string, msg?: string): void;
  warn(objOrMsg: object | string, msg?: string): void;
  error(objOrMsg: object | string, msg?: string): void;
  debug(objOrMsg: object | string, msg?: string): void;
}

const noop = (): void => {};

/** A logger that drops everything (tests, embedding). */
export const silentLogger: Logger = { info: noop, warn: noop, error: noop, debug: noop };
