// The JSON that queues many jobs, as REST's POST /api/jobs/batch and `hodei job queue-batch` take
// it: a bare array of job definitions, or a QueueJobsRequest ({job_definitions, queued_by}).
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { JobDefinitionSchema, type JobDefinition } from "./gen/hodei/common_pb.js";
import { QueueJobsRequestSchema } from "./gen/hodei/job_execution_pb.js";

/** What is wrong with the JSON, and where: `job_definitions[i]` for one definition, else `body`. */
export class QueueJobsJsonError extends Error {
  constructor(
    readonly where: string,
    problem: string,
  ) {
    super(problem);
    this.name = "QueueJobsJsonError";
  }
}

export function queueJobsFromJson(body: unknown): { jobDefinitions: JobDefinition[]; queuedBy: string } {
  if (Array.isArray(body)) {
    const jobDefinitions = body.map((d: unknown, i) => {
      try {
        return fromJson(JobDefinitionSchema, d as JsonValue);
      } catch (err) {
        throw new QueueJobsJsonError(`job_definitions[${i}]`, (err as Error).message);
      }
    });
    return { jobDefinitions, queuedBy: "" };
  }
  if (body === null || typeof body !== "object")
    throw new QueueJobsJsonError(
      "body",
      "must be a JSON array of job definitions or {job_definitions: [...]}",
    );
  try {
    const req = fromJson(QueueJobsRequestSchema, body as JsonValue);
    return { jobDefinitions: req.jobDefinitions, queuedBy: req.queuedBy };
  } catch (err) {
    throw new QueueJobsJsonError("body", (err as Error).message);
  }
}
