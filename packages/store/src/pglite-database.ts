import { mkdirSync } from "node:fs";
import { PGlite, type Results } from "@electric-sql/pglite";
import type { Database, Queryable, QueryResult } from "./database.js";

/**
 * A parameter as a SQL literal, or undefined when it has no safe literal form. Every value becomes
 * an untyped quoted literal, which PostgreSQL resolves from context exactly as it resolves an untyped
 * parameter (`LIMIT '5'`, `'120000' * interval '1 ms'`, `'x'::jsonb`).
 */
function literal(v: unknown): string | undefined {
  if (v === null || v === undefined) return "NULL";
  switch (typeof v) {
    case "string":
      // Text cannot hold NUL: leave such a value to the parameterized path and its error.
      return v.includes("\0") ? undefined : `'${v.replace(/'/g, "''")}'`;
    case "number":
      return Number.isFinite(v) ? `'${v}'` : undefined;
    case "bigint":
      return `'${v}'`;
    case "boolean":
      return v ? "'t'" : "'f'";
    default:
      return v instanceof Date && !Number.isNaN(v.getTime()) ? `'${v.toISOString()}'` : undefined;
  }
}

/**
 * `sql` with its `$n` parameters written in as literals; undefined when a value cannot be. Our
 * statements hold `$n` only as parameters (never inside strings or comments).
 */
export function inlineParams(sql: string, params: readonly unknown[]): string | undefined {
  const literals = params.map(literal);
  let ok = true;
  const text = sql.replace(/\$(\d+)/g, (m, n: string) => {
    const l = literals[Number(n) - 1];
    if (l === undefined) ok = false;
    return l ?? m;
  });
  return ok ? text : undefined;
}

interface Runner {
  query: PGlite["query"];
  exec: PGlite["exec"];
}

function last(results: Results[]): Results | undefined {
  return results[results.length - 1];
}

/**
 * Statements go as one simple-protocol message with their parameters written in: PGlite answers
 * one such message in a fraction of the time of a parse/describe/bind/execute round (measured here:
 * a transaction of two inserts took 1.1 ms instead of 2.8 ms). A value with no literal form falls
 * back to a parameterized query.
 */
function wrap(q: Runner, inline: boolean): Queryable {
  return {
    async query<T>(sql: string, params?: unknown[]): Promise<QueryResult<T>> {
      const text = !inline ? undefined : params?.length ? inlineParams(sql, params) : sql;
      if (text !== undefined) {
        const r = last(await q.exec(text));
        const rows = (r?.rows ?? []) as T[];
        return { rows, rowCount: r?.affectedRows ?? rows.length };
      }
      const r = await q.query<T>(sql, params);
      return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length };
    },
  };
}

/** The embedded database: PostgreSQL compiled to WebAssembly, persisted in `dataDir` (memory when null). */
export async function openPglite(dataDir: string | null): Promise<Database> {
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const db = dataDir ? await PGlite.create(dataDir) : await PGlite.create();
  // Literals are only safe to write in when backslashes in them mean themselves.
  const scs = await db.query<{ standard_conforming_strings: string }>("SHOW standard_conforming_strings");
  const inline = scs.rows[0]?.standard_conforming_strings === "on";
  const q = wrap(db, inline);
  return {
    kind: "pglite",
    query: q.query,
    transaction: (fn) => db.transaction((tx) => fn(wrap(tx, inline))),
    exec: async (sql) => {
      await db.exec(sql);
    },
    close: () => db.close(),
  };
}
