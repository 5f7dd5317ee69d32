// The seed README's gRPC calls from standard clients that know nothing of our generated code:
// @grpc/grpc-js with @grpc/proto-loader reading proto/hodei/*.proto at run time, server reflection
// as grpcurl uses it, and (when the machine has it) Python's grpcio with protoc run at test time.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { protoDir } from "./support/paths.js";
import { startPlatform, stopCleanly, type Platform } from "./support/platform.js";
import { waitFor, withDeadline } from "./support/wait.js";

const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  enums: String,
  longs: String,
  defaults: true,
  oneofs: true,
};

type Unary = (req: unknown, cb: (err: grpc.ServiceError | null, res: any) => void) => void;
type AnyClient = grpc.Client & Record<string, any>;

function call(client: AnyClient, method: string, req: unknown): Promise<any> {
  return new Promise((resolve, reject) =>
    (client[method] as Unary).call(client, req, (err, res) => (err ? reject(err) : resolve(res))),
  );
}

function loadHodei(): grpc.GrpcObject {
  const def = protoLoader.loadSync(
    ["hodei/job_execution.proto", "hodei/log_stream.proto", "hodei/scheduler.proto"],
    {
      ...LOADER_OPTIONS,
      includeDirs: [protoDir],
    },
  );
  return grpc.loadPackageDefinition(def);
}

function reflectionProtoDir(): string {
  // @grpc/reflection ships its .proto files next to its build output: build/src → build/proto.
  const main = createRequire(import.meta.url).resolve("@grpc/reflection");
  return join(dirname(main), "..", "proto");
}

