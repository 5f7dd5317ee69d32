import { test } from "node:test";
import assert from "node:assert/strict";
import { unmetRequirement, type Capabilities } from "../src/index.js";

const local: Capabilities = {
  provider: "local",
  cpuCores: 2,
  memoryBytes: 8 * 2 ** 30,
  gpuCount: 0,
  gpuTypes: [],
  architecture: "x86_64",
  labels: { zone: "lab" },
};

function job(
  over: Partial<{ cpu: number; mem: number; gpu: number; gpuTypes: string[]; arch: string }> = {},
  labels = {},
  provider = "",
) {
  return {
    requirements: {
      cpuCores: over.cpu ?? 0,
      memoryBytes: over.mem ?? 0,
      diskBytes: 0,
      gpuCount: over.gpu ?? 0,
      gpuTypes: over.gpuTypes ?? [],
      architecture: over.arch ?? "",
    },
    requiredLabels: labels,
    preferredProvider: provider,
  };
}

test("a job within what the provider offers can run there", () => {
  assert.equal(unmetRequirement(job(), local), null);
  assert.equal(
    unmetRequirement(job({ cpu: 2, mem: 2 ** 30, arch: "amd64" }, { zone: "lab" }, "local"), local),
    null,
  );
});

test("each requirement no worker can meet is named", () => {
  assert.match(unmetRequirement(job({ cpu: 64 }), local) ?? "", /^requirements\.cpu_cores: 64 asked/);
  assert.match(
    unmetRequirement(job({ mem: 64 * 2 ** 30 }), local) ?? "",
    /^requirements\.memory_bytes: 64\.0 GiB asked/,
  );
  assert.match(
    unmetRequirement(job({ gpu: 1 }), local) ?? "",
    /^requirements\.gpu_count: 1 asked, the local provider offers 0/,
  );
  assert.match(unmetRequirement(job({ gpuTypes: ["a100"] }), local) ?? "", /^requirements\.gpu_types: a100/);
  assert.match(
    unmetRequirement(job({ arch: "arm64" }), local) ?? "",
    /^requirements\.architecture: arm64 asked/,
  );
  assert.match(
    unmetRequirement(job({}, { zone: "eu" }), local) ?? "",
    /^scheduling\.required_labels: zone=eu/,
  );
  assert.match(
    unmetRequirement(job({}, {}, "kubernetes"), local) ?? "",
    /^scheduling\.preferred_provider: kubernetes/,
  );
});
