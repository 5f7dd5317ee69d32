export type PriorityName = "LOW" | "NORMAL" | "HIGH" | "CRITICAL";

/** Higher runs first. Stored as this number so the queue index orders by it. */
export const PRIORITY_RANK: Record<PriorityName, number> = { LOW: 0, NORMAL: 1, HIGH: 2, CRITICAL: 3 };

export function priorityFromRank(rank: number): PriorityName {
  return (["LOW", "NORMAL", "HIGH", "CRITICAL"] as const)[rank] ?? "NORMAL";
}
