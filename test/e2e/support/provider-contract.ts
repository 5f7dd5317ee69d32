// The provider contract: what every worker provider (local, docker, kubernetes, microvm) must do
// through the real control plane, run against each by a small test file that supplies a fixture.
// Worker resources are checked in the provider's own terms (processes, containers, pods, QEMUs).
//
// Control-plane starts are shared to keep slow providers cheap (a microVM server's start boots a
// probe VM): one server on one data directory runs the job, then the cancel, then is killed; its
// restart on that directory and address, with a short provisioning timeout, is checked for reaping
// and then runs the provisioning-timeout scenario.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  AuditService,
  JobExecutionService,
  LogStreamService,
  serverStream,
  unary,
  type JobDefinitionSchema,
  type LogEntry,
} from "@hodei/api";
import { jobStatus, logLines, queueJob, waitForJobEnd, waitForJobRunning } from "./jobs.js";
import { startPlatform, stopCleanly, type Platform } from "./platform.js";
import { waitFor, withDeadline } from "./wait.js";

/** A job definition's fields other than its name and command (image, requirements, ...). */
export type JobFields = Omit<MessageInitShape<typeof JobDefinitionSchema>, "command" | "name" | "$typeName">;

export const IDLE_TIMEOUT_MS = 1_500;

export interface ProviderFixture {
  /** Server environment that makes this provider the only one. */
  env: Record<string, string>;
  /** Fields of every scenario's job (e.g. the image its worker runs). */
  job?: JobFields;
  /** Queue → RUNNING on a fresh worker takes at most this long here (a TCG boot is slow). */
  startMs: number;
  /** Extra environment of the first server, e.g. one whose workers start slowly. */
  firstEnv?: Record<string, string>;
  /** A job whose worker is still starting for a while, to be cancelled then. Default: `job`. */
  slowStartingJob?: JobFields;
  /** How this provider gets a worker that never registers within `provisioningTimeoutMs`. */
  neverRegisters: {
    provisioningTimeoutMs: number;
    /** Extra environment of the server that runs the scenario. */
    env?: Record<string, string>;
    /** The job's fields. Default: `job`. */
    job?: JobFields;
    /** A reason this platform cannot make one (e.g. KVM boots too fast), else false. */
    skip?(platform: Platform): Promise<string | false>;
  };
  /** Optional: a command whose output shows the job ran inside this provider's worker. */
  whereItRan?: { command: string; check(lines: string[], platform: Platform): Promise<void> | void };
  /** Checks each started server's provider (healthy, wired up: e.g. a Service pointed at it). */
  started?(platform: Platform): Promise<void>;
  /** Ids of the live worker resources of the control plane on `dataDir`, in the provider's terms. */
  workers(dataDir: string): Promise<string[]>;
  /** Removes one left behind (the suite then fails). */
  remove(id: string): Promise<void>;
  /** Makes a worker resource another control plane owns; `intact` says it was left alone. */
  foreign?(): Promise<{ intact(): Promise<boolean>; remove(): Promise<unknown> }>;
  /** Undoes what making the fixture set up. */
  close?(): Promise<void>;
}

export interface ContractOptions {
  /** A reason to skip the whole suite (the provider cannot run here), else false. */
  skip?: string | false;
  /** Shown in the suite's name, e.g. "kubernetes (fake API server, pods on Docker)". */
  describeAs?: string;
  /** Scenarios that find a known product bug here: each runs, and says why it is expected to fail. */
  todo?: { oneWorkerPerJob?: string };
}

