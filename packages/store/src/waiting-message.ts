// Why the jobs of a lane still wait, written onto them in one statement (not a row write per job per event).
import type { Queryable } from "./database.js";

/**
 * The lane's PENDING jobs that could be claimed now say `message`; those already saying it are left
 * alone. How many rows changed.
 */
export async function setWaitingMessage(q: Queryable, lane: string, message: string): Promise<number> {
  const r = await q.query(
    `UPDATE jobs SET message = $2, updated_at = now()
     WHERE lane = $1 AND status = 'PENDING' AND (run_after IS NULL OR run_after <= now()) AND message <> $2`,
    [lane, message],
  );
  return r.rowCount;
}

/**
 * A waiting reason no longer true: the lane's jobs still saying exactly `message` say nothing (a
 * PENDING job's reason is then worked out when it is read). Jobs claimed meanwhile lose it too.
 */
export async function clearWaitingMessage(q: Queryable, lane: string, message: string): Promise<number> {
  const r = await q.query(
    `UPDATE jobs SET message = '', updated_at = now()
     WHERE lane = $1 AND status IN ('PENDING', 'ASSIGNED', 'RUNNING') AND message = $2`,
    [lane, message],
  );
  return r.rowCount;
}
