// Protobuf ⇄ domain for jobs. Generated types stay at the edge; the rest of the server sees JobSpec/JobRecord.
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate, timestampMs, type Duration } from "@bufbuild/protobuf/wkt";
import {
  JobDefinitionSchema,
  JobSchema,
  JobExecutionSchema,
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
