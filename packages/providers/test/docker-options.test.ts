// The Docker provider's configuration and the container request it makes: pure functions, no engine.
import { test } from "node:test";
import assert from "node:assert/strict";
import { containerPlan, DOCKER_ENV, dockerOptionsFromEnv } from "../src/index.js";
import { isImageReference, normalizeImage } from "../src/docker/image-catalog.js";
import { parseLdd } from "../src/docker/elf-bundle.js";
import { explainExit, lastLogLine } from "../src/docker/exit-reason.js";
import type { ProviderCommon } from "../src/provider.js";

const common: ProviderCommon = {
  dataDir: "/var/lib/hodei",
  workerBundlePath: "/opt/hodei-worker.cjs",
  idleTimeoutMs: 30_000,
  instanceId: "cp-1",
};

test("defaults: the default socket, 512 MiB, one CPU, the locally built base image, a 3 s pull", () => {
  const o = dockerOptionsFromEnv({}, common);
  assert.deepEqual(o.endpoint, { socketPath: "/var/run/docker.sock" });
  assert.equal(o.defaultMemoryBytes, 512 * 1024 ** 2);
  assert.equal(o.defaultCpus, 1);
  assert.equal(o.defaultImage, "hodei/worker-base:local");
  assert.equal(o.pullTimeoutMs, 3_000);
  assert.equal(o.instanceId, "cp-1");
  assert.equal(o.idleTimeoutMs, 30_000);
});

test("values from the environment", () => {
  const o = dockerOptionsFromEnv(
    {
      DOCKER_HOST: "tcp://10.0.0.5:2375",
      HODEI_DOCKER_DEFAULT_MEMORY: "1Gi",
      HODEI_DOCKER_DEFAULT_CPUS: "0.5",
      HODEI_DOCKER_LABELS: "zone=eu, gpu=none",
      HODEI_DOCKER_MAX_WORKERS: "9",
      HODEI_DOCKER_DEFAULT_IMAGE: "registry.local:5000/team/base:2",
      HODEI_DOCKER_PULL_TIMEOUT: "0",
    },
    common,
  );
  assert.deepEqual(o.endpoint, { host: "10.0.0.5", port: 2375 });
  assert.equal(o.defaultMemoryBytes, 1024 ** 3);
  assert.equal(o.defaultCpus, 0.5);
  assert.deepEqual(o.labels, { zone: "eu", gpu: "none" });
  assert.equal(o.maxWorkers, 9);
  assert.equal(o.defaultImage, "registry.local:5000/team/base:2");
  assert.equal(o.pullTimeoutMs, 0);
});

test("a bad value is an error naming its variable", () => {
  const bad: [string, string][] = [
    ["DOCKER_HOST", "ssh://me@host"],
    ["HODEI_DOCKER_DEFAULT_MEMORY", "lots"],
    ["HODEI_DOCKER_DEFAULT_MEMORY", "1Mi"],
    ["HODEI_DOCKER_DEFAULT_CPUS", "-1"],
    ["HODEI_DOCKER_DEFAULT_CPUS", "one"],
    ["HODEI_DOCKER_MAX_WORKERS", "0"],
    ["HODEI_DOCKER_LABELS", "novalue"],
    ["HODEI_DOCKER_PULL_TIMEOUT", "soon"],
    ["HODEI_DOCKER_DEFAULT_IMAGE", "two words"],
  ];
  for (const [name, value] of bad) {
    assert.throws(
      () => dockerOptionsFromEnv({ [name]: value }, common),
      new RegExp(`^Error: ${name}: `),
      `${name}=${value}`,
    );
  }
});

test("every variable read is documented with a default and a meaning", () => {
  const names = DOCKER_ENV.map(([n]) => n);
  for (const n of [
    "HODEI_DOCKER_ENABLED",
    "DOCKER_HOST",
    "HODEI_DOCKER_DEFAULT_IMAGE",
    "HODEI_DOCKER_DEFAULT_MEMORY",
    "HODEI_DOCKER_DEFAULT_CPUS",
    "HODEI_DOCKER_LABELS",
    "HODEI_DOCKER_MAX_WORKERS",
    "HODEI_DOCKER_PULL_TIMEOUT",
  ]) {
    assert.ok(names.includes(n), n);
  }
  for (const [, , meaning] of DOCKER_ENV) assert.ok(meaning.length > 10);
});