describe("a standard gRPC client built from the .proto files at run time", () => {
  let platform: Platform;
  let jobs: AnyClient;
  let logs: AnyClient;
  let scheduler: AnyClient;

  before(async () => {
    platform = await startPlatform();
    const hodei = loadHodei().hodei as grpc.GrpcObject;
    const JobExecutionService = hodei.JobExecutionService as grpc.ServiceClientConstructor;
    const LogStreamService = hodei.LogStreamService as grpc.ServiceClientConstructor;
    const creds = grpc.credentials.createInsecure();
    jobs = new JobExecutionService(platform.grpcAddress, creds) as AnyClient;
    logs = new LogStreamService(platform.grpcAddress, creds) as AnyClient;
    const SchedulerService = hodei.SchedulerService as grpc.ServiceClientConstructor;
    scheduler = new SchedulerService(platform.grpcAddress, creds) as AnyClient;
  });
  after(async () => {
    jobs?.close();
    logs?.close();
    scheduler?.close();
    await stopCleanly(platform);
  });

  test("the README's QueueJob, then GetJobStatus until COMPLETED, then GetLogs", async () => {
    const queued = await call(jobs, "QueueJob", {
      job_definition: {
        job_id: { value: "my-first-job" },
        name: "Hello World",
        command: "echo",
        arguments: ["Hello from Hodei!"],
      },
      queued_by: "quickstart",
    });
    assert.equal(queued.success, true, JSON.stringify(queued));
    assert.equal(queued.job_id.value, "my-first-job");
    assert.ok(queued.queued_at, "queued_at is set");

    const status = await waitFor(
      async () => {
        const s = await call(jobs, "GetJobStatus", { job_id: { value: "my-first-job" } });
        return ["JOB_STATUS_COMPLETED", "JOB_STATUS_FAILED", "JOB_STATUS_CANCELLED"].includes(s.status) && s;
      },
      { timeoutMs: 30_000, what: "my-first-job to finish" },
    );
    assert.equal(status.status, "JOB_STATUS_COMPLETED", JSON.stringify(status));
    assert.equal(status.status_name, "SUCCEEDED");
    assert.equal(status.job_id.value, "my-first-job");

    const page = await call(logs, "GetLogs", { job_id: "my-first-job" });
    const lines = page.entries.map((e: { line: string }) => e.line);
    assert.deepEqual(lines, ["$ echo 'Hello from Hodei!'", "Hello from Hodei!"]);
    assert.equal(page.entries[0].sequence, "1");
    assert.equal(page.has_more, false);
  });

  test("SubscribeLogs with a plain-string job_id and history replays the lines and ends", async () => {
    const stream = logs.SubscribeLogs({
      job_id: "my-first-job",
      include_history: true,
    }) as grpc.ClientReadableStream<any>;
    const received: any[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      stream.on("data", (e) => received.push(e));
      stream.on("end", resolve);
      stream.on("error", reject);
    });
    await withDeadline(ended, 15_000, "SubscribeLogs of a finished job to end");
    assert.deepEqual(
      received.map((e) => [e.sequence, e.line, e.is_stderr, e.job_id]),
      [
        ["1", "$ echo 'Hello from Hodei!'", false, "my-first-job"],
        ["2", "Hello from Hodei!", false, "my-first-job"],
      ],
    );
  });

  test("GetQueueStatus counts the finished job", async () => {
    const q = await call(scheduler, "GetQueueStatus", { scheduler_name: "default" });
    assert.equal(q.scheduler_name, "default");
    assert.equal(q.completed_jobs, "1", JSON.stringify(q));
    assert.equal(q.total_jobs, "1", JSON.stringify(q));
    assert.equal(q.pending_jobs, "0");
  });

  test("an RPC not built yet answers UNIMPLEMENTED with a message naming its area", async () => {
    await assert.rejects(
      call(scheduler, "GetSchedulingDecision", { job_id: { value: "my-first-job" } }),
      (err: grpc.ServiceError) => {
        assert.equal(err.code, grpc.status.UNIMPLEMENTED);
        assert.match(err.details, /placement/i);
        return true;
      },
    );
  });

  for (const version of ["v1", "v1alpha"]) {
    test(`server reflection (grpc.reflection.${version}) lists the hodei services`, async () => {
      const def = protoLoader.loadSync(`grpc/reflection/${version}/reflection.proto`, {
        ...LOADER_OPTIONS,
        includeDirs: [reflectionProtoDir()],
      });
      const pkg = grpc.loadPackageDefinition(def) as any;
      const Reflection = pkg.grpc.reflection[version].ServerReflection as grpc.ServiceClientConstructor;
      const client = new Reflection(platform.grpcAddress, grpc.credentials.createInsecure()) as AnyClient;
      try {
        const stream = client.ServerReflectionInfo() as grpc.ClientDuplexStream<any, any>;
        const answer = new Promise<any>((resolve, reject) => {
          stream.once("data", resolve);
          stream.once("error", reject);
        });
        stream.write({ host: "", list_services: "" });
        const res = await withDeadline(answer, 10_000, "the reflection answer");
        stream.end();
        const names = (res.list_services_response?.service ?? []).map((s: { name: string }) => s.name);
        for (const name of [
          "hodei.JobExecutionService",
          "hodei.LogStreamService",
          "hodei.SchedulerService",
          "hodei.WorkerAgentService",
        ]) {
          assert.ok(names.includes(name), `${name} in ${JSON.stringify(names)}`);
        }
      } finally {
        client.close();
      }
    });
  }

  const python = findPythonWithGrpc();
  test(
    "Python grpcio, with protoc run at test time, makes the README's calls",
    {
      skip: python
        ? false
        : "no python3 with grpc and grpc_tools (Debian: python3-grpcio python3-grpc-tools)",
    },
    async () => {
      const work = mkdtempSync(join(tmpdir(), "hodei-e2e-py-"));
      try {
        writeFileSync(join(work, "client.py"), PYTHON_CLIENT);
        const r = spawnSync(python!, [join(work, "client.py"), protoDir, work, platform.grpcAddress], {
          encoding: "utf8",
          timeout: 60_000,
        });
        assert.equal(r.status, 0, `python exited ${r.status}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
        const out = JSON.parse(r.stdout.trim().split("\n").pop()!);
        assert.deepEqual(out, {
          queued: true,
          job_id: "my-first-job-python",
          status: "JOB_STATUS_COMPLETED",
          lines: ["$ echo 'Hello from Hodei!'", "Hello from Hodei!"],
        });
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    },
  );
});

function findPythonWithGrpc(): string | undefined {
  for (const candidate of ["python3", "/usr/bin/python3"]) {
    const r = spawnSync(candidate, ["-c", "import grpc, grpc_tools"], { stdio: "ignore" });
    if (r.status === 0) return candidate;
  }
  return undefined;
}

// protoc is run here, from the .proto files. Debian's grpc_tools bundles an old protoc that refuses
// proto3 `optional` (explicit presence); dropping the label changes nothing on the wire, so the
// copy handed to it has the label removed.
const PYTHON_CLIENT = String.raw`
import json, os, re, shutil, sys, time
proto_dir, work, address = sys.argv[1], sys.argv[2], sys.argv[3]
import grpc, grpc_tools
from grpc_tools import protoc
src = os.path.join(work, "proto")
shutil.copytree(proto_dir, src)
for root, _, files in os.walk(src):
    for f in files:
        p = os.path.join(root, f)
        with open(p) as fh:
            text = fh.read()
        with open(p, "w") as fh:
            fh.write(re.sub(r"^(\s*)optional ", r"\1", text, flags=re.M))
out = os.path.join(work, "gen")
os.mkdir(out)
well_known = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
rc = protoc.main(["protoc", "-I" + src, "-I" + well_known, "--python_out=" + out, "--grpc_python_out=" + out,
                  "hodei/common.proto", "hodei/job_execution.proto", "hodei/log_stream.proto"])
if rc != 0:
    sys.exit("protoc failed: %d" % rc)
sys.path.insert(0, out)
from google.protobuf import json_format
from hodei import common_pb2, job_execution_pb2, job_execution_pb2_grpc, log_stream_pb2, log_stream_pb2_grpc

channel = grpc.insecure_channel(address)
jobs = job_execution_pb2_grpc.JobExecutionServiceStub(channel)
logs = log_stream_pb2_grpc.LogStreamServiceStub(channel)
req = json_format.ParseDict({"job_definition": {"job_id": {"value": "my-first-job-python"}, "name": "Hello World",
                             "command": "echo", "arguments": ["Hello from Hodei!"]}, "queued_by": "quickstart"},
                            job_execution_pb2.QueueJobRequest())
queued = jobs.QueueJob(req, timeout=10)
status_req = json_format.ParseDict({"job_id": {"value": "my-first-job-python"}}, job_execution_pb2.GetJobStatusRequest())
deadline = time.time() + 30
while True:
    s = jobs.GetJobStatus(status_req, timeout=10)
    name = common_pb2.JobStatus.Name(s.status)
    if name in ("JOB_STATUS_COMPLETED", "JOB_STATUS_FAILED", "JOB_STATUS_CANCELLED", "JOB_STATUS_TIMEOUT"):
        break
    if time.time() > deadline:
        sys.exit("timed out waiting for the job; last status " + name)
    time.sleep(0.05)
page = logs.GetLogs(log_stream_pb2.GetLogsRequest(job_id="my-first-job-python"), timeout=10)
print(json.dumps({"queued": queued.success, "job_id": queued.job_id.value, "status": name,
                  "lines": [e.line for e in page.entries]}))
`;
