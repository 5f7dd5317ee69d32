import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { hostname } from "node:os";
import { fileURLToPath } from "node:url";
import { logLevelFromEnv, workerConfigFromEnv } from "../src/config.js";

test("defaults: only the OTP is required", () => {
  const c = workerConfigFromEnv({ HODEI_OTP_TOKEN: "tok" });
  assert.equal(c.serverAddress, "127.0.0.1:50051");
  assert.equal(c.otpToken, "tok");
  assert.equal(c.workerId, `${hostname()}-${process.pid}`);
  assert.equal(c.logBatchSize, 4096);
  assert.equal(c.logFlushIntervalMs, 5);
  assert.equal(c.provider, "local");
  assert.deepEqual(c.labels, {});
  assert.equal(c.idleTimeoutMs, 0);
  assert.equal(c.tls, undefined);
  assert.match(c.spawnHelper ?? "", /\/dist\/hodei-spawn$/, "the helper built next to the worker");
});

test("HODEI_SPAWN_HELPER: an absolute path, or off for Node's spawn", () => {
  const at = (v: string) => workerConfigFromEnv({ HODEI_OTP_TOKEN: "t", HODEI_SPAWN_HELPER: v }).spawnHelper;
  assert.equal(at("/opt/hodei/bin/hodei-spawn"), "/opt/hodei/bin/hodei-spawn");
  assert.equal(at("off"), undefined);
  assert.throws(() => at("hodei-spawn"), /HODEI_SPAWN_HELPER: expected an absolute path or "off"/);
});

test("every variable is read", () => {
  const c = workerConfigFromEnv({
    HODEI_OTP_TOKEN: "tok",
    HODEI_SERVER_ADDRESS: "http://control:50051",
    HODEI_WORKER_ID: "w-1",
    HODEI_LOG_BATCH_SIZE: "1000",
    HODEI_LOG_FLUSH_INTERVAL: "20",
    HODEI_WORKER_PROVIDER: "docker",
    HODEI_WORKER_LABELS: "zone=eu, gpu=none ,",
    HODEI_WORKER_IDLE_TIMEOUT: "60000",
  });
  assert.equal(c.serverAddress, "control:50051");
  assert.equal(c.workerId, "w-1");
  assert.equal(c.logBatchSize, 1000);
  assert.equal(c.logFlushIntervalMs, 20);
  assert.equal(c.provider, "docker");
  assert.deepEqual(c.labels, { zone: "eu", gpu: "none" });
  assert.equal(c.idleTimeoutMs, 60000);
});

test("TLS: https:// or certificate paths turn it on; cert and key go together", () => {
  assert.deepEqual(
    workerConfigFromEnv({ HODEI_OTP_TOKEN: "t", HODEI_SERVER_ADDRESS: "https://cp:443" }).tls,
    {
      caCertPath: undefined,
      certPath: undefined,
      keyPath: undefined,
    },
  );
  const c = workerConfigFromEnv({
    HODEI_OTP_TOKEN: "t",
    HODEI_CA_CERT_PATH: "/ca.pem",
    HODEI_CLIENT_CERT_PATH: "/c.pem",
    HODEI_CLIENT_KEY_PATH: "/k.pem",
  });
  assert.deepEqual(c.tls, { caCertPath: "/ca.pem", certPath: "/c.pem", keyPath: "/k.pem" });
  assert.throws(
    () => workerConfigFromEnv({ HODEI_OTP_TOKEN: "t", HODEI_CLIENT_CERT_PATH: "/c.pem" }),
    /HODEI_CLIENT_KEY_PATH/,
  );
});

test("errors name the variable", () => {
  assert.throws(() => workerConfigFromEnv({}), /HODEI_OTP_TOKEN.*required/);
  assert.throws(() => workerConfigFromEnv({ HODEI_OTP_TOKEN: "  " }), /HODEI_OTP_TOKEN/);
  assert.throws(
    () => workerConfigFromEnv({ HODEI_OTP_TOKEN: "t", HODEI_LOG_BATCH_SIZE: "lots" }),
    /HODEI_LOG_BATCH_SIZE: expected a whole number/,
  );
  assert.throws(
    () => workerConfigFromEnv({ HODEI_OTP_TOKEN: "t", HODEI_LOG_BATCH_SIZE: "0" }),
    /HODEI_LOG_BATCH_SIZE: must be between/,
  );
  assert.throws(
    () => workerConfigFromEnv({ HODEI_OTP_TOKEN: "t", HODEI_LOG_FLUSH_INTERVAL: "-1" }),
    /HODEI_LOG_FLUSH_INTERVAL/,
  );
  assert.throws(
    () => workerConfigFromEnv({ HODEI_OTP_TOKEN: "t", HODEI_WORKER_LABELS: "novalue" }),
    /HODEI_WORKER_LABELS: expected key=value/,
  );
});

test("LOG_LEVEL: pino's levels in any case, info when unset, an error naming it otherwise", () => {
  assert.equal(logLevelFromEnv({}), "info");
  assert.equal(logLevelFromEnv({ LOG_LEVEL: " " }), "info");
  assert.equal(logLevelFromEnv({ LOG_LEVEL: "WARN" }), "warn");
  assert.equal(logLevelFromEnv({ LOG_LEVEL: "silent" }), "silent");
  assert.throws(
    () => logLevelFromEnv({ LOG_LEVEL: "loud" }),
    /LOG_LEVEL: expected one of trace, .*silent, got "loud"/,
  );
  assert.throws(
    () => workerConfigFromEnv({ HODEI_OTP_TOKEN: "t", LOG_LEVEL: "loud" }),
    /LOG_LEVEL: expected one of/,
    "refused with the rest of the configuration",
  );
});

test("the bundled worker logs at LOG_LEVEL, and refuses an unknown one with exit code 2 before connecting", () => {
  const bundle = fileURLToPath(new URL("../../dist/hodei-worker.cjs", import.meta.url));
  // No server listens on port 1: the agent says it is starting (info), then keeps retrying (warn)
  // until the test stops it.
  const run = (level: string) =>
    spawnSync(process.execPath, [bundle], {
      env: {
        PATH: process.env.PATH,
        HODEI_OTP_TOKEN: "t",
        HODEI_SERVER_ADDRESS: "127.0.0.1:1",
        LOG_LEVEL: level,
      },
      encoding: "utf8",
      timeout: 1_500,
    });
  const bad = run("loud");
  assert.equal(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /LOG_LEVEL: expected one of/);
  const info = run("info");
  assert.match(info.stderr, /"level":30,.*"msg":"worker starting"/);
  assert.match(info.stderr, /"level":40,.*"msg":"cannot reach the control plane"/);
  const warn = run("WARN");
  assert.doesNotMatch(warn.stderr, /"level":30/, "nothing at info");
  assert.match(warn.stderr, /"level":40,.*"msg":"cannot reach the control plane"/);
  assert.equal(run("error").stderr, "", "nothing below error");
});
