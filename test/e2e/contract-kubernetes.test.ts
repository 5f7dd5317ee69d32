// The provider contract (support/provider-contract.ts) against the Kubernetes provider on a fake
// Kubernetes API server: pods run on the real Docker Engine by a stand-in kubelet, a forwarder plays
// the Service in front of whichever control plane runs (kubernetes-support.ts). Workers are pods
// labelled with their control plane's instance.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  dockerEngine,
  ensureTestImages,
  IMAGE_A,
  IMAGE_NEVER_REGISTERS,
  instanceIdFor,
} from "./docker-support.js";
import { AGENT_IMAGE, buildAgentImage, ServiceForwarder, startFakeCluster } from "./kubernetes-support.js";
import { runProviderContract } from "./support/provider-contract.js";
import { waitFor } from "./support/wait.js";

const skip = await dockerEngine();

runProviderContract(
  "kubernetes",
  async () => {
    await ensureTestImages();
    const scratch = mkdtempSync(join(tmpdir(), "hodei-contract-k8s-"));
    await buildAgentImage(scratch);
    const { api, kubelet } = await startFakeCluster();
    const service = await ServiceForwarder.start();
    const neverRegisters = { image: IMAGE_NEVER_REGISTERS };
    const podsOf = (instanceId: string) =>
      [...api.pods.values()].filter((p) => p.metadata.labels?.["hodei.dev/instance"] === instanceId);
    return {
      env: {
        HODEI_LOCAL_ENABLED: "0",
        HODEI_K8S_ENABLED: "1",
        HODEI_K8S_KUBECONFIG: api.kubeconfigPath,
        HODEI_K8S_SERVER_ADDRESS: service.address,
        HODEI_K8S_AGENT_IMAGE: AGENT_IMAGE,
        HODEI_K8S_DEFAULT_IMAGE: IMAGE_A,
        HODEI_K8S_IMAGE_PULL_POLICY: "Never",
      },
      job: { image: IMAGE_A },
      startMs: 60_000,
      slowStartingJob: neverRegisters,
      neverRegisters: { provisioningTimeoutMs: 2_000, job: neverRegisters },
      whereItRan: {
        command: "grep ^ID= /etc/os-release",
        check: (lines) =>
          assert.ok(lines.includes("ID=hodei-test-a"), `ran in ${IMAGE_A}: ${lines.join(" | ")}`),
      },
      async started(p) {
        service.target = p.grpcAddress;
      },
      workers: async (dataDir) => podsOf(instanceIdFor(dataDir)).map((p) => p.metadata.name),
      async remove(name) {
        api.pods.delete(`default/${name}`);
      },
      async foreign() {
        const name = "hodei-worker-foreign";
        api.addPod({
          metadata: {
            name,
            labels: {
              "app.kubernetes.io/managed-by": "hodei",
              "hodei.dev/instance": "another-control-plane",
              "hodei.dev/provider": "kubernetes",
            },
          },
        });
        return {
          intact: async () => api.pods.has(`default/${name}`),
          remove: async () => api.pods.delete(`default/${name}`),
        };
      },
      async close() {
        // Everything is stopped whatever is found wrong: a server left listening would hold the
        // test file open until its timeout.
        const errors = [...kubelet.errors];
        try {
          await kubelet.stop();
          await waitFor(async () => (await kubelet.leftovers()) === 0, {
            timeoutMs: 15_000,
            what: "the stand-in kubelet's containers to be removed",
          });
        } finally {
          await api.close();
          await service.close();
          rmSync(scratch, { recursive: true, force: true });
        }
        assert.deepEqual(errors, [], "the stand-in kubelet ran every pod");
      },
    };
  },
  { skip, describeAs: "kubernetes (fake Kubernetes API server, pods on Docker)" },
);
