// The README's configuration tables are the documentation users read: every variable the control
// plane and its providers read must be in them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { DOCKER_ENV, KUBERNETES_ENV, MICROVM_ENV } from "@hodei/providers";
import { SERVER_ENV } from "../src/index.js";

const readme = readFileSync(fileURLToPath(new URL("../../../../README.md", import.meta.url)), "utf8");

for (const [table, env] of [
  ["control plane", SERVER_ENV],
  ["docker", DOCKER_ENV],
  ["microvm", MICROVM_ENV],
  ["kubernetes", KUBERNETES_ENV],
] as const) {
  test(`the README documents every ${table} variable`, () => {
    const missing = env.map(([name]) => name).filter((name) => !readme.includes(`| \`${name}\``));
    assert.deepEqual(missing, [], `README rows missing for: ${missing.join(", ")}`);
  });
}
