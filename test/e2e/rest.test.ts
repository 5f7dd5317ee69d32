// The REST API on the HTTP port, as `fetch` and `curl` see it: queue, poll, logs, list filters and
// paging, logs followed as Server-Sent Events, and errors as JSON with the right status.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { startPlatform, stopCleanly, type Platform } from "./support/platform.js";
import { waitFor, withDeadline } from "./support/wait.js";

interface Reply {
  status: number;
  body: any;
}

describe("REST API end to end", () => {
  let platform: Platform;
  before(async () => {
    platform = await startPlatform();
  });
  after(() => stopCleanly(platform));

  async function http(method: string, path: string, body?: unknown, raw?: string): Promise<Reply> {
    const res = await fetch(`${platform.httpUrl}${path}`, {
      method,
      headers: body !== undefined || raw !== undefined ? { "content-type": "application/json" } : {},
      body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }

  async function post(definition: unknown): Promise<string> {
    const r = await http("POST", "/api/jobs", definition);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.job_id;
  }

  function finished(id: string): Promise<any> {
    return waitFor(
      async () => {
        const r = await http("GET", `/api/jobs/${id}`);
        return ["SUCCEEDED", "FAILED", "CANCELLED", "TIMEOUT"].includes(r.body.status_name) && r.body;
      },
      { timeoutMs: 30_000, what: `job ${id} to finish (GET /api/jobs/${id})` },
    );
  }

  test("POST /api/jobs, GET /api/jobs/:id until SUCCEEDED, GET its logs", async () => {
    const r = await http("POST", "/api/jobs", {
      name: "rest-hello",
      command: "echo",
      arguments: ["hi there"],
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.status, "PENDING");
    assert.ok(!Number.isNaN(Date.parse(r.body.queued_at)), `queued_at: ${r.body.queued_at}`);
    const id: string = r.body.job_id;

    const job = await finished(id);
    assert.equal(job.status_name, "SUCCEEDED");
    assert.equal(job.status, "JOB_STATUS_COMPLETED");
    assert.equal(job.job_id.value, id);
    assert.equal(job.name, "rest-hello");
    assert.equal(job.exit_code, 0);

    const logs = await http("GET", `/api/jobs/${id}/logs`);
    assert.equal(logs.status, 200);
    assert.deepEqual(
      logs.body.entries.map((e: any) => [e.sequence, e.is_stderr, e.line]),
      [
        [1, false, "$ echo 'hi there'"],
        [2, false, "hi there"],
      ],
    );
    assert.equal(logs.body.has_more, false);
    assert.equal(logs.body.next_sequence, 2);
    const page = await http("GET", `/api/jobs/${id}/logs?limit=1`);
    assert.deepEqual([page.body.entries.length, page.body.has_more, page.body.next_sequence], [1, true, 1]);
  });

  test("a QueueJobRequest body with its own job id and queued_by", async () => {
    const id = await post({
      job_definition: { job_id: { value: "rest-own-id" }, name: "own", command: "true" },
      queued_by: "rest-test",
    });
    assert.equal(id, "rest-own-id");
    const job = await finished(id);
    assert.equal(job.status_name, "SUCCEEDED");
    assert.equal(job.queued_by, "rest-test");
  });

  test("POST /api/jobs/batch queues many: a result per definition in order; a bad one refuses all, naming its index", async () => {
    const r = await http("POST", "/api/jobs/batch", {
      job_definitions: [{ job_id: { value: "rest-batch-1" }, command: "true" }, { command: "exit 2" }],
      queued_by: "rest-batch",
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.queued, 2);
    assert.deepEqual(
      r.body.results.map((x: any) => x.success),
      [true, true],
    );
    assert.equal(r.body.results[0].job_id.value, "rest-batch-1");
    const second = await finished(r.body.results[1].job_id.value);
    assert.deepEqual([second.status_name, second.queued_by], ["FAILED", "rest-batch"]);

    // A bare array works too; an id already taken fails alone (success false is written out).
    const again = await http("POST", "/api/jobs/batch", [
      { job_id: { value: "rest-batch-1" }, command: "true" },
      { job_id: { value: "rest-batch-3" }, command: "true" },
    ]);
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.equal(again.body.queued, 1);
    assert.equal(again.body.results[0].success, false);
    assert.match(
      again.body.results[0].message,
      /job_definitions\[0\]\.job_id: a job with id "rest-batch-1" already exists/,
    );

    const before = (await http("GET", "/api/jobs?limit=1")).body.total;
    const bad = await http("POST", "/api/jobs/batch", [{ command: "true" }, { command: "" }]);
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /^job_definitions\[1\]\.command/);
    const junk = await http("POST", "/api/jobs/batch", [{ command: "true" }, { commnd: "typo" }]);
    assert.equal(junk.status, 400);
    assert.match(junk.body.error.message, /^job_definitions\[1\]: .*commnd/);
    assert.equal((await http("GET", "/api/jobs?limit=1")).body.total, before);
  });

  test("list filters: status, q, and paging with limit/offset", async () => {
    const tag = `filt${Date.now()}`;
    const ok = await Promise.all([1, 2, 3, 4].map((i) => post({ name: `${tag}-ok-${i}`, command: "true" })));
    const bad = await post({ name: `${tag}-bad`, command: "exit 7" });
    const other = await post({ name: "unrelated", command: "true" });
    await Promise.all([...ok, bad, other].map(finished));

    const all = await http("GET", `/api/jobs?q=${tag}`);
    assert.equal(all.status, 200);
    assert.equal(all.body.total, 5);
    assert.deepEqual(all.body.jobs.map((j: any) => j.job_id.value).sort(), [...ok, bad].sort());

    const succeeded = await http("GET", `/api/jobs?status=SUCCEEDED&q=${tag}`);
    assert.equal(succeeded.body.total, 4);
    assert.deepEqual(succeeded.body.jobs.map((j: any) => j.job_id.value).sort(), [...ok].sort());
    assert.ok(succeeded.body.jobs.every((j: any) => j.status_name === "SUCCEEDED"));

    const failed = await http("GET", `/api/jobs?status=FAILED&q=${tag}`);
    assert.deepEqual(
      failed.body.jobs.map((j: any) => [j.job_id.value, j.exit_code]),
      [[bad, 7]],
    );

    const seen: string[] = [];
    for (const [offset, size, more] of [
      [0, 2, true],
      [2, 2, true],
      [4, 1, false],
    ] as const) {
      const p = await http("GET", `/api/jobs?q=${tag}&limit=2&offset=${offset}`);
      assert.equal(p.body.total, 5);
      assert.equal(p.body.jobs.length, size, `page at offset ${offset}`);
      assert.equal(p.body.has_more, more, `has_more at offset ${offset}`);
      seen.push(...p.body.jobs.map((j: any) => j.job_id.value));
    }
    assert.deepEqual([...seen].sort(), [...ok, bad].sort(), "the pages cover every job exactly once");
  });

  test("GET /api/jobs/:id/logs?follow=true streams the lines as SSE, then `end`", async () => {
    const id = await post({ name: "sse", command: "echo first; sleep 0.5; echo second >&2" });
    const res = await fetch(`${platform.httpUrl}/api/jobs/${id}/logs?follow=true`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);

    const events: { event: string; data: any; atMs: number }[] = [];
    const read = (async () => {
      const decoder = new TextDecoder();
      let buffer = "";
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let cut: number;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const field = (name: string) =>
            block
              .split("\n")
              .find((l) => l.startsWith(`${name}:`))
              ?.slice(name.length + 1)
              .trim();
          events.push({
            event: field("event") ?? "message",
            data: JSON.parse(field("data") ?? "null"),
            atMs: Date.now(),
          });
        }
      }
    })();
    await withDeadline(read, 30_000, "the SSE stream to end");

    const logs = events.filter((e) => e.event === "log");
    assert.deepEqual(
      logs.map((e) => [e.data.sequence, e.data.is_stderr, e.data.line]),
      [
        [1, false, "$ echo first; sleep 0.5; echo second >&2"],
        [2, false, "first"],
        [3, true, "second"],
      ],
    );
    assert.ok(logs[2]!.atMs - logs[1]!.atMs >= 300, "the second line came live, after the sleep");
    const end = events[events.length - 1]!;
    assert.equal(end.event, "end");
    assert.deepEqual(end.data, { status: "SUCCEEDED", exit_code: 0 });
  });

  test("an unknown job is 404 with a JSON error", async () => {
    for (const path of [
      "/api/jobs/no-such-job",
      "/api/jobs/no-such-job/logs",
      "/api/jobs/no-such-job/logs?follow=true",
    ]) {
      const r = await http("GET", path);
      assert.equal(r.status, 404, path);
      assert.equal(r.body.error.code, "JOB_NOT_FOUND", path);
      assert.match(r.body.error.message, /no-such-job/, path);
    }
  });

  test("bad requests are 400 with a message naming what is wrong", async () => {
    const cases: [string, string, unknown, string | undefined, RegExp][] = [
      ["POST", "/api/jobs", undefined, "{not json", /json/i],
      ["POST", "/api/jobs", { name: "empty", command: "" }, undefined, /command/],
      [
        "POST",
        "/api/jobs",
        { name: "x", command: "true", job_id: { value: "bad id!" } },
        undefined,
        /job_id/,
      ],
      ["POST", "/api/jobs", { name: "x", command: "true", no_such_field: 1 }, undefined, /no_such_field/],
      ["GET", "/api/jobs?status=SLEEPING", undefined, undefined, /status/],
      ["GET", "/api/jobs?limit=-1", undefined, undefined, /limit/],
      ["GET", "/api/jobs?offset=abc", undefined, undefined, /offset/],
      ["GET", `/api/jobs/${encodeURIComponent("bad id!")}`, undefined, undefined, /id/],
    ];
    const before = (await http("GET", "/api/jobs?limit=1")).body.total;
    for (const [method, path, body, raw, message] of cases) {
      const r = await http(method, path, body, raw);
      const what = `${method} ${path} ${raw ?? JSON.stringify(body) ?? ""}`;
      assert.equal(r.status, 400, `${what}: ${JSON.stringify(r.body)}`);
      assert.match(r.body.error.message, message, what);
    }
    assert.equal((await http("GET", "/api/jobs?limit=1")).body.total, before, "no job was created");
  });

  const curl = spawnSync("curl", ["--version"], { stdio: "ignore" }).status === 0;
  test(
    "curl: POST a job, GET it and its logs",
    { skip: curl ? false : "curl is not installed" },
    async () => {
      const run = (...args: string[]) => {
        const r = spawnSync("curl", ["-sS", "--fail-with-body", "--max-time", "10", ...args], {
          encoding: "utf8",
        });
        assert.equal(r.status, 0, `curl ${args.join(" ")}: ${r.stderr}${r.stdout}`);
        return JSON.parse(r.stdout);
      };
      const queued = run(
        "-X",
        "POST",
        "-H",
        "content-type: application/json",
        "-d",
        '{"name":"curl-job","command":"echo","arguments":["from curl"]}',
        `${platform.httpUrl}/api/jobs`,
      );
      const id: string = queued.job_id;
      await waitFor(() => run(`${platform.httpUrl}/api/jobs/${id}`).status_name === "SUCCEEDED", {
        timeoutMs: 30_000,
        what: `job ${id} to succeed (curl)`,
      });
      const logs = run(`${platform.httpUrl}/api/jobs/${id}/logs`);
      assert.deepEqual(
        logs.entries.map((e: any) => e.line),
        ["$ echo 'from curl'", "from curl"],
      );
      const listed = run(`${platform.httpUrl}/api/jobs?q=curl-job`);
      assert.deepEqual(
        listed.jobs.map((j: any) => j.job_id.value),
        [id],
      );
    },
  );
});
