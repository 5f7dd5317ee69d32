import type { RunJob, WorkerMessage } from "@hodei/api";
import type { JobOutcome, JobRequest } from "./job-execution.js";
import { workerMessage } from "./control-link.js";

/** The job as the execution needs it, from the server's RunJob. */
export function jobRequestFrom(run: RunJob): JobRequest {
  return {
    jobId: run.jobId,
    executionId: run.executionId,
    command: run.command,
    arguments: run.arguments,
    script: run.script,
    environment: run.environment,
    secrets: run.secrets,
    workingDir: run.workingDir,
    stdin: run.stdin,
    timeoutMs: Number(run.timeoutMs),
    cleanupTimeoutMs: Number(run.cleanupTimeoutMs),
    ...(run.logSequenceBase !== undefined ? { logSequenceBase: Number(run.logSequenceBase) } : {}),
    logTextBlocks: run.logTextBlocks,
  };
}

export function ackMessage(
  jobId: string,
  executionId: string,
  accepted: boolean,
  message = "",
): WorkerMessage {
  return workerMessage({
    case: "ack",
    value: { $typeName: "hodei.WorkerAck", jobId, executionId, accepted, message },
  });
}

export function resultMessage(o: JobOutcome): WorkerMessage {
  return workerMessage({
    case: "result",
    value: {
      $typeName: "hodei.JobResult",
      jobId: o.jobId,
      executionId: o.executionId,
      exitCode: o.exitCode,
      status: o.status,
      errorMessage: o.errorMessage,
      startedAtMs: BigInt(o.startedAtMs),
      finishedAtMs: BigInt(o.finishedAtMs),
      lastSequence: BigInt(o.lastSequence),
    },
  });
}

export function selfTerminateMessage(reason: string): WorkerMessage {
  return workerMessage({ case: "selfTerminate", value: { $typeName: "hodei.SelfTerminate", reason } });
}
