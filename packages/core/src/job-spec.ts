/** A job as the domain sees it, and the rules every entry point (gRPC, REST, CLI) shares. */
import { invalid } from "./errors.js";
import type { PriorityName } from "./priority.js";

export interface JobRequirements {
  cpuCores: number;
  memoryBytes: number;
  diskBytes: number;
  gpuCount: number;
  gpuTypes: string[];
  architecture: string;
}

export interface JobSpec {
  id: string;
  name: string;
  description: string;
  command: string;
  arguments: string[];
  environment: Record<string, string>;
  requirements: JobRequirements;
  priority: PriorityName;
  preferredProvider: string;
  requiredLabels: Record<string, string>;
  deadlineMs: number | null;
  executionTimeoutMs: number;
  heartbeatTimeoutMs: number;
  /** SIGTERM → SIGKILL grace after a cancel or timeout; 0 or absent (jobs stored before it existed): the worker's default. */
  cleanupTimeoutMs?: number;
  tags: string[];
  image: string;
  workingDir: string;
  script: { interpreter: string; content: string } | null;
  maxRetries: number;
  stdin: string;
}

export const JOB_ID_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;
export const MAX_DEFINITION_BYTES = 1024 * 1024;
export const DEFAULT_EXECUTION_TIMEOUT_MS = 3_600_000;
export const DEFAULT_HEARTBEAT_TIMEOUT_MS = 30_000;
const MAX_TIMEOUT_MS = 30 * 24 * 3_600_000;
const SCRIPT_INTERPRETERS = ["bash", "sh", "python3", "python", "node"];

/** A job of `id` running `command`, every other field at its default, then `fields` over them. */
export function commandJobSpec(id: string, command: string, fields: Partial<JobSpec> = {}): JobSpec {
  return {
    id,
    name: id,
    description: "",
    command,
    arguments: [],
    environment: {},
    requirements: { cpuCores: 0, memoryBytes: 0, diskBytes: 0, gpuCount: 0, gpuTypes: [], architecture: "" },
    priority: "NORMAL",
    preferredProvider: "",
    requiredLabels: {},
    deadlineMs: null,
    executionTimeoutMs: DEFAULT_EXECUTION_TIMEOUT_MS,
    heartbeatTimeoutMs: DEFAULT_HEARTBEAT_TIMEOUT_MS,
    tags: [],
    image: "",
    workingDir: "",
    script: null,
    maxRetries: 0,
    stdin: "",
    ...fields,
  };
}

export function validateJobId(id: string, field = "job_id.value"): string {
  if (!JOB_ID_PATTERN.test(id)) {
    throw invalid(
      field,
      `must be 1-128 characters of [A-Za-z0-9._-], got ${JSON.stringify(id.slice(0, 140))}`,
    );
  }
  return id;
}

export function validateTimeoutMs(ms: number, field: string): number {
  if (!Number.isFinite(ms) || ms < 0) throw invalid(field, "must not be negative");
  if (ms > MAX_TIMEOUT_MS) throw invalid(field, "must be at most 30 days");
  return ms;
}

/** Checks the rules that do not depend on the wire format; returns the spec unchanged. */
/** Text fields cannot hold NUL: a process cannot receive it in an argument or a variable. */
function noNul(value: string, field: string): void {
  if (value.includes("\0")) throw invalid(field, "must not contain a NUL byte");
}

function checkText(spec: JobSpec): void {
  noNul(spec.name, "job_definition.name");
  noNul(spec.description, "job_definition.description");
  noNul(spec.command, "job_definition.command");
  spec.arguments.forEach((a) => noNul(a, "job_definition.arguments"));
  for (const v of Object.values(spec.environment)) noNul(v, "job_definition.environment");
  noNul(spec.workingDir, "job_definition.working_dir");
  noNul(spec.image, "job_definition.image");
  spec.tags.forEach((t) => noNul(t, "job_definition.tags"));
  if (spec.script) noNul(spec.script.content, "job_definition.script.content");
}

export const SECRET_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,254}$/;

/** Secret names become variable or file names on the worker. */
export function validateSecretNames(secrets: Record<string, string>, field = "job_definition.secrets"): void {
  for (const name of Object.keys(secrets)) {
    if (!SECRET_NAME_PATTERN.test(name)) {
      throw invalid(
        field,
        `invalid secret name ${JSON.stringify(name.slice(0, 64))}: use letters, digits and _`,
      );
    }
  }
}

export function validateJobSpec(spec: JobSpec): JobSpec {
  validateJobId(spec.id);
  checkText(spec);
  if (spec.name.length > 256) throw invalid("job_definition.name", "must be at most 256 characters");
  const hasScript = spec.script !== null && spec.script.content.trim() !== "";
  if (spec.command.trim() === "" && !hasScript) {
    throw invalid("job_definition.command", "must not be empty (give a command or a script)");
  }
  if (spec.script && hasScript && !SCRIPT_INTERPRETERS.includes(spec.script.interpreter)) {
    throw invalid("job_definition.script.interpreter", `must be one of ${SCRIPT_INTERPRETERS.join(", ")}`);
  }
  validateTimeoutMs(spec.executionTimeoutMs, "job_definition.timeout.execution_timeout");
  validateTimeoutMs(spec.heartbeatTimeoutMs, "job_definition.timeout.heartbeat_timeout");
  if (!Number.isInteger(spec.maxRetries) || spec.maxRetries < 0 || spec.maxRetries > 100) {
    throw invalid("job_definition.max_retries", "must be between 0 and 100");
  }
  const r = spec.requirements;
  if (!(r.cpuCores >= 0) || r.cpuCores > 1024)
    throw invalid("job_definition.requirements.cpu_cores", "must be between 0 and 1024");
  if (r.memoryBytes < 0) throw invalid("job_definition.requirements.memory_bytes", "must not be negative");
  if (r.diskBytes < 0) throw invalid("job_definition.requirements.disk_bytes", "must not be negative");
  if (r.gpuCount < 0) throw invalid("job_definition.requirements.gpu_count", "must not be negative");
  for (const key of Object.keys(spec.environment)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
      throw invalid(
        "job_definition.environment",
        `invalid variable name ${JSON.stringify(key.slice(0, 64))}`,
      );
    }
  }
  return spec;
}
