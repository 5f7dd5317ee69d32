/** The one storage seam: PGlite and node-postgres both implement it; all SQL goes through it. */
export interface QueryResult<T> {
  rows: T[];
  rowCount: number;
}

export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<T>>;
}

/** One SQL statement and its `$n` parameters. */
export interface Statement {
  sql: string;
  params: unknown[];
}

export interface Database extends Queryable {
  readonly kind: "pglite" | "postgres";
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * Runs `statements` in order as one transaction and resolves to each one's rows (row counts are not
   * reported: not every driver has them per statement). In one round trip to the server when every
   * parameter can be written in as a literal, else statement by statement.
   */
  batch(statements: Statement[]): Promise<unknown[][]>;
  /** Runs several statements separated by `;` (migrations). */
  exec(sql: string): Promise<void>;
  close(): Promise<void>;
}
