// The storage suite runs on every backend: embedded PGlite always, PostgreSQL when HODEI_TEST_DATABASE_URL is set.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { openPglite, openPostgres, migrate, type Database } from "../src/index.js";

export interface Backend {
  name: string;
  open(): Promise<Database>;
}

/**
 * A fresh, migrated database per call: PGlite in a new directory (a copy of the built template,
 * where an in-memory one would run initdb: about 1 s against 4.5 s here), removed when it is
 * closed, or a new PostgreSQL database.
 */
export function backends(): Backend[] {
  const list: Backend[] = [
    {
      name: "pglite",
      async open() {
        const dir = mkdtempSync(join(tmpdir(), "hodei-store-test-"));
        const db = await openPglite(join(dir, "data"));
        await migrate(db);
        return {
          ...db,
          close: async () => {
            await db.close();
            rmSync(dir, { recursive: true, force: true });
          },
        };
      },
    },
  ];
  const url = process.env.HODEI_TEST_DATABASE_URL;
  if (url) {
    list.push({
      name: "postgres",
      async open() {
        const name = `hodei_test_${randomBytes(6).toString("hex")}`;
        const admin = new pg.Client({ connectionString: url });
        await admin.connect();
        await admin.query(`CREATE DATABASE ${name}`);
        await admin.end();
        const u = new URL(url);
        u.pathname = `/${name}`;
        const db = await openPostgres(u.toString());
        await migrate(db);
        return db;
      },
    });
  }
  return list;
}
