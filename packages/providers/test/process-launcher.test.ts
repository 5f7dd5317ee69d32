// Worker processes started through hodei-spawn ('W' frames) instead of a fork of the control plane:
// real processes, the helper built by `npm run build`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  HelperLauncher,
  LocalProvider,
  whenStarted,
  type LaunchedProcess,
  type LaunchSpec,
} from "../src/index.js";

const HELPER = fileURLToPath(new URL("../../../worker/dist/hodei-spawn", import.meta.url));

const spec = (script: string, env: NodeJS.ProcessEnv = {}): LaunchSpec => ({
  file: "/bin/sh",
  args: ["-c", script],
  env: { PATH: process.env.PATH, ...env },
  output: "ignore",
});

const exitOf = (p: LaunchedProcess) =>
  new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    p.once("exit", (code, signal) => resolve([code, signal])),
  );

/** The pids of the hodei-spawn helpers this process runs. */
const helpers = (): Set<number> =>
  new Set(
    execFileSync("ps", ["-o", "pid=,comm=", "--ppid", String(process.pid)], { encoding: "utf8" })
      .split("\n")
      .filter((l) => l.trim().endsWith("hodei-spawn"))
      .map((l) => Number.parseInt(l, 10)),
  );

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return !/\) Z /.test(execFileSync("cat", [`/proc/${pid}/stat`], { encoding: "utf8" }));
  } catch {
    return false;
  }
};

test("the helper is built (npm run build)", () => {
  assert.ok(existsSync(HELPER), HELPER);
});

test("a process starts with its environment, in our process group, and its exit code comes back", async () => {
  const launcher = new HelperLauncher(HELPER);
  try {
    const p = launcher.start(spec("exit $CODE", { CODE: "7" }));
    await whenStarted(p);
    assert.ok(p.pid! > 0);
    const exited = exitOf(p);
    assert.deepEqual(await exited, [7, null]);
    const q = launcher.start(spec("sleep 30"));
    await whenStarted(q);
    const pgid = (pid: number) =>
      execFileSync("ps", ["-o", "pgid=", "-p", String(pid)], { encoding: "utf8" }).trim();
    assert.equal(pgid(q.pid!), pgid(process.pid), "not a session of its own, as a job would be");
    const killed = exitOf(q);
    assert.ok(q.kill("SIGTERM"));
    assert.deepEqual(await killed, [null, "SIGTERM"]);
  } finally {
    launcher.close();
  }
});

test("prepare() starts the helper before any process is asked for; processes then go through it", async () => {
  const launcher = new HelperLauncher(HELPER);
  try {
    const before = helpers();
    launcher.prepare();
    await new Promise((r) => setTimeout(r, 200));
    const started = [...helpers()].filter((pid) => !before.has(pid));
    assert.equal(started.length, 1, "the helper runs before the first start");
    const p = launcher.start(spec("sleep 30"));
    await whenStarted(p);
    const parent = execFileSync("ps", ["-o", "ppid=", "-p", String(p.pid)], { encoding: "utf8" }).trim();
    assert.equal(Number(parent), started[0], "the prepared helper started the process");
    const killed = exitOf(p);
    p.kill("SIGKILL");
    await killed;
  } finally {
    launcher.close();
  }
});

test("a local provider starts its helper in init(), before any worker; shutdown() ends it", async () => {
  const provider = new LocalProvider({
    workerCommand: ["/bin/true"],
    workerOutput: "ignore",
    maxWorkers: 1,
    idleTimeoutMs: 60_000,
    labels: {},
    launcher: new HelperLauncher(HELPER),
  });
  const before = helpers();
  await provider.init();
  await new Promise((r) => setTimeout(r, 200));
  const started = [...helpers()].filter((pid) => !before.has(pid));
  assert.equal(started.length, 1, "the helper runs once the provider is started");
  await provider.shutdown();
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(helpers().has(started[0]!), false, "and ends with the provider");
});

test("a program that cannot run is an error at start, naming its errno", async () => {
  const launcher = new HelperLauncher(HELPER);
  try {
    const p = launcher.start({ ...spec(""), file: "/no/such/program" });
    await assert.rejects(whenStarted(p), /cannot start \/no\/such\/program: errno 2/);
  } finally {
    launcher.close();
  }
});

test("processes outlive the helper: closing the launcher leaves them running", async () => {
  const launcher = new HelperLauncher(HELPER);
  const p = launcher.start(spec("sleep 30"));
  await whenStarted(p);
  launcher.close();
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(alive(p.pid!), "still running after the helper ended");
  process.kill(p.pid!, "SIGKILL");
});

test("a helper that cannot be run: the process goes through Node's spawn instead, and later ones too", async () => {
  const why: Error[] = [];
  const launcher = new HelperLauncher("/no/such/hodei-spawn", (err) => why.push(err));
  try {
    const p = launcher.start(spec("exit 3"));
    const exited = exitOf(p);
    assert.deepEqual(await exited, [3, null]);
    assert.match(String(why[0]), /ENOENT/);
    const q = launcher.start(spec("exit 4"));
    await whenStarted(q);
    assert.deepEqual(await exitOf(q), [4, null]);
  } finally {
    launcher.close();
  }
});