test("the container request: requested memory is floored at 64 MiB, CPUs capped at the engine's, the job's image or the default", () => {
  const base = {
    providerName: "docker",
    instanceId: "cp-1",
    serverIdentity: "4242:99",
    agentDirPath: "/var/lib/hodei/docker-agent/abc",
    defaultImage: "hodei/worker-base:local",
    defaultMemoryBytes: 512 * 1024 ** 2,
    defaultCpus: 1,
    engineCpus: 2,
    labels: {},
    idleTimeoutMs: 0,
  };
  const spec = { workerId: "w/1", otpToken: "t", serverAddress: "127.0.0.1:50051", env: {} };
  const small = containerPlan({
    ...base,
    spec: { ...spec, resources: { cpuCores: 8, memoryBytes: 1024, gpuCount: 0 } },
  });
  assert.equal(small.HostConfig?.Memory, 64 * 1024 ** 2);
  assert.equal(small.HostConfig?.NanoCpus, 2e9);
  assert.equal(small.Image, "hodei/worker-base:local");
  assert.equal(small.name, "hodei-worker-w_1");
  assert.deepEqual(small.Entrypoint, [
    "/opt/hodei/bin/node",
    "--max-semi-space-size=1",
    "--semi-space-growth-factor=1",
    "/opt/hodei/start.cjs",
  ]);
  const unlimited = containerPlan({
    ...base,
    defaultCpus: 0,
    spec: { ...spec, image: "alpine:3", resources: { cpuCores: 0, memoryBytes: 0, gpuCount: 0 } },
  });
  assert.equal(unlimited.HostConfig?.NanoCpus, undefined);
  assert.equal(unlimited.HostConfig?.Memory, 512 * 1024 ** 2);
  assert.equal(unlimited.Image, "alpine:3");
});

test("image references: names get :latest, junk is recognised", () => {
  assert.equal(normalizeImage("alpine"), "alpine:latest");
  assert.equal(normalizeImage("registry.local:5000/a/b"), "registry.local:5000/a/b:latest");
  assert.equal(normalizeImage("python:3.11-slim"), "python:3.11-slim");
  for (const ok of [
    "alpine",
    "python:3.11-slim",
    "registry.local:5000/team/x:1",
    "hodei/worker-base:local",
  ]) {
    assert.equal(isImageReference(ok), true, ok);
  }
  for (const bad of ["", "Upper/Case", "a b", "x:", "-lead", "a:b:c"])
    assert.equal(isImageReference(bad), false, bad);
});

test("ldd output: the loader and every resolved library; a missing library is an error", () => {
  const out = [
    "\tlinux-vdso.so.1 (0x00007ffc)",
    "\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f1)",
    "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f2)",
    "\t/lib64/ld-linux-x86-64.so.2 (0x00007f3)",
  ].join("\n");
  assert.deepEqual(parseLdd(out), {
    loader: "/lib64/ld-linux-x86-64.so.2",
    libraries: ["/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libc.so.6"],
  });
  assert.throws(
    () => parseLdd("\tlibfoo.so.1 => not found\n\t/lib64/ld.so (0x1)"),
    /libfoo\.so\.1 => not found/,
  );
});

test("an ended container explained: OOM names the limit, a signal is a signal, a crash quotes its last line, a destroy needs no reason", () => {
  const base = {
    exitCode: 1,
    oomKilled: false,
    destroyed: false,
    memoryLimitBytes: 256 * 1024 ** 2,
    lastLine: "boom",
  };
  assert.deepEqual(explainExit({ ...base, exitCode: 137, oomKilled: true }), {
    code: null,
    signal: "SIGKILL",
    reason: "OOM killed: the worker container reached its memory limit of 256 MiB",
  });
  assert.deepEqual(explainExit(base), {
    code: 1,
    signal: null,
    reason: "worker container exited with code 1: boom",
  });
  assert.deepEqual(explainExit({ ...base, exitCode: 143, lastLine: "" }), {
    code: null,
    signal: "SIGTERM",
    reason: "worker container exited with SIGTERM",
  });
  assert.deepEqual(explainExit({ ...base, exitCode: 143, destroyed: true }), {
    code: null,
    signal: "SIGTERM",
  });
  assert.deepEqual(explainExit({ ...base, exitCode: 0 }), { code: 0, signal: null });
});

test("the last line of a multiplexed container log", () => {
  const frame = (stream: number, text: string): Buffer => {
    const body = Buffer.from(text);
    const head = Buffer.alloc(8);
    head[0] = stream;
    head.writeUInt32BE(body.length, 4);
    return Buffer.concat([head, body]);
  };
  const raw = Buffer.concat([frame(1, "starting\n"), frame(2, "HODEI_SHELL: expected an absolute path\n\n")]);
  assert.equal(lastLogLine(raw), "HODEI_SHELL: expected an absolute path");
  assert.equal(lastLogLine(Buffer.alloc(0)), "");
});
