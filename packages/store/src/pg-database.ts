import pg from "pg";
import type { Database, Queryable, QueryResult } from "./database.js";

// bigint (int8) columns as numbers: our sequences and counts stay far below 2^53.
pg.types.setTypeParser(20, (v) => Number(v));

function wrap(q: pg.Pool | pg.PoolClient): Queryable {
  return {
    async query<T>(sql: string, params?: unknown[]): Promise<QueryResult<T>> {
      const r = await q.query(sql, params);
      return { rows: r.rows as T[], rowCount: r.rowCount ?? r.rows.length };
    },
  };
}

/** A real PostgreSQL server through a `pg` pool. */
export async function openPostgres(url: string, maxConnections = 10): Promise<Database> {
  const pool = new pg.Pool({ connectionString: url, max: maxConnections });
  // A failed idle client must not crash the process; the pool replaces it.
  pool.on("error", () => undefined);
  const client = await pool.connect();
  client.release();
  const q = wrap(pool);
  return {
    kind: "postgres",
    query: q.query,
    async transaction(fn) {
      const c = await pool.connect();
      try {
        await c.query("BEGIN");
        const result = await fn(wrap(c));
        await c.query("COMMIT");
        return result;
      } catch (err) {
        await c.query("ROLLBACK").catch(() => undefined);
        throw err;
      } finally {
        c.release();
      }
    },
    exec: async (sql) => {
      await pool.query(sql);
    },
    close: () => pool.end(),
  };
}
