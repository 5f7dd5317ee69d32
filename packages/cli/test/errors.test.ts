import { test } from "node:test";
import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import { CliError, fromGrpcError, isTransientStreamError, toCliError, UsageError } from "../src/errors.js";

const grpcError = (code: number, details: string) =>
  Object.assign(new Error(details), { code, details, metadata: {} });
const ctx = { address: "127.0.0.1:50051", deadlineMs: 10_000 };

test("gRPC failures become clear messages and documented exit codes", () => {
  const cases: [number, string, string, number][] = [
    [
      status.UNAVAILABLE,
      "No connection established",
      "cannot reach the Hodei server at 127.0.0.1:50051: is it running? (start it with: npm start)",
      3,
    ],
    [
      status.DEADLINE_EXCEEDED,
      "Deadline exceeded",
      "the Hodei server at 127.0.0.1:50051 did not answer within 10s",
      3,
    ],
    [status.NOT_FOUND, "JOB_NOT_FOUND: no job x", "job x not found", 4],
    [
      status.INVALID_ARGUMENT,
      "job_definition.command: must not be empty",
      "job_definition.command: must not be empty",
      2,
    ],
    [status.ALREADY_EXISTS, "job x already exists", "job x already exists", 2],
    [status.FAILED_PRECONDITION, "job x has already finished", "job x has already finished", 2],
    [status.INTERNAL, "boom", "boom", 1],
  ];
  for (const [code, details, message, exitCode] of cases) {
    const e = fromGrpcError(grpcError(code, details), { ...ctx, jobId: "x" });
    assert.deepEqual([e.message, e.exitCode], [message, exitCode], details);
  }
  assert.equal(fromGrpcError(grpcError(status.NOT_FOUND, "no provider p"), ctx).message, "no provider p");
});

test("anything thrown is normalised, CLI errors pass through", () => {
  const usage = new UsageError("bad flag");
  assert.equal(toCliError(usage, ctx), usage);
  assert.equal(toCliError(new Error("x"), ctx).exitCode, 1);
  assert.ok(toCliError("weird", ctx) instanceof CliError);
  assert.equal(toCliError(grpcError(status.UNAVAILABLE, ""), ctx).exitCode, 3);
});

test("streams are reopened after transport failures only", () => {
  assert.equal(isTransientStreamError(grpcError(status.UNAVAILABLE, "")), true);
  assert.equal(isTransientStreamError(grpcError(status.INTERNAL, "RST_STREAM")), true);
  assert.equal(isTransientStreamError(grpcError(status.NOT_FOUND, "")), false);
  assert.equal(isTransientStreamError(new Error("plain")), false);
});
