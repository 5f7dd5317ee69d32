// Builds the Kubernetes provider's agent image into the local Docker engine, from this tree's
// worker bundle and this machine's node and bash (run `npm run build` first):
//
//   node packages/providers/dist/src/kubernetes/build-agent-image-main.js registry.example/hodei/worker-agent:0.1.0
//   docker push registry.example/hodei/worker-agent:0.1.0
//
// then set HODEI_K8S_AGENT_IMAGE to that name. The cluster's nodes must have this machine's CPU
// architecture. An entry point: it does its work when run, and is imported by nothing.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Docker from "dockerode";
import { buildKubernetesAgentImage } from "./agent-image.js";

const repoTag = process.argv[2];
if (!repoTag || process.argv.length > 3) {
  console.error("usage: build-agent-image-main.js <repository:tag>");
  process.exit(2);
}
const workerBundlePath = fileURLToPath(new URL("../../../../worker/dist/hodei-worker.cjs", import.meta.url));
const dataDir = await mkdtemp(join(tmpdir(), "hodei-agent-image-"));
try {
  const { buildMs } = await buildKubernetesAgentImage(new Docker(), repoTag, { dataDir, workerBundlePath });
  console.log(`${repoTag}: built in ${buildMs} ms from ${workerBundlePath}`);
} catch (e) {
  console.error(`${repoTag}: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
} finally {
  await rm(dataDir, { recursive: true, force: true });
}
