import {
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  rmdirSync,
  writeFileSync,
} from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { PGlite } from "@electric-sql/pglite";

/**
 * A new embedded data directory as a copy of one made before, instead of a run of PostgreSQL's
 * `initdb` compiled to WebAssembly. Measured here: initdb took 4.5 s of CPU, a copy of the 39 MB it
 * makes 0.1 s. PGlite works the same way itself: its initdb runs in a scratch instance whose data
 * directory it then unpacks into the new one; `npm run build` (scripts/build-pglite-template.mjs)
 * keeps such a directory, and the version of PGlite that made it, under dist/.
 *
 * Every copy shares the template's system identifier (pg_control), which only a WAL archive or a
 * replica, neither of which an embedded database has, would compare.
 */
export const BUILT_PGLITE_TEMPLATE = fileURLToPath(new URL("../pglite-template", import.meta.url));

/** The version of the PGlite this code runs: a template made by another may hold another format. */
export function pgliteVersion(): string {
  const entry = import.meta.resolve("@electric-sql/pglite");
  return (JSON.parse(readFileSync(new URL("../package.json", entry), "utf8")) as { version: string }).version;
}

const versionFile = (template: string): string => `${template}.version`;

function readVersion(template: string): string | undefined {
  try {
    return readFileSync(versionFile(template), "utf8").trim();
  } catch {
    return undefined;
  }
}

/** Whether `template` holds a data directory made by this PGlite. */
export function templateUsable(template: string): boolean {
  return readVersion(template) === pgliteVersion() && existsSync(`${template}/PG_VERSION`);
}

/**
 * Makes the template at `template` unless one made by this PGlite is there: initdb in a directory
 * beside it, renamed into place, and the version written last, so that a run cut short leaves
 * nothing that `templateUsable` accepts. Resolves whether it had to make one.
 */
export async function buildPgliteTemplate(template: string): Promise<boolean> {
  if (templateUsable(template)) return false;
  const scratch = `${template}.tmp-${process.pid}`;
  rmSync(versionFile(template), { force: true });
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(dirname(template), { recursive: true });
  try {
    const db = await PGlite.create(scratch);
    await db.close();
    rmSync(template, { recursive: true, force: true });
    renameSync(scratch, template);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  writeFileSync(versionFile(template), `${pgliteVersion()}\n`);
  return true;
}

function missingOrEmpty(dir: string): "missing" | "empty" | "used" {
  try {
    return readdirSync(dir).length === 0 ? "empty" : "used";
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return "missing";
    throw err;
  }
}

/**
 * Makes `dataDir`, when it is missing or empty, a copy of `template` (copied beside it, then
 * renamed into place: a copy cut short is never taken for a database). Resolves whether it did;
 * false leaves `dataDir` as it was, for PGlite to open or to initialise as it would anyway (no
 * usable template, a directory already in use, a parent that cannot be written to).
 */
export function seedFromTemplate(dataDir: string, template: string = BUILT_PGLITE_TEMPLATE): boolean {
  const state = missingOrEmpty(dataDir);
  if (state === "used" || !templateUsable(template)) return false;
  const scratch = `${dataDir}.seed-${process.pid}`;
  try {
    mkdirSync(dirname(dataDir), { recursive: true });
    cpSync(template, scratch, { recursive: true });
    if (state === "empty") rmdirSync(dataDir);
    renameSync(scratch, dataDir);
    return true;
  } catch {
    rmSync(scratch, { recursive: true, force: true });
    if (state === "empty") mkdirSync(dataDir, { recursive: true });
    return false;
  }
}