export function runProviderContract(
  kind: string,
  makeFixture: () => Promise<ProviderFixture>,
  { skip = false, describeAs = kind, todo = {} }: ContractOptions = {},
): void {
  describe(`provider contract: ${describeAs}`, { skip }, () => {
    let f: ProviderFixture;
    let dataDir: string;
    const dataDirs: string[] = [];
    const platforms: Platform[] = [];
    const cleanups: (() => Promise<unknown>)[] = [];
    /** The first server: job, cancel, then killed. */
    let first: Platform | undefined;
    /** Its restart on the same data directory and ports, with a short provisioning timeout. */
    let restarted: Platform | undefined;
    let crashed: Platform | undefined;
    /** The worker resources seen while the first scenario's job ran. */
    let firstJobWorkers: string[] | undefined;

    function newDataDir(): string {
      const d = mkdtempSync(join(tmpdir(), `hodei-contract-${kind}-`));
      dataDirs.push(d);
      return d;
    }

    async function start(dir: string, env: Record<string, string>, at?: Platform): Promise<Platform> {
      const p = await startPlatform({
        dataDir: dir,
        env: { ...f.env, ...env },
        ...(at ? { grpcPort: at.grpcPort, httpPort: at.httpPort } : {}),
      });
      platforms.push(p);
      await f.started?.(p);
      return p;
    }

    async function firstPlatform(): Promise<Platform> {
      if (crashed) throw new Error("the first server was killed by an earlier scenario");
      first ??= await start(dataDir, {
        HODEI_WORKER_IDLE_TIMEOUT: String(IDLE_TIMEOUT_MS),
        ...f.firstEnv,
      });
      return first;
    }

    const timeoutEnv = () => ({
      HODEI_PROVISIONING_TIMEOUT: String(f.neverRegisters.provisioningTimeoutMs),
      ...f.neverRegisters.env,
    });

    const cancel = (p: Platform, id: string) =>
      unary(p.client, JobExecutionService.method.cancelJob, { jobId: { value: id }, reason: "contract" });

    before(async () => {
      f = await makeFixture();
      dataDir = newDataDir();
    });

    after(async () => {
      const failures: unknown[] = [];
      const attempt = (work: () => Promise<unknown>) => work().catch((err: unknown) => failures.push(err));
      for (const p of platforms) await attempt(() => (p === crashed ? p.stop() : stopCleanly(p)));
      for (const c of cleanups.reverse()) await attempt(c);
      // Every server stopped: none of their workers may be left.
      for (const d of dataDirs) {
        for (const id of f ? await f.workers(d) : []) {
          await attempt(() => f.remove(id));
          failures.push(new Error(`worker ${id} of the control plane on ${d} was left behind`));
        }
        rmSync(d, { recursive: true, force: true });
      }
      if (f?.close) await attempt(f.close);
      if (failures.length) throw failures[0];
    });

    test("create → register → run a job: its logs are stored and streamed; the idle worker is destroyed after the idle timeout", async () => {
      const p = await firstPlatform();
      const where = f.whereItRan ? `${f.whereItRan.command}; ` : "";
      const command = `${where}echo contract-first; sleep 2; echo contract-second`;
      const id = await queueJob(p.client, { name: "contract", command, ...f.job });
      const streamed: LogEntry[] = [];
      const stream = serverStream(p.client, LogStreamService.method.subscribeLogs, {
        jobId: id,
        includeHistory: true,
      });
      const ended = new Promise<void>((resolve, reject) => {
        stream.on("data", (e: LogEntry) => streamed.push(e));
        stream.on("end", resolve);
        stream.on("error", reject);
      });
      // The worker, seen in the provider's terms while the job is under way.
      const seen = new Set<string>();
      await waitFor(
        async () => {
          for (const w of await f.workers(dataDir)) seen.add(w);
          return streamed.some((e) => e.line === "contract-first");
        },
        { timeoutMs: f.startMs, intervalMs: 100, what: "the job's first line on SubscribeLogs" },
      );
      assert.equal(
        (await jobStatus(p.client, id)).statusName,
        "RUNNING",
        "the first line was streamed while the job ran",
      );
      const end = await waitForJobEnd(p.client, id, 30_000);
      const idleFrom = Date.now();
      assert.equal(end.statusName, "SUCCEEDED", end.message);
      await withDeadline(ended, 15_000, "SubscribeLogs to end with the job");
      const stored = await logLines(p.client, id);
      assert.deepEqual(stored.slice(0, 1), [`$ ${command}`]);
      assert.deepEqual(stored.slice(-2), ["contract-first", "contract-second"]);
      assert.deepEqual(
        streamed.map((e) => e.line),
        stored,
        "the stream showed what is stored",
      );
      await f.whereItRan?.check(stored, p);

      for (const w of await f.workers(dataDir)) seen.add(w);
      firstJobWorkers = [...seen];
      await waitFor(async () => (await f.workers(dataDir)).length === 0, {
        timeoutMs: IDLE_TIMEOUT_MS + 30_000,
        what: `the idle worker ${[...seen].join(", ")} to be destroyed`,
      });
      const goneAfterMs = Date.now() - idleFrom;
      assert.ok(goneAfterMs >= IDLE_TIMEOUT_MS * 0.8, `destroyed ${goneAfterMs} ms after going idle`);
    });

    test(
      "the only waiting job gets one worker, not more",
      { todo: todo.oneWorkerPerJob ?? false },
      async () => {
        assert.ok(firstJobWorkers, "the create → run scenario ran");
        const p = await firstPlatform();
        const { logs } = await unary(p.client, AuditService.method.getAuditLogs, {
          eventType: "WorkerProvisioned",
        });
        assert.deepEqual(
          { inProviderTerms: firstJobWorkers.length, provisioned: logs.map((l) => l.correlationId) },
          { inProviderTerms: 1, provisioned: logs.slice(0, 1).map((l) => l.correlationId) },
          `workers seen while the job ran: ${firstJobWorkers.join(", ")}`,
        );
      },
    );

    test("cancelling the only waiting job during provisioning tears down the worker being started", async () => {
      const p = await firstPlatform();
      const before = new Set(await f.workers(dataDir));
      const id = await queueJob(p.client, {
        name: "cancelled",
        command: "true",
        ...(f.slowStartingJob ?? f.job),
      });
      const starting = await waitFor(async () => (await f.workers(dataDir)).find((w) => !before.has(w)), {
        timeoutMs: 15_000,
        intervalMs: 10,
        what: "the job's worker to be started",
      });
      const listed = (await (await fetch(`${p.httpUrl}/api/workers`)).json()) as {
        workers: { id: string; state: string }[];
      };
      const live = listed.workers.filter((w) => w.state !== "TERMINATED");
      assert.equal(live.length, 1, `one worker, the one starting: ${JSON.stringify(listed)}`);
      const worker = live[0]!;
      assert.match(worker.state, /CREATING|CONNECTING/, "the worker is still starting");
      await cancel(p, id);
      assert.equal((await waitForJobEnd(p.client, id)).statusName, "CANCELLED");
      await waitFor(async () => (await f.workers(dataDir)).length === 0, {
        timeoutMs: 15_000,
        what: `the starting worker ${starting} to be torn down`,
      });
      // The audit record is written (group commit) once the worker is gone.
      let terminated: string[] = [];
      await waitFor(
        async () => {
          const { logs } = await unary(p.client, AuditService.method.getAuditLogs, {
            eventType: "WorkerTerminated",
          });
          terminated = logs.filter((l) => l.correlationId === worker.id).map((l) => l.payload);
          return terminated.length > 0;
        },
        { timeoutMs: 10_000, what: `a WorkerTerminated record for ${worker.id}` },
      );
      assert.ok(
        terminated.some((l) => /no waiting job needs it/.test(l)),
        `terminated because of the cancel: ${JSON.stringify(terminated)}`,
      );
    });

    test("after the server is killed (SIGKILL) with a live worker, the next start on its data directory reaps that worker and no one else's", async () => {
      const p = await firstPlatform();
      const id = await queueJob(p.client, { name: "orphaned", command: "sleep 600", ...f.job });
      await waitForJobRunning(p.client, id, f.startMs);
      const orphans = await f.workers(dataDir);
      assert.ok(orphans.length > 0, "the running job's worker");
      crashed = p;
      process.kill(p.pid, "SIGKILL");
      await waitFor(() => !p.alive(), { timeoutMs: 5_000, what: "the server to die" });
      const outlived = await f.workers(dataDir);
      assert.ok(
        orphans.every((o) => outlived.includes(o)),
        "the workers outlived their server",
      );

      const foreign = await f.foreign?.();
      if (foreign) cleanups.push(() => foreign.remove());
      restarted = await start(dataDir, timeoutEnv(), p);
      await waitFor(async () => (await f.workers(dataDir)).every((w) => !orphans.includes(w)), {
        timeoutMs: 30_000,
        what: `the crashed server's workers ${orphans.join(", ")} to be reaped`,
      });
      if (foreign) assert.ok(await foreign.intact(), "another control plane's worker is untouched");
    });

    test("a worker that never registers is destroyed after the provisioning timeout and the job is offered again", async (t) => {
      // The restarted server has the short timeout; when the crash scenario failed, a fresh one.
      const dir = restarted ? dataDir : newDataDir();
      const p = restarted ?? (await start(dir, timeoutEnv()));
      const why = (await f.neverRegisters.skip?.(p)) ?? false;
      if (why) {
        t.skip(why);
        return;
      }
      const id = await queueJob(p.client, {
        name: "stuck",
        command: "true",
        ...(f.neverRegisters.job ?? f.job),
      });
      // Each attempt is a new worker resource; a second one after the first means the first timed out.
      const seen: string[] = [];
      await waitFor(
        async () => {
          for (const w of await f.workers(dir)) if (!seen.includes(w)) seen.push(w);
          return seen.length >= 2;
        },
        {
          timeoutMs: f.neverRegisters.provisioningTimeoutMs * 4 + 30_000,
          intervalMs: 50,
          what: "a second provisioning attempt",
        },
      );
      await waitFor(async () => !(await f.workers(dir)).includes(seen[0]!), {
        timeoutMs: 15_000,
        what: `the first attempt's worker ${seen[0]} to be destroyed`,
      });
      assert.equal((await jobStatus(p.client, id)).statusName, "PENDING");
      await cancel(p, id);
      assert.equal((await waitForJobEnd(p.client, id)).statusName, "CANCELLED");
      await waitFor(async () => (await f.workers(dir)).length === 0, {
        timeoutMs: 15_000,
        what: "no worker left once the job is cancelled",
      });
    });
  });
}
