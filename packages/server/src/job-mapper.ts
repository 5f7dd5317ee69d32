// Protobuf ⇄ domain for jobs. Generated types stay at the edge; the rest of the server sees JobSpec/JobRecord.
import { create, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate, timestampMs, type Duration } from "@bufbuild/protobuf/wkt";
import {
  JobDefinitionSchema,
  JobSchema,
  JobExecutionSchema,
  QueueJobResponseSchema,
  QueueJobsResponseSchema,
  priorityFromWire,
  priorityToWire,
  jobStatusToWire,
  type Job,
  type JobDefinition,
  type JobExecution,
} from "@hodei/api";
import {
  DEFAULT_EXECUTION_TIMEOUT_MS,
  DEFAULT_HEARTBEAT_TIMEOUT_MS,
  HodeiError,
  MAX_DEFINITION_BYTES,
  invalid,
  validateJobId,
  validateJobSpec,
  validateSecretNames,
  type JobSpec,
} from "@hodei/core";
import type { ExecutionRecord, JobRecord } from "@hodei/store";
import { randomUUID } from "node:crypto";

function durationMs(d: Duration | undefined, field: string, fallback: number): number {
  if (!d) return fallback;
  const ms = Number(d.seconds) * 1000 + d.nanos / 1e6;
  if (ms < 0 || d.nanos < 0) throw invalid(field, "must not be negative");
  return ms;
}

function futureMs(ms: number, field: string): number {
  if (ms <= Date.now()) throw invalid(field, `is in the past (${new Date(ms).toISOString()})`);
  return ms;
}

export interface ParsedDefinition {
  spec: JobSpec;
  secrets: Record<string, string>;
  /** The id was made here, so no other job can have it. */
  idGenerated: boolean;
}

/** QueueJob's answer for a job it queued (also each of QueueJobs'). */
export function queuedAnswer(job: JobRecord): MessageInitShape<typeof QueueJobResponseSchema> {
  return {
    success: true,
    message: `job ${job.id} queued`,
    queuedAt: timestampFromDate(job.createdAt),
    jobId: { value: job.id },
  };
}

/** The most definitions one QueueJobs call takes. */
export const MAX_JOBS_PER_CALL = 10_000;

/** Runs `parse`; an INVALID_ARGUMENT about `job_definition…` is re-aimed at `where…` (its index). */
function inDefinition<T>(where: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof HodeiError && err.code === "INVALID_ARGUMENT") {
      const field = typeof err.details.field === "string" ? err.details.field : "job_definition";
      const problem = err.message.slice(err.message.indexOf(": ") + 2);
      // specFromDefinition names most fields from job_definition, a job id as job_id.value.
      const inner = field.startsWith("job_definition")
        ? field.replace(/^job_definition/, where)
        : `${where}.${field}`;
      throw invalid(inner, problem);
    }
    throw err;
  }
}

/**
 * The definitions of one QueueJobs call, each validated as QueueJob validates one. Any error refuses
 * them all, naming `job_definitions[i]`: a bad definition, an id given twice, none, or too many.
 */
export function definitionsFromWire(defs: JobDefinition[]): ParsedDefinition[] {
  if (defs.length === 0) throw invalid("job_definitions", "needs at least one definition");
  if (defs.length > MAX_JOBS_PER_CALL) {
    throw invalid(
      "job_definitions",
      `has ${defs.length} definitions, more than the ${MAX_JOBS_PER_CALL} allowed`,
    );
  }
  const firstIndexOf = new Map<string, number>();
  return defs.map((def, i) => {
    const where = `job_definitions[${i}]`;
    const p = inDefinition(where, () => specFromDefinition(def));
    if (!p.idGenerated) {
      const earlier = firstIndexOf.get(p.spec.id);
      if (earlier !== undefined) {
        const problem = `${JSON.stringify(p.spec.id)} is also job_definitions[${earlier}]'s id`;
        throw invalid(`${where}.job_id.value`, problem);
      }
      firstIndexOf.set(p.spec.id, i);
    }
    return p;
  });
}

/** QueueJobs' answer: one result per definition, in order, and how many were queued. */
export function queueJobsAnswer(
  parsed: ParsedDefinition[],
  outcomes: PromiseSettledResult<JobRecord>[],
): MessageInitShape<typeof QueueJobsResponseSchema> {
  let queued = 0;
  const results = outcomes.map((o, i) => {
    if (o.status === "fulfilled") {
      queued++;
      return queuedAnswer(o.value);
    }
    const message = (o.reason as Error).message.replace(/^job_definition\b/, `job_definitions[${i}]`);
    return { success: false, message, jobId: { value: parsed[i]!.spec.id } };
  });
  return { results, queued };
}

