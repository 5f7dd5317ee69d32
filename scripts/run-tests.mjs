// Runs every compiled test file with node's built-in runner, against a real PostgreSQL when one can
// be had: HODEI_TEST_DATABASE_URL if set, else a throwaway cluster from Debian's binaries, else the
// PostgreSQL variants of the storage tests skip themselves (with a warning here).
//
//   node scripts/run-tests.mjs [path-substring ...] [node --test flags ...]
//   e.g. node scripts/run-tests.mjs store --test-name-pattern=claim
//
// Output: the spec reporter on stdout, then node's TAP closing summary (`# tests N`, `# pass N`,
// `# fail N`, ...) as the last lines, which CI reads. Exit code: the runner's.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { findPostgresBinDir, startPgCluster } from "./pg-cluster.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const DEFAULT_TEST_TIMEOUT_MS = 300_000;

function testFilesUnder(dir) {
  if (!existsSync(dir)) return [];
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...testFilesUnder(full));
    else if (entry.isFile() && entry.name.endsWith(".test.js")) out.push(full);
  }
  return out;
}

function collectTestFiles() {
  const packages = join(root, "packages");
  const dirs = existsSync(packages)
    ? readdirSync(packages).map((p) => join(packages, p, "dist", "test"))
    : [];
  dirs.push(join(root, "test", "e2e", "dist"));
  return dirs.flatMap(testFilesUnder).sort();
}

async function provideDatabase() {
  if (process.env.HODEI_TEST_DATABASE_URL) {
    console.log(
      `PostgreSQL for tests: HODEI_TEST_DATABASE_URL (${redact(process.env.HODEI_TEST_DATABASE_URL)})`,
    );
    return undefined;
  }
  const binDir = findPostgresBinDir();
  if (!binDir) {
    console.warn(
      "WARNING: no PostgreSQL found (HODEI_TEST_DATABASE_URL unset, no /usr/lib/postgresql/*/bin/initdb):\n" +
        "         the PostgreSQL variants of the storage tests will be skipped; everything else runs.",
    );
    return undefined;
  }
  const started = Date.now();
  const cluster = await startPgCluster({ binDir });
  console.log(
    `PostgreSQL for tests: throwaway cluster ${cluster.url} (${binDir}, up in ${Date.now() - started} ms)`,
  );
  return cluster;
}

/** Docker tests need an engine: started once here (not by each test file at the same time). */
async function provideDockerEngine(files) {
  if (!files.some((f) => /docker/i.test(relative(root, f)))) return;
  const { ensureDockerd, findDockerd } = await import("./dockerd.mjs");
  if (!findDockerd()) return; // the Docker tests skip themselves, loudly
  const r = await ensureDockerd().catch((err) => ({ error: err.message }));
  if (r.error) console.warn(`WARNING: ${r.error}: the Docker tests will fail`);
  else if (r.started) console.log(`Docker Engine for tests: dockerd started (${r.readyMs} ms)`);
}

function redact(url) {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1:***@");
}

function closingSummary(tapFile) {
  if (!existsSync(tapFile)) return [];
  const wanted = /^# (tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) /;
  return readFileSync(tapFile, "utf8")
    .split("\n")
    .filter((l) => wanted.test(l));
}

async function main() {
  const args = process.argv.slice(2);
  const flags = args.filter((a) => a.startsWith("-"));
  const filters = args.filter((a) => !a.startsWith("-"));
  const files = collectTestFiles().filter(
    (f) => !filters.length || filters.some((s) => relative(root, f).includes(s)),
  );
  if (!files.length) {
    console.warn(`no compiled test files found${filters.length ? ` matching ${filters.join(", ")}` : ""}`);
    console.log("# tests 0\n# pass 0\n# fail 0");
    return 0;
  }
  console.log(`${files.length} test file(s)`);

  await provideDockerEngine(files);
  const cluster = await provideDatabase();
  const env = { ...process.env };
  if (cluster) env.HODEI_TEST_DATABASE_URL = cluster.url;
  const onExit = () => cluster?.stopSync();
  process.on("exit", onExit);

  const reportDir = mkdtempSync(join(tmpdir(), "hodei-tests-"));
  const tapFile = join(reportDir, "report.tap");
  const runner = spawn(
    process.execPath,
    [
      "--test",
      `--test-timeout=${DEFAULT_TEST_TIMEOUT_MS}`,
      "--test-reporter=spec",
      "--test-reporter-destination=stdout",
      "--test-reporter=tap",
      `--test-reporter-destination=${tapFile}`,
      ...flags,
      ...files.map((f) => relative(root, f)),
    ],
    { cwd: root, env, stdio: ["ignore", "inherit", "inherit"] },
  );

  let interrupted = 0;
  const forward = (signal) => {
    interrupted += 1;
    if (interrupted > 1) runner.kill("SIGKILL");
    else runner.kill(signal);
  };
  process.on("SIGINT", forward);
  process.on("SIGTERM", forward);

  const code = await new Promise((resolve) => {
    runner.on("exit", (c, signal) => resolve(c ?? (signal ? 1 : 0)));
  });

  const summary = closingSummary(tapFile);
  rmSync(reportDir, { recursive: true, force: true });
  await cluster?.stop();
  process.off("exit", onExit);
  if (summary.length) console.log(summary.join("\n"));
  else console.log("# the test runner printed no summary (interrupted or crashed)");
  return code;
}

process.exitCode = await main().catch((err) => {
  console.error(err);
  return 1;
});
