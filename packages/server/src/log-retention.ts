import { deleteLogsBefore, type Database } from "@hodei/store";
import type { Logger } from "./logger.js";

const HOUR_MS = 3_600_000;

/** Deletes logs older than `days` now and every hour after, saying how much each pass freed. */
export function startLogRetention(db: Database, days: number, logger: Logger): () => void {
  if (days <= 0) return () => undefined;
  const pass = async () => {
    try {
      const freed = await deleteLogsBefore(db, Date.now() - days * 24 * HOUR_MS);
      if (freed.chunks > 0) {
        logger.info(
          { ...freed, mebibytes: +(freed.bytes / 2 ** 20).toFixed(2), retentionDays: days },
          `log retention: deleted ${freed.lines} lines (${(freed.bytes / 2 ** 20).toFixed(2)} MiB) older than ${days} days`,
        );
      }
    } catch (err) {
      logger.error({ err }, "log retention pass failed");
    }
  };
  void pass();
  const timer = setInterval(() => void pass(), HOUR_MS);
  timer.unref();
  return () => clearInterval(timer);
}
