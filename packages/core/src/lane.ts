/**
 * A lane is where a queued job will run: its provider and, for providers that run images, the image
 * and the resources its worker is created with. A worker serves one lane and claims only its jobs,
 * so a job asking for `python:3.11` and 2 GiB never lands on a busybox worker with 512 MiB.
 */
export interface Lane {
  provider: string;
  /** "" when the provider's default. */
  image: string;
  /** 0 when the provider's default. */
  cpuCores: number;
  memoryBytes: number;
}

/** The default lane: local workers, which run on the host as it is. */
export const LOCAL_LANE = "local";

/** The lane's key as stored on jobs and workers: just the provider when nothing else is asked. */
export function laneKey(l: Lane): string {
  if (l.image === "" && l.cpuCores === 0 && l.memoryBytes === 0) return l.provider;
  return `${l.provider}|${l.image}|${l.cpuCores}|${l.memoryBytes}`;
}

export function parseLane(key: string): Lane {
  const [provider = "", image = "", cpu = "0", mem = "0"] = key.split("|");
  return { provider, image, cpuCores: Number(cpu) || 0, memoryBytes: Number(mem) || 0 };
}