/** Validates a wire definition; every error names the offending field. */
export function specFromDefinition(def: JobDefinition | undefined): ParsedDefinition {
  if (!def) throw invalid("job_definition", "is required");
  const size = toBinary(JobDefinitionSchema, def).length;
  if (size > MAX_DEFINITION_BYTES) {
    throw invalid("job_definition", `is ${size} bytes, more than the ${MAX_DEFINITION_BYTES} allowed`);
  }
  const id = def.jobId?.value ? validateJobId(def.jobId.value) : randomUUID();
  const priority = priorityFromWire(def.scheduling?.priority ?? 0);
  if (!priority)
    throw invalid("job_definition.scheduling.priority", `unknown priority ${def.scheduling?.priority}`);
  const r = def.requirements;
  const deadline = def.scheduling?.deadline;
  const spec: JobSpec = {
    id,
    name: def.name || id,
    description: def.description,
    command: def.command,
    arguments: [...def.arguments],
    environment: { ...def.environment },
    requirements: {
      cpuCores: r?.cpuCores ?? 0,
      memoryBytes: Number(r?.memoryBytes ?? 0),
      diskBytes: Number(r?.diskBytes ?? 0),
      gpuCount: r?.gpuCount ?? 0,
      gpuTypes: [...(r?.gpuTypes ?? [])],
      architecture: r?.architecture ?? "",
    },
    priority,
    preferredProvider: def.scheduling?.preferredProvider ?? "",
    requiredLabels: { ...(def.scheduling?.requiredLabels ?? {}), ...(def.selector?.matchLabels ?? {}) },
    deadlineMs: deadline ? futureMs(timestampMs(deadline), "job_definition.scheduling.deadline") : null,
    executionTimeoutMs: durationMs(
      def.timeout?.executionTimeout,
      "job_definition.timeout.execution_timeout",
      DEFAULT_EXECUTION_TIMEOUT_MS,
    ),
    heartbeatTimeoutMs: durationMs(
      def.timeout?.heartbeatTimeout,
      "job_definition.timeout.heartbeat_timeout",
      DEFAULT_HEARTBEAT_TIMEOUT_MS,
    ),
    tags: [...def.tags],
    image: def.image,
    workingDir: def.workingDir,
    script:
      def.script && def.script.content
        ? { interpreter: def.script.interpreter || "bash", content: def.script.content }
        : null,
    maxRetries: def.maxRetries,
    stdin: def.stdin,
    cleanupTimeoutMs: durationMs(def.timeout?.cleanupTimeout, "job_definition.timeout.cleanup_timeout", 0),
  };
  validateSecretNames(def.secrets);
  return { spec: validateJobSpec(spec), secrets: { ...def.secrets }, idGenerated: !def.jobId?.value };
}

function durationFromMs(ms: number): Duration {
  return {
    $typeName: "google.protobuf.Duration",
    seconds: BigInt(Math.floor(ms / 1000)),
    nanos: Math.round((ms % 1000) * 1e6),
  };
}

/** The definition as queued, without secrets. */
export function definitionFromSpec(s: JobSpec): JobDefinition {
  return create(JobDefinitionSchema, {
    jobId: { value: s.id },
    name: s.name,
    description: s.description,
    command: s.command,
    arguments: s.arguments,
    environment: s.environment,
    requirements: {
      cpuCores: s.requirements.cpuCores,
      memoryBytes: BigInt(s.requirements.memoryBytes),
      diskBytes: BigInt(s.requirements.diskBytes),
      gpuCount: s.requirements.gpuCount,
      gpuTypes: s.requirements.gpuTypes,
      architecture: s.requirements.architecture,
    },
    scheduling: {
      priority: priorityToWire(s.priority),
      preferredProvider: s.preferredProvider,
      requiredLabels: s.requiredLabels,
      deadline: s.deadlineMs === null ? undefined : timestampFromDate(new Date(s.deadlineMs)),
    },
    timeout: {
      executionTimeout: durationFromMs(s.executionTimeoutMs),
      heartbeatTimeout: durationFromMs(s.heartbeatTimeoutMs),
      ...(s.cleanupTimeoutMs ? { cleanupTimeout: durationFromMs(s.cleanupTimeoutMs) } : {}),
    },
    tags: s.tags,
    image: s.image,
    workingDir: s.workingDir,
    script: s.script ?? undefined,
    maxRetries: s.maxRetries,
    stdin: s.stdin,
  });
}

const ts = (d: Date | null) => (d ? timestampFromDate(d) : undefined);

export function executionToWire(e: ExecutionRecord): JobExecution {
  return create(JobExecutionSchema, {
    executionId: e.id,
    attempt: e.attempt,
    workerId: e.workerId,
    status: jobStatusToWire(e.status),
    statusName: e.status,
    startedAt: ts(e.startedAt),
    finishedAt: ts(e.finishedAt),
    exitCode: e.exitCode ?? undefined,
    errorMessage: e.errorMessage,
  });
}

export function jobToWire(j: JobRecord, executions: ExecutionRecord[] = []): Job {
  return create(JobSchema, {
    jobId: { value: j.id },
    name: j.name,
    status: jobStatusToWire(j.status),
    statusName: j.status,
    definition: definitionFromSpec(j.spec),
    exitCode: j.exitCode ?? undefined,
    message: j.message,
    queuedBy: j.queuedBy,
    workerId: j.workerId ?? "",
    attempt: j.attempt,
    createdAt: ts(j.createdAt),
    startedAt: ts(j.startedAt),
    finishedAt: ts(j.finishedAt),
    updatedAt: ts(j.updatedAt),
    executions: executions.map(executionToWire),
    priority: priorityToWire(j.priority),
  });
}

export { timestampDate };
