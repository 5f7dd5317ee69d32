import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { LogEntrySchema, type LogEntry } from "@hodei/api";
import { followLogs, type LogSubscription } from "../src/follow-logs.js";

const entry = (sequence: number): LogEntry =>
  create(LogEntrySchema, { jobId: "j", line: `line ${sequence}`, sequence: BigInt(sequence) });

/** A subscription that fails before its first line. */
function failing(err: Error): LogSubscription {
  return {
    [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(err) }),
  };
}

class Broken extends Error {
  code = 14; // UNAVAILABLE
}

/** A fake server: each subscription replays the stored lines after `since`, then may break. */
function fakeServer(lines: number[], breakAfter: number[]) {
  const requests: (bigint | null)[] = [];
  const subscribe = (since: bigint | null): LogSubscription => {
    requests.push(since);
    const breakAt = breakAfter.shift();
    return (async function* () {
      let sent = 0;
      // A resumed stream may repeat the last line; the follower must drop it.
      for (const seq of lines.filter((s) => since === null || BigInt(s) >= since)) {
        if (breakAt !== undefined && sent === breakAt) throw new Broken("stream reset");
        sent++;
        yield entry(seq);
      }
    })();
  };
  return { subscribe, requests };
}

const fast = { sleep: async () => undefined, isTransient: (e: unknown) => e instanceof Broken };

test("a broken stream is resumed after the last sequence: no line lost, none twice", async () => {
  const server = fakeServer([1, 2, 3, 4, 5, 6], [2, 2]);
  const seen: bigint[] = [];
  const retries: number[] = [];
  const result = await followLogs({
    ...fast,
    subscribe: server.subscribe,
    onEntry: (e) => void seen.push(e.sequence),
    onRetry: (_e, attempt) => retries.push(attempt),
  });
  assert.deepEqual(seen, [1n, 2n, 3n, 4n, 5n, 6n]);
  assert.deepEqual(server.requests, [null, 2n, 3n]);
  assert.deepEqual(result, { lastSequence: 6n, aborted: false });
  assert.equal(retries.length, 2);
});

test("errors that are not transient end the follow at once", async () => {
  const notFound = Object.assign(new Error("job x not found"), { code: 5 });
  await assert.rejects(
    followLogs({
      ...fast,
      subscribe: () => failing(notFound),
      onEntry: () => undefined,
    }),
    notFound,
  );
});

test("the follow gives up when the server stays away longer than the window", async () => {
  let clock = 0;
  let attempts = 0;
  await assert.rejects(
    followLogs({
      ...fast,
      now: () => clock,
      sleep: async (ms) => void (clock += ms),
      reconnectWindowMs: 5_000,
      subscribe: () => {
        attempts++;
        return failing(new Broken("connection refused"));
      },
      onEntry: () => undefined,
    }),
    Broken,
  );
  assert.ok(attempts > 3 && attempts < 20, `attempts: ${attempts}`);
});

test("aborting ends the follow and cancels the open stream", async () => {
  const stop = new AbortController();
  let cancelled = false;
  const result = await followLogs({
    ...fast,
    signal: stop.signal,
    subscribe: () => {
      let rejectWait: (e: Error) => void = () => undefined;
      const wait = new Promise<never>((_resolve, reject) => (rejectWait = reject));
      const gen = (async function* () {
        yield entry(1);
        await wait;
      })();
      const cancel = (): void => {
        cancelled = true;
        rejectWait(Object.assign(new Error("cancelled"), { code: 1 }));
      };
      return Object.assign(gen, { cancel });
    },
    onEntry: () => stop.abort(),
  });
  assert.equal(cancelled, true);
  assert.deepEqual(result, { lastSequence: 1n, aborted: true });
});

test("a message carrying several lines in `more` gives each in order, with the message's job id", async () => {
  const packed = create(LogEntrySchema, {
    jobId: "j",
    line: "line 1",
    sequence: 1n,
    more: [2, 3, 4].map((s) => ({ line: `line ${s}`, sequence: BigInt(s) })),
  });
  const seen: LogEntry[] = [];
  const result = await followLogs({
    ...fast,
    subscribe: () =>
      (async function* () {
        yield packed;
        yield entry(5);
      })(),
    onEntry: (e) => void seen.push(e),
  });
  assert.deepEqual(
    seen.map((e) => [e.jobId, e.line, e.sequence]),
    [1, 2, 3, 4, 5].map((s) => ["j", `line ${s}`, BigInt(s)]),
  );
  assert.equal(result.lastSequence, 5n);
});
