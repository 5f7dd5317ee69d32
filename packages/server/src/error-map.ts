// The one place HodeiError codes become gRPC statuses and HTTP statuses.
import { status, type StatusObject } from "@grpc/grpc-js";
import { coerceError, type ErrorCode } from "@hodei/core";

const table: Record<ErrorCode, [grpc: status, http: number]> = {
  INVALID_ARGUMENT: [status.INVALID_ARGUMENT, 400],
  INVALID_JOB_DEFINITION: [status.INVALID_ARGUMENT, 400],
  JOB_NOT_FOUND: [status.NOT_FOUND, 404],
  JOB_ALREADY_EXISTS: [status.ALREADY_EXISTS, 409],
  ILLEGAL_TRANSITION: [status.FAILED_PRECONDITION, 409],
  FAILED_PRECONDITION: [status.FAILED_PRECONDITION, 409],
  QUEUE_FULL: [status.RESOURCE_EXHAUSTED, 429],
  OTP_INVALID: [status.UNAUTHENTICATED, 401],
  OTP_EXPIRED: [status.UNAUTHENTICATED, 401],
  SESSION_INVALID: [status.UNAUTHENTICATED, 401],
  WORKER_NOT_FOUND: [status.NOT_FOUND, 404],
  PROVIDER_NOT_FOUND: [status.NOT_FOUND, 404],
  PROVIDER_ALREADY_EXISTS: [status.ALREADY_EXISTS, 409],
  UNAVAILABLE: [status.UNAVAILABLE, 503],
  UNIMPLEMENTED: [status.UNIMPLEMENTED, 501],
  INTERNAL: [status.INTERNAL, 500],
};

export function toGrpcStatus(err: unknown): Partial<StatusObject> & { code: status } {
  const e = coerceError(err);
  return { code: table[e.code][0], details: e.message };
}

export function toHttp(err: unknown): {
  statusCode: number;
  body: { error: { code: string; message: string } };
} {
  const e = coerceError(err);
  return { statusCode: table[e.code][1], body: { error: { code: e.code, message: e.message } } };
}
