// Parameters written into SQL text as literals, for the drivers' one-message (simple) protocol.
import type { Database, Queryable, QueryResult, Statement } from "./database.js";

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

/** `EXECUTE name('a', 'b')`: a prepared statement run with its arguments written in; undefined when one cannot be. */
export function executeStatement(name: string, params: readonly unknown[]): string | undefined {
  if (params.length === 0) return `EXECUTE ${name}`;
  const args: string[] = [];
  for (const p of params) {
    const l = literal(p);
    if (l === undefined) return undefined;
    args.push(l);
  }
  return `EXECUTE ${name}(${args.join(", ")})`;
}

/** Statement texts seen once, remembered to spot the second run (forgotten wholesale past this many). */
const SEEN_ONCE_MAX = 1024;
/** PREPARE failures after which a text is never prepared again (it cannot be: `NOTIFY`, DDL). */
const PREPARE_TRIES = 2;

/**
 * Which statement texts a database keeps prepared in each session (SQL `PREPARE`), to be run as
 * `EXECUTE` with literal arguments inside one simple-protocol message: the server then neither
 * parses nor plans them again. A text earns a name on its second run (a multi-row statement of a
 * one-off size never does), up to `max` names, as many as `pg-database` keeps protocol-level ones:
 * each holds a plan in the server for the session's life.
 */
export class PreparedTexts {
  private readonly names = new Map<string, string>();
  private readonly once = new Set<string>();
  private readonly failures = new Map<string, number>();
  private next = 0;

  constructor(
    private readonly prefix: string,
    private readonly max = 64,
  ) {}

  /** The name `sql` runs under prepared, or undefined when it runs as text. */
  nameFor(sql: string): string | undefined {
    const name = this.names.get(sql);
    if (name !== undefined || this.next >= this.max || this.refused(sql)) return name;
    if (!this.once.has(sql)) {
      if (this.once.size >= SEEN_ONCE_MAX) this.once.clear();
      this.once.add(sql);
      return undefined;
    }
    this.once.delete(sql);
    const named = `${this.prefix}${this.next++}`;
    this.names.set(sql, named);
    return named;
  }

  /** A PREPARE of `sql` failed; after a few, it runs as text for good. */
  failed(sql: string): void {
    this.failures.set(sql, (this.failures.get(sql) ?? 0) + 1);
    if (this.refused(sql)) this.names.delete(sql);
  }

  private refused(sql: string): boolean {
    return (this.failures.get(sql) ?? 0) >= PREPARE_TRIES;
  }
}

/** One server session (a connection): what it has prepared, and a way to send it one message. */
export interface SqlSession {
  /** Names `PREPARE`d in this session. PREPARE is not undone by a rollback: the set only grows. */
  readonly prepared: Set<string>;
  /** Sends one simple-protocol message; resolves to each statement's result, in order. */
  send(text: string): Promise<QueryResult<unknown>[]>;
}

/**
 * Sends `statements` to `session` as one message (one implicit transaction), those that `texts`
 * names as `EXECUTE` of a statement prepared first in that session if need be (in a message of its
 * own, so a failed batch never leaves the set wrong), the others with their parameters written in.
 * Undefined, having sent nothing but PREPAREs, when a value cannot be written in.
 */
export async function sendStatements(
  session: SqlSession,
  texts: PreparedTexts,
  statements: readonly Statement[],
): Promise<QueryResult<unknown>[] | undefined> {
  const parts: string[] = [];
  for (const s of statements) {
    let name = texts.nameFor(s.sql);
    if (name !== undefined && !session.prepared.has(name)) {
      try {
        await session.send(`PREPARE ${name} AS ${s.sql}`);
        session.prepared.add(name);
      } catch {
        texts.failed(s.sql);
        name = undefined;
      }
    }
    const text =
      name !== undefined
        ? executeStatement(name, s.params)
        : s.params.length > 0
          ? inlineParams(s.sql, s.params)
          : s.sql;
    if (text === undefined) return undefined;
    parts.push(text);
  }
  return session.send(parts.join(";\n"));
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
 * `Database.batch` for a driver: the statements go to a session as one message (`sendStatements`)
 * when every value can be written in (`inline`: the server's strings take backslashes literally)
 * and none is bulky bytes, else they run one by one in `transaction`.
 */
export function batchThrough(
  inline: boolean,
  texts: PreparedTexts,
  withSession: <T>(fn: (session: SqlSession) => Promise<T>) => Promise<T>,
  transaction: Database["transaction"],
): Database["batch"] {
  return async (statements) => {
    if (inline && !statements.some(bulky)) {
      const results = await withSession((session) => sendStatements(session, texts, statements));
      if (results !== undefined) return results.map((r) => r.rows);
    }
    return transaction((tx) => runEach(tx, statements));
  };
}

/** Runs `statements` on `q` one after another and resolves to each one's rows. */
export async function runEach(q: Queryable, statements: readonly Statement[]): Promise<unknown[][]> {
  const rows: unknown[][] = [];
  for (const s of statements) rows.push((await q.query(s.sql, s.params)).rows);
  return rows;
}
