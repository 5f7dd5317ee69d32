/** What a provider's workers offer, and whether a job's requirements can ever be met by it. */
import type { JobSpec } from "./job-spec.js";

export interface Capabilities {
  provider: string;
  cpuCores: number;
  memoryBytes: number;
  gpuCount: number;
  gpuTypes: string[];
  architecture: string;
  labels: Record<string, string>;
}

const ARCH_ALIASES: Record<string, string> = { amd64: "x86_64", x64: "x86_64", arm64: "aarch64" };

export function normalizeArchitecture(arch: string): string {
  const a = arch.trim().toLowerCase();
  return ARCH_ALIASES[a] ?? a;
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

type Placement = Pick<JobSpec, "requirements" | "requiredLabels" | "preferredProvider">;

/**
 * The first requirement of `job` that workers with `cap` can never meet, as a message naming it;
 * null when they can run it.
 */
export function unmetRequirement(job: Placement, cap: Capabilities): string | null {
  const r = job.requirements;
  const on = `the ${cap.provider} provider`;
  if (job.preferredProvider && job.preferredProvider !== cap.provider) {
    return `scheduling.preferred_provider: ${job.preferredProvider} is not available (only ${cap.provider})`;
  }
  if (r.cpuCores > cap.cpuCores)
    return `requirements.cpu_cores: ${r.cpuCores} asked, ${on} offers ${cap.cpuCores}`;
  if (r.memoryBytes > cap.memoryBytes) {
    return `requirements.memory_bytes: ${gib(r.memoryBytes)} asked, ${on} offers ${gib(cap.memoryBytes)}`;
  }
  if (r.gpuCount > cap.gpuCount)
    return `requirements.gpu_count: ${r.gpuCount} asked, ${on} offers ${cap.gpuCount}`;
  const missingType = r.gpuTypes.find((t) => !cap.gpuTypes.includes(t));
  if (missingType !== undefined) return `requirements.gpu_types: ${missingType} is not offered by ${on}`;
  if (r.architecture && normalizeArchitecture(r.architecture) !== normalizeArchitecture(cap.architecture)) {
    return `requirements.architecture: ${r.architecture} asked, ${on} runs ${cap.architecture}`;
  }
  for (const [k, v] of Object.entries(job.requiredLabels)) {
    if (cap.labels[k] !== v) return `scheduling.required_labels: ${k}=${v} is not a label of ${on}`;
  }
  return null;
}
