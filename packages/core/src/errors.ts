/** The closed set of error codes; each maps once, at the edge, to a gRPC code and an HTTP status. */
export type ErrorCode =
  | "INVALID_ARGUMENT"
  | "INVALID_JOB_DEFINITION"
  | "JOB_NOT_FOUND"
  | "JOB_ALREADY_EXISTS"
  | "ILLEGAL_TRANSITION"
  | "FAILED_PRECONDITION"
  | "QUEUE_FULL"
  | "OTP_INVALID"
  | "OTP_EXPIRED"
  | "SESSION_INVALID"
  | "WORKER_NOT_FOUND"
  | "PROVIDER_NOT_FOUND"
  | "PROVIDER_ALREADY_EXISTS"
  | "UNAVAILABLE"
  | "UNIMPLEMENTED"
  | "INTERNAL";

export class HodeiError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;
  readonly retryable: boolean;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { cause?: unknown; details?: Record<string, unknown>; retryable?: boolean } = {},
  ) {
    super(message, { cause: opts.cause });
    this.name = "HodeiError";
    this.code = code;
    this.details = opts.details ?? {};
    this.retryable = opts.retryable ?? code === "UNAVAILABLE";
  }
}

/** Normalises anything thrown into a HodeiError (unknown errors become INTERNAL). */
export function coerceError(err: unknown): HodeiError {
  if (err instanceof HodeiError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new HodeiError("INTERNAL", message, { cause: err });
}

export function invalid(field: string, problem: string): HodeiError {
  return new HodeiError("INVALID_ARGUMENT", `${field}: ${problem}`, { details: { field } });
}
