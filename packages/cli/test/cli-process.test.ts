// Runs the built `hodei` binary as users do, in its own process.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";

const BIN = fileURLToPath(new URL("../../bin/hodei.js", import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function withoutServerAddress(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { HODEI_SERVER_ADDRESS: _ignored, ...rest } = env;
  return rest;
}

function hodei(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...withoutServerAddress(process.env), ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d));
    child.stderr.on("data", (d: Buffer) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** A port on which nothing listens (bound, then released). */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test("a command against an address where nothing listens says so and exits 3, quickly", async () => {
  const port = await deadPort();
  const started = Date.now();
  for (const args of [["job", "list"], ["health"], ["jobs", "get", "abc"], ["queue", "status"]]) {
    const run = await hodei(["--server", `127.0.0.1:${port}`, ...args]);
    assert.equal(run.code, 3, `${args.join(" ")}: ${run.stderr}`);
    assert.equal(
      run.stderr.trim(),
      `error: cannot reach the Hodei server at 127.0.0.1:${port}: is it running? (start it with: npm start)`,
    );
    assert.equal(run.stdout, "");
  }
  assert.ok(Date.now() - started < 8_000, "connection refusal must fail fast");
});

test("the server address also comes from HODEI_SERVER_ADDRESS", async () => {
  const port = await deadPort();
  const run = await hodei(["job", "run", "--command", "echo hi"], {
    HODEI_SERVER_ADDRESS: `127.0.0.1:${port}`,
  });
  assert.equal(run.code, 3);
  assert.match(run.stderr, new RegExp(`cannot reach the Hodei server at 127\\.0\\.0\\.1:${port}`));
});

test("job run with an invalid --priority exits 2 naming the flag, before connecting", async () => {
  const port = await deadPort();
  const run = await hodei([
    "--server",
    `127.0.0.1:${port}`,
    "job",
    "run",
    "--command",
    "echo hi",
    "--priority",
    "urgent",
  ]);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /--priority/);
  assert.match(run.stderr, /unknown priority "urgent"/);
  assert.doesNotMatch(run.stderr, /cannot reach/);
});

test("other usage mistakes exit 2 with a message", async () => {
  const cases: [string[], RegExp][] = [
    [["job", "run", "--command", "x", "--timeout", "soon"], /--timeout: invalid duration "soon"/],
    [["job", "queue", "--command", "x", "--env", "NOPE"], /--env: expected KEY=VALUE, got "NOPE"/],
    [["job", "queue"], /needs --command <text> or --script <file>/],
    [
      ["job", "run", "--script", "/nonexistent/x.sh"],
      /--script: cannot read \/nonexistent\/x.sh: no such file/,
    ],
    [["job", "list", "--status", "done"], /unknown status "done"/],
    [["logs"], /give a job id, or --follow/],
    [["--output", "xml", "job", "list"], /argument 'xml' is invalid/],
    [["frobnicate"], /unknown command 'frobnicate'/],
    [["job", "get"], /missing required argument 'id'/],
  ];
  for (const [args, message] of cases) {
    const run = await hodei(["--server", "127.0.0.1:1", ...args]);
    assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
    assert.match(run.stderr, message, args.join(" "));
  }
});

test("--help and --version exit 0", async () => {
  const help = await hodei(["--help"]);
  assert.equal(help.code, 0);
  for (const cmd of ["server", "worker", "health", "job|jobs", "logs", "workers", "queue", "providers"]) {
    assert.ok(help.stdout.includes(cmd), cmd);
  }
  const version = await hodei(["--version"]);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^\d+\.\d+\.\d+/);
});
