import { test, afterEach } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { JobStatus } from "@hodei/api";
import { CODE_CACHE_VARIABLE } from "../src/code-cache.js";
import { rehearseAgentForCodeCache } from "../src/code-cache-rehearsal.js";
import { HarnessControlPlane } from "./harness-control-plane.js";

// The loader as providers run it: dist/hodei-worker-cached.cjs, built by `npm run build`.
const LOADER = fileURLToPath(new URL("../hodei-worker-cached.cjs", import.meta.url));
// The flags every provider gives the agent (WORKER_NODE_FLAGS); V8 keys a cache to its flags.
const NODE_FLAGS = ["--max-semi-space-size=1", "--semi-space-growth-factor=1"];

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "hodei-code-cache-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

interface Run {
  code: number | null;
  /** The loader's debug line: what became of the cache. */
  outcome: string | undefined;
  stderr: string;
}

/** Runs the loader with no token: the agent loads in full, then stops at once (exit 2). */
function runLoader(cachePath: string | undefined, extraEnv: Record<string, string> = {}): Promise<Run> {
  const child = spawn(process.execPath, [...NODE_FLAGS, LOADER], {
    env: {
      PATH: process.env.PATH ?? "",
      LOG_LEVEL: "debug",
      ...(cachePath ? { [CODE_CACHE_VARIABLE]: cachePath } : {}),
      ...extraEnv,
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) =>
    child.on("exit", (code) => {
      const line = stderr
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { msg: string; codeCache?: string })
        .find((l) => l.msg === "worker code cache");
      resolve({ code, outcome: line?.codeCache, stderr });
    }),
  );
}

test("the code-cache loader is built next to the bundle", () => {
  assert.ok(existsSync(LOADER), `${LOADER} (npm run build)`);
});

test("code-cache loader: no cache yet, the agent runs and leaves one at exit; the next start uses it", async () => {
  const cache = join(await tempDir(), "nested", "worker.v8");
  const first = await runLoader(cache);
  assert.equal(first.code, 2, first.stderr);
  assert.match(first.stderr, /HODEI_OTP_TOKEN/, "the agent itself ran and refused to start without a token");
  assert.equal(first.outcome, "absent");
  const written = await readFile(cache);
  assert.ok(written.length > 100_000, `a cache of ${written.length} bytes`);

  const second = await runLoader(cache);
  assert.equal(second.code, 2, second.stderr);
  assert.equal(second.outcome, "accepted");
  assert.deepEqual(await readFile(cache), written, "an accepted cache is left as it is");
  assert.deepEqual(
    (await readdir(join(cache, ".."))).filter((n) => n.endsWith(".tmp")),
    [],
    "no temporary file left behind",
  );
});

test("code-cache loader: a damaged cache is refused by V8, the agent still runs, and a good one replaces it", async () => {
  const cache = join(await tempDir(), "worker.v8");
  await writeFile(cache, Buffer.alloc(4096, 0x5a));
  const run = await runLoader(cache);
  assert.equal(run.code, 2, run.stderr);
  assert.equal(run.outcome, "rejected");
  assert.match(run.stderr, /HODEI_OTP_TOKEN/);
  assert.equal((await runLoader(cache)).outcome, "accepted");
});

