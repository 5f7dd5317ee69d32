// The handler every peer's worker runs, doing what our worker does with a job: spawn
// `/bin/bash -c "<command>"`, read stdout and stderr line by line as they come, store the lines in
// batches with a `$ command` header first, and record the exit code.
//
// Batching is adaptive with one write in flight: lines read while a write is under way go into the
// next one, so a fast printer gets big batches and a slow one gets a write per line. Backpressure,
// not buffering: past `maxBufferedLines` waiting lines the child's pipes are paused until the write
// in flight is done, so the worker's memory does not grow with what a job prints.
import { spawn } from "node:child_process";

const DEFAULT_MAX_BATCH_LINES = 20_000;
const DEFAULT_MAX_BUFFERED_LINES = 40_000;

/**
 * Runs `command`; `sink.write({ out, err })` stores one batch (arrays of lines, either may be
 * empty), `sink.finish({ out, err, exitCode })` stores the last batch and the exit code together
 * (one round trip where the store allows it). Resolves to the exit code.
 */
export function runCommand(
  command,
  sink,
  { maxBatchLines = DEFAULT_MAX_BATCH_LINES, maxBufferedLines = DEFAULT_MAX_BUFFERED_LINES } = {},
) {
  return new Promise((resolve, reject) => {
    const child = spawn("/bin/bash", ["-c", command], { stdio: ["ignore", "pipe", "pipe"] });
    const buffered = { out: [`$ ${command}`], err: [] };
    const partial = { out: "", err: "" };
    let writing;
    let paused = false;
    let exitCode;
    let closed = false;
    let failed = false;

    const waiting = () => buffered.out.length + buffered.err.length;
    const take = () => ({
      out: buffered.out.splice(0, maxBatchLines),
      err: buffered.err.splice(0, maxBatchLines),
    });
    const fail = (err) => {
      if (failed) return;
      failed = true;
      child.kill("SIGKILL");
      reject(err);
    };
    const pump = () => {
      if (writing || failed) return;
      if (closed && waiting() <= maxBatchLines) {
        const last = { out: buffered.out.splice(0), err: buffered.err.splice(0), exitCode };
        writing = sink.finish(last).then(() => resolve(exitCode), fail);
        return;
      }
      if (!waiting()) return;
      writing = sink.write(take()).then(() => {
        writing = undefined;
        if (paused && waiting() < maxBufferedLines) {
          paused = false;
          child.stdout.resume();
          child.stderr.resume();
        }
        pump();
      }, fail);
    };
    const onData = (stream) => (chunk) => {
      const parts = (partial[stream] + chunk).split("\n");
      partial[stream] = parts.pop();
      for (const line of parts) buffered[stream].push(line);
      if (!paused && waiting() >= maxBufferedLines) {
        paused = true;
        child.stdout.pause();
        child.stderr.pause();
      }
      pump();
    };
    child.stdout.setEncoding("utf8").on("data", onData("out"));
    child.stderr.setEncoding("utf8").on("data", onData("err"));
    child.once("error", fail);
    child.once("close", (code, signal) => {
      for (const stream of ["out", "err"]) if (partial[stream]) buffered[stream].push(partial[stream]);
      exitCode = code ?? 128 + (signal === "SIGKILL" ? 9 : 15);
      closed = true;
      pump();
    });
  });
}
