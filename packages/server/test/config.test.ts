import { test } from "node:test";
import assert from "node:assert/strict";
import { loadServerConfig } from "../src/config.js";

test("LOG_LEVEL: info by default, debug in dev mode, any of pino's levels in any case, an error naming it otherwise", () => {
  assert.equal(loadServerConfig({}).logLevel, "info");
  assert.equal(loadServerConfig({ HODEI_DEV_MODE: "1" }).logLevel, "debug");
  assert.equal(loadServerConfig({ LOG_LEVEL: "Warn" }).logLevel, "warn");
  assert.equal(loadServerConfig({ LOG_LEVEL: "silent", HODEI_DEV_MODE: "1" }).logLevel, "silent");
  assert.throws(
    () => loadServerConfig({ LOG_LEVEL: "verbose" }),
    /LOG_LEVEL must be one of trace, .*, got "verbose"/,
  );
});

test("HODEI_WORKER_CODE_CACHE_DIR: <data dir>/cache by default, as given, off for none", () => {
  const byDefault = loadServerConfig({ HODEI_DATA_DIR: "/srv/hodei" }).workerCodeCache;
  assert.equal(byDefault?.dir, "/srv/hodei/cache");
  assert.match(byDefault?.loaderPath ?? "", /\/worker\/dist\/hodei-worker-cached\.cjs$/);
  assert.equal(
    loadServerConfig({ HODEI_WORKER_CODE_CACHE_DIR: "/var/cache/hodei" }).workerCodeCache?.dir,
    "/var/cache/hodei",
  );
  assert.equal(loadServerConfig({ HODEI_WORKER_CODE_CACHE_DIR: "off" }).workerCodeCache, null);
});