test("code-cache loader: a cache made under other node flags is refused, not used", async () => {
  const cache = join(await tempDir(), "worker.v8");
  assert.equal((await runLoader(cache)).outcome, "absent");
  const other = spawn(process.execPath, ["--max-semi-space-size=2", LOADER], {
    env: { PATH: process.env.PATH ?? "", LOG_LEVEL: "debug", [CODE_CACHE_VARIABLE]: cache },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  other.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  await new Promise((resolve) => other.on("exit", resolve));
  assert.match(stderr, /"codeCache":"rejected"/);
});

test("code-cache loader: a cache that cannot be written costs nothing but the cache", async () => {
  const dir = await tempDir();
  await writeFile(join(dir, "file"), "not a directory");
  const run = await runLoader(join(dir, "file", "worker.v8"));
  assert.equal(run.code, 2, run.stderr);
  assert.equal(run.outcome, "absent");
  assert.doesNotMatch(run.stderr, /ENOTDIR|Error/);
});

test("code-cache loader against a harness control plane: the agent registers and runs a job, which does not see the cache variable", async () => {
  const cache = join(await tempDir(), "worker.v8");
  for (const expected of ["absent", "accepted"]) {
    const cp = await HarnessControlPlane.start();
    cleanups.push(() => cp.kill());
    const child = spawn(process.execPath, [...NODE_FLAGS, LOADER], {
      env: {
        PATH: process.env.PATH ?? "",
        LOG_LEVEL: "debug",
        [CODE_CACHE_VARIABLE]: cache,
        HODEI_SERVER_ADDRESS: cp.address,
        HODEI_OTP_TOKEN: "otp-cached",
        HODEI_WORKER_ID: "cached-1",
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise((resolve) => child.on("exit", resolve));
    cleanups.push(() => {
      if (child.exitCode === null) child.kill("SIGKILL");
    });
    await cp.waitFor(() => cp.messages("hello")[0], "hello", 15_000);
    assert.equal(cp.registrations[0]!.authToken, "otp-cached");
    cp.send({
      payload: {
        case: "runJob",
        value: {
          jobId: "env",
          executionId: "env-1",
          command: `echo "cache=[\${${CODE_CACHE_VARIABLE}-unset}]"`,
        },
      },
    });
    const result = await cp.resultFor("env");
    assert.equal(result.status, JobStatus.COMPLETED);
    const lines = cp.received.flatMap((r) =>
      r.message.payload.case === "logBatch" ? r.message.payload.value.lines.map((l) => l.line) : [],
    );
    assert.ok(lines.includes("cache=[unset]"), lines.join("\n"));
    child.kill("SIGTERM");
    await exited;
    assert.match(stderr, new RegExp(`"codeCache":"${expected}"`), stderr);
    assert.ok(existsSync(cache), "the cache is there once the first agent has stopped");
  }
});

test("the bundled agent reaches a control plane named by an IPv6 address or a host name (grpc-js's address checks are the bundle's own)", async () => {
  for (const host of ["[::1]", "localhost"]) {
    const cp = await HarnessControlPlane.start({ host });
    cleanups.push(() => cp.kill());
    const child = spawn(process.execPath, [...NODE_FLAGS, LOADER], {
      env: { PATH: process.env.PATH ?? "", HODEI_SERVER_ADDRESS: cp.address, HODEI_OTP_TOKEN: `otp-${host}` },
      stdio: "ignore",
    });
    cleanups.push(() => {
      if (child.exitCode === null) child.kill("SIGKILL");
    });
    await cp.waitFor(() => cp.messages("hello")[0], `hello through ${cp.address}`, 15_000);
    assert.equal(cp.registrations[0]!.authToken, `otp-${host}`);
    child.kill("SIGTERM");
  }
});

test("under the providers' flags the agent does not load node:v8 to tune its heap; started without them it does", async () => {
  const dir = await tempDir();
  const preload = join(dir, "modules.cjs");
  // Writes, as the process exits, whether node's own v8 module was loaded.
  await writeFile(
    preload,
    `process.on("exit", () => require("node:fs").writeFileSync(process.env.REPORT, String(process.moduleLoadList.includes("NativeModule v8"))));`,
  );
  const loaded = async (flags: string[]): Promise<string> => {
    const report = join(dir, `report-${flags.length}`);
    const child = spawn(process.execPath, [...flags, "--require", preload, LOADER], {
      env: { PATH: process.env.PATH ?? "", REPORT: report },
      stdio: "ignore",
    });
    const code = await new Promise((resolve) => child.on("exit", resolve));
    assert.equal(code, 2, "stopped for want of a token, after loading in full");
    return readFile(report, "utf8");
  };
  assert.equal(await loaded(NODE_FLAGS), "false");
  assert.equal(await loaded([]), "true");
});

test("a rehearsal (the agent registers and runs a job against a stand-in control plane) leaves a cache that covers more than loading and that the next agent accepts", async () => {
  const dir = await tempDir();
  const rehearsed = join(dir, "rehearsed.v8");
  await rehearseAgentForCodeCache({
    node: process.execPath,
    nodeFlags: NODE_FLAGS,
    loaderPath: LOADER,
    cachePath: rehearsed,
  });
  const loadOnly = join(dir, "load-only.v8");
  assert.equal((await runLoader(loadOnly)).outcome, "absent");
  const [a, b] = [(await readFile(rehearsed)).length, (await readFile(loadOnly)).length];
  assert.ok(a > b * 1.2, `rehearsed ${a} bytes against ${b} for loading alone`);
  const next = await runLoader(rehearsed);
  assert.equal(next.code, 2, next.stderr);
  assert.equal(next.outcome, "accepted");
});

test("a rehearsal that cannot run says why", async () => {
  const dir = await tempDir();
  await assert.rejects(
    rehearseAgentForCodeCache({
      node: process.execPath,
      nodeFlags: NODE_FLAGS,
      loaderPath: join(dir, "missing.cjs"),
      cachePath: join(dir, "c.v8"),
    }),
    /rehearsal .* failed \(exit 1, job not ended, cache not written\): .*Cannot find module/s,
  );
});
