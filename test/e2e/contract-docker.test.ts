// The provider contract (support/provider-contract.ts) against the Docker provider, real Docker
// Engine: workers are containers labelled with their control plane's instance; a worker that never
// registers runs an image whose agent blocks before registering.
import assert from "node:assert/strict";
import { LABEL_INSTANCE } from "@hodei/providers";
import {
  assertDockerProvider,
  containersOf,
  docker,
  dockerEngine,
  ensureTestImages,
  IMAGE_A,
  IMAGE_NEVER_REGISTERS,
  instanceIdFor,
} from "./docker-support.js";
import { runProviderContract } from "./support/provider-contract.js";

const skip = await dockerEngine();

runProviderContract(
  "docker",
  async () => {
    await ensureTestImages();
    const neverRegisters = { image: IMAGE_NEVER_REGISTERS };
    return {
      env: { HODEI_DOCKER_ENABLED: "1", HODEI_LOCAL_ENABLED: "0" },
      job: { image: IMAGE_A },
      startMs: 30_000,
      slowStartingJob: neverRegisters,
      neverRegisters: { provisioningTimeoutMs: 1_500, job: neverRegisters },
      whereItRan: {
        command: "grep ^ID= /etc/os-release",
        check: (lines) =>
          assert.ok(lines.includes("ID=hodei-test-a"), `ran in ${IMAGE_A}: ${lines.join(" | ")}`),
      },
      started: (p) => assertDockerProvider(p.httpUrl),
      workers: async (dataDir) => (await containersOf(instanceIdFor(dataDir))).map((c) => c.Id),
      remove: (id) => docker.getContainer(id).remove({ force: true }),
      async foreign() {
        const c = await docker.createContainer({
          Image: IMAGE_A,
          Cmd: ["sleep", "600"],
          Labels: { [LABEL_INSTANCE]: "another-control-plane" },
        });
        await c.start();
        return {
          intact: async () => (await c.inspect()).State.Running,
          remove: () => c.remove({ force: true }),
        };
      },
    };
  },
  { skip },
);
