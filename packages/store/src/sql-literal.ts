// Parameters written into SQL text as literals, for the drivers' one-message (simple) protocol.
import type { Database, Statement } from "./database.js";

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
      // bytea in hex form, which the server decodes far faster than it parses an escaped string.
      if (v instanceof Uint8Array)
        return `'\\x${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("hex")}'`;
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

/**
 * The statements as one text, each with its parameters written in; undefined when a value cannot be.
 * Sent as one simple-protocol message, they run in order as one implicit transaction.
 */
export function inlineStatements(statements: readonly Statement[]): string | undefined {
  const texts: string[] = [];
  for (const s of statements) {
    const text = s.params.length > 0 ? inlineParams(s.sql, s.params) : s.sql;
    if (text === undefined) return undefined;
    texts.push(text);
  }
  return texts.join(";\n");
}

/**
 * bytea bytes beyond which a statement's parameters are sent as parameters, not written in: a literal
 * is hex, twice the bytes for the server to parse, where `pg` sends a Buffer parameter as it is.
 */
const INLINE_BYTES_MAX = 16 * 1024;

function bulky(s: Statement): boolean {
  let bytes = 0;
  for (const p of s.params) if (p instanceof Uint8Array) bytes += p.byteLength;
  return bytes > INLINE_BYTES_MAX;
}

/**
 * `Database.batch` for a driver: `send` takes the statements as one text when every value can be
 * written in (`inline`: the server's strings take backslashes literally) and none is bulky bytes,
 * else they run one by one in `transaction`.
 */
export function batchThrough(
  inline: boolean,
  send: (text: string) => Promise<unknown[][]>,
  transaction: Database["transaction"],
): Database["batch"] {
  return async (statements) => {
    const text = inline && !statements.some(bulky) ? inlineStatements(statements) : undefined;
    if (text !== undefined) return send(text);
    return transaction(async (tx) => {
      const out: unknown[][] = [];
      for (const s of statements) out.push((await tx.query(s.sql, s.params)).rows);
      return out;
    });
  };
}
