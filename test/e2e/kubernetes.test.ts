// The Kubernetes provider through the real control plane (fake Kubernetes API server, pods run on
// Docker by a stand-in kubelet; see kubernetes-support.ts): a job naming an image runs in a pod of
// that image and its logs come back; an evicted pod fails its job with the pod's reason; an
// unpullable image (todo). What every provider does (idle deletion, provisioning timeout, cancel
// while starting, crash reaping) is the contract's: contract-kubernetes.test.ts.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { JobExecutionService, providers, unary } from "@hodei/api";
import { dockerEngine, ensureTestImages, IMAGE_A, IMAGE_B, instanceIdFor } from "./docker-support.js";
import {
  AGENT_IMAGE,
  buildAgentImage,
  ServiceForwarder,
  startFakeCluster,
  type DockerKubelet,
  type FakeKubeApi,
  type FakePod,
} from "./kubernetes-support.js";
import { jobStatus, logLines, queueJob, waitForJobEnd, waitForJobRunning } from "./support/jobs.js";
import { startPlatform, stopCleanly, type Platform } from "./support/platform.js";
import { waitFor } from "./support/wait.js";

const skip = await dockerEngine();

describe(
  "kubernetes provider through the control plane (fake Kubernetes API server, pods on Docker)",
  { skip },
  () => {
    let api: FakeKubeApi;
    let kubelet: DockerKubelet;
    let service: ServiceForwarder;
    const scratch = mkdtempSync(join(tmpdir(), "hodei-e2e-k8s-"));
    const cleanups: (() => Promise<unknown>)[] = [];

    before(async () => {
      await ensureTestImages();
      const buildMs = await buildAgentImage(scratch);
      console.log(`# agent image ${AGENT_IMAGE} built in ${buildMs} ms`);
      ({ api, kubelet } = await startFakeCluster());
      service = await ServiceForwarder.start();
    });

    after(async () => {
      for (const c of cleanups.reverse()) await c();
      await kubelet?.stop();
      await api?.close();
      await service?.close();
      rmSync(scratch, { recursive: true, force: true });
    });

    /** A control plane whose only provider is Kubernetes; the Service forwards to its gRPC port. */
    async function platform(): Promise<Platform> {
      const p = await startPlatform({
        env: {
          HODEI_LOCAL_ENABLED: "0",
          HODEI_K8S_ENABLED: "1",
          HODEI_K8S_KUBECONFIG: api.kubeconfigPath,
          HODEI_K8S_SERVER_ADDRESS: service.address,
          HODEI_K8S_AGENT_IMAGE: AGENT_IMAGE,
          HODEI_K8S_DEFAULT_IMAGE: IMAGE_A,
          HODEI_K8S_IMAGE_PULL_POLICY: "Never",
        },
      });
      service.target = p.grpcAddress;
      return p;
    }

    function podsOf(instanceId: string): FakePod[] {
      return [...api.pods.values()].filter((p) => p.metadata.labels?.["hodei.dev/instance"] === instanceId);
    }

    test("a job naming an image runs in a pod of that image and its logs come back", async () => {
      const p = await platform();
      cleanups.push(() => stopCleanly(p));
      const instanceId = instanceIdFor(p.dataDir);
      const started = Date.now();
      const id = await queueJob(p.client, {
        name: "in-b",
        command: "grep ^ID= /etc/os-release; echo from-a-pod",
        image: IMAGE_B,
      });
      const end = await waitForJobEnd(p.client, id, 60_000);
      console.log(`# queued → SUCCEEDED through a pod in ${Date.now() - started} ms`);
      assert.equal(end.statusName, "SUCCEEDED", end.message);
      const lines = await logLines(p.client, id);
      assert.ok(lines.includes("ID=hodei-test-b"), `ran in its image: ${lines.join(" | ")}`);
      assert.ok(lines.includes("from-a-pod"));
      const { providers: list } = await unary(
        p.client,
        providers.ProviderManagementService.method.listProviders,
        {},
      );
      const k8s = list.find((x) => x.name === "kubernetes");
      assert.equal(k8s?.type, "kubernetes");
      assert.equal(k8s?.healthy, true, k8s?.health);
      assert.match(
        k8s?.health ?? "",
        /^Kubernetes v1\.31\.0-fake at https:\/\/127\.0\.0\.1:\d+, namespace default/,
      );
      const posted = api.posted.filter((x) => x.body.metadata.labels?.["hodei.dev/instance"] === instanceId);
      assert.equal(posted.length, 1, "one pod for one job");
      assert.equal(posted[0]!.body.spec.containers[0].image, IMAGE_B);
      assert.equal(end.workerId, posted[0]!.body.metadata.annotations?.["hodei.dev/worker-id"]);
    });

    test("an evicted pod fails its running job with the pod's reason", async () => {
      const p = await platform();
      cleanups.push(() => stopCleanly(p));
      const instanceId = instanceIdFor(p.dataDir);
      const id = await queueJob(p.client, { name: "evicted", command: "sleep 60", image: IMAGE_A });
      await waitForJobRunning(p.client, id, 60_000);
      const [pod] = podsOf(instanceId);
      assert.ok(pod);
      // What the kubelet reports when it evicts a pod under node memory pressure.
      api.setStatus(pod.metadata.name, {
        phase: "Failed",
        reason: "Evicted",
        message: "The node was low on resource: memory.",
      });
      const end = await waitForJobEnd(p.client, id, 20_000);
      assert.equal(end.statusName, "FAILED");
      assert.match(end.message, /pod failed: Evicted: The node was low on resource: memory\./);
      await waitFor(() => podsOf(instanceId).length === 0, {
        timeoutMs: 15_000,
        what: "the failed pod deleted",
      });
    });

    test("a job whose image the cluster cannot pull is told the pull error, and pods are not created over and over", async () => {
      const p = await platform();
      cleanups.push(() => stopCleanly(p));
      const instanceId = instanceIdFor(p.dataDir);
      const posted = () =>
        api.posted.filter((x) => x.body.metadata.labels?.["hodei.dev/instance"] === instanceId).length;
      const queuedAt = Date.now();
      const id = await queueJob(p.client, {
        name: "no-image",
        command: "true",
        image: "hodei-test/not-here:1",
      });
      cleanups.push(() =>
        unary(p.client, JobExecutionService.method.cancelJob, {
          jobId: { value: id },
          reason: "e2e",
        }).catch(() => undefined),
      );
      const told = await waitFor(
        async () => {
          const s = await jobStatus(p.client, id);
          return /image pull failed for image hodei-test\/not-here:1: ErrImagePull/.test(s.message)
            ? s
            : undefined;
        },
        { timeoutMs: 10_000, intervalMs: 200, what: "the pull error in the job's message" },
      );
      assert.notEqual(told.statusName, "SUCCEEDED");
      const pods = posted();
      console.log(
        `# the pull error in the job's message ${Date.now() - queuedAt} ms after queueing, ${pods} pod(s)`,
      );
      assert.ok(pods <= 3, `${pods} pods created for one unpullable image`);
      // Each failed start doubles the wait before the next (≥ 0.5 s, 1 s, 2 s, ...): over the next
      // WATCH_MS a few more pods at most, where starting again at once made one every ~0.7 s.
      const WATCH_MS = 5_000;
      const watchedFrom = Date.now();
      while (Date.now() - watchedFrom < WATCH_MS) {
        assert.ok(posted() - pods <= 3, `${posted() - pods} more pods within ${Date.now() - watchedFrom} ms`);
        await delay(100);
      }
      const s = await jobStatus(p.client, id);
      console.log(
        `# ${posted()} pod(s) ${Date.now() - queuedAt} ms after queueing; the job: ${s.statusName} ${s.message}`,
      );
      assert.equal(s.statusName, "PENDING");
      assert.match(
        s.message,
        /the last one failed to start: image pull failed for image hodei-test\/not-here:1/,
      );
    });
  },
);
