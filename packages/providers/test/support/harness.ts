// The worker package's test control plane (a real grpc-js WorkerAgentService on a real port), so a
// worker agent running inside a container can be given real jobs before the server drives this
// provider. Loaded from the worker's compiled tests: it is test code of another package.
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { repoRoot } from "./docker-engine.js";

export interface Harness {
  address: string;
  registrations: { authToken: string; workerInfo?: { workerId: string; provider: string } }[];
  received: { at: number; message: { payload: { case: string; value: any } } }[];
  send(init: unknown): void;
  waitFor<T>(probe: () => T | undefined, what: string, deadlineMs?: number): Promise<T>;
  kill(): Promise<void> | void;
}

export async function startHarness(): Promise<Harness> {
  const url = pathToFileURL(join(repoRoot, "packages/worker/dist/test/harness-control-plane.js")).href;
  const mod = (await import(url)) as { HarnessControlPlane: { start(): Promise<Harness> } };
  return mod.HarnessControlPlane.start();
}

/** Sends a RunJob and resolves with its log lines (header included) and exit code once it ends. */
export async function runJob(
  h: Harness,
  jobId: string,
  command: string,
  deadlineMs = 20_000,
): Promise<{ lines: string[]; exitCode: number }> {
  await h.waitFor(() => (h.registrations.length > 0 ? true : undefined), "registration", deadlineMs);
  await h.waitFor(
    () => (h.received.some((r) => r.message.payload.case === "hello") ? true : undefined),
    "hello",
    deadlineMs,
  );
  h.send({ payload: { case: "runJob", value: { jobId, executionId: `${jobId}-e1`, command } } });
  const result = await h.waitFor(
    () =>
      h.received.find((r) => r.message.payload.case === "result" && r.message.payload.value.jobId === jobId)
        ?.message.payload.value,
    `result of ${jobId}`,
    deadlineMs,
  );
  const lines: string[] = [];
  for (const r of h.received) {
    const p = r.message.payload;
    if (p.case === "logBatch" && p.value.jobId === jobId) for (const l of p.value.lines) lines.push(l.line);
  }
  return { lines, exitCode: Number(result.exitCode) };
}
