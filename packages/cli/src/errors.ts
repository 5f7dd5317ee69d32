/** The CLI's error model: every failure ends as a message on stderr and a documented exit code. */
import { status as GrpcStatus } from "@grpc/grpc-js";

export const EXIT = {
  OK: 0,
  FAILURE: 1,
  USAGE: 2,
  UNREACHABLE: 3,
  NOT_FOUND: 4,
  /** `job run` of a job that timed out, as `timeout(1)` does. */
  JOB_TIMEOUT: 124,
  /** `job run` of a job that was cancelled, as for Ctrl-C. */
  JOB_CANCELLED: 130,
  /** Stopped with Ctrl-C. */
  INTERRUPTED: 130,
} as const;

/** A failure with the message to show and the exit code to leave with. */
export class CliError extends Error {
  readonly exitCode: number;

  constructor(message: string, exitCode: number = EXIT.FAILURE, opts: { cause?: unknown } = {}) {
    super(message, opts);
    this.name = "CliError";
    this.exitCode = exitCode;
  }
}

/** A bad flag, argument or combination of them: exit 2. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT.USAGE);
    this.name = "UsageError";
  }
}

/** What a gRPC failure is about, so that its message can name it. */
export interface CallContext {
  address: string;
  jobId?: string;
  deadlineMs?: number;
}

interface ServiceErrorLike {
  code: number;
  details?: string;
  message?: string;
}

export function isServiceError(err: unknown): err is ServiceErrorLike {
  return (
    typeof err === "object" &&
    err !== null &&
    typeof (err as { code?: unknown }).code === "number" &&
    ("details" in err || "metadata" in err)
  );
}

export function unreachableMessage(address: string): string {
  return `cannot reach the Hodei server at ${address}: is it running? (start it with: npm start)`;
}

/** Maps a gRPC status to the message and exit code the user sees. */
export function fromGrpcError(err: ServiceErrorLike, ctx: CallContext): CliError {
  const details = err.details || err.message || `gRPC status ${err.code}`;
  switch (err.code) {
    case GrpcStatus.UNAVAILABLE:
      return new CliError(unreachableMessage(ctx.address), EXIT.UNREACHABLE, { cause: err });
    case GrpcStatus.DEADLINE_EXCEEDED: {
      const within = ctx.deadlineMs ? ` within ${ctx.deadlineMs / 1_000}s` : "";
      return new CliError(`the Hodei server at ${ctx.address} did not answer${within}`, EXIT.UNREACHABLE, {
        cause: err,
      });
    }
    case GrpcStatus.NOT_FOUND:
      return new CliError(ctx.jobId ? `job ${ctx.jobId} not found` : details, EXIT.NOT_FOUND, { cause: err });
    case GrpcStatus.INVALID_ARGUMENT:
    case GrpcStatus.ALREADY_EXISTS:
    case GrpcStatus.FAILED_PRECONDITION:
    case GrpcStatus.OUT_OF_RANGE:
      return new CliError(details, EXIT.USAGE, { cause: err });
    case GrpcStatus.UNIMPLEMENTED:
      return new CliError(
        `the server at ${ctx.address} does not support this call: ${details}`,
        EXIT.FAILURE,
        {
          cause: err,
        },
      );
    case GrpcStatus.UNAUTHENTICATED:
    case GrpcStatus.PERMISSION_DENIED:
      return new CliError(`not allowed: ${details}`, EXIT.FAILURE, { cause: err });
    default:
      return new CliError(details, EXIT.FAILURE, { cause: err });
  }
}

/** Normalises anything thrown into a CliError. */
export function toCliError(err: unknown, ctx: CallContext): CliError {
  if (err instanceof CliError) return err;
  if (isServiceError(err)) return fromGrpcError(err, ctx);
  if (err instanceof Error) return new CliError(err.message, EXIT.FAILURE, { cause: err });
  return new CliError(String(err));
}

/** Status codes after which a stream is worth opening again (server restart, network blip). */
export function isTransientStreamError(err: unknown): boolean {
  if (!isServiceError(err)) return false;
  return (
    err.code === GrpcStatus.UNAVAILABLE ||
    err.code === GrpcStatus.CANCELLED ||
    err.code === GrpcStatus.INTERNAL ||
    err.code === GrpcStatus.UNKNOWN ||
    err.code === GrpcStatus.ABORTED
  );
}
