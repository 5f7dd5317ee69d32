// Bundles the worker agent into one file: a provisioned worker then loads one script instead of
// hundreds of modules, which is most of its start-up time. Also bundles the small loader that runs
// it through a V8 code cache (packages/worker/src/code-cache-main.ts).
import { build } from "esbuild";
import { fileURLToPath } from "node:url";
import { fastIpChecks, keepAscii, withoutProtoLoader } from "./bundle-common.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const common = {
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  logLevel: "warning",
  legalComments: "none",
  charset: "ascii",
  // Read and scanned at every cold start: minified, 0.83 → 0.40 MB and spawn to the agent's first
  // connection about 6 ms sooner (bench/README.md). Names too: keeping them (esbuild's keepNames)
  // cost as much as the rest saved, and nothing in the agent or its packages goes by a function's name.
  minify: true,
  // Modules that find files through import.meta.url fall back to __dirname in this CommonJS bundle.
  define: { "import.meta.url": "undefined" },
  plugins: [withoutProtoLoader(), fastIpChecks()],
};
const outputs = {
  "hodei-worker.cjs": "main.js",
  "hodei-worker-cached.cjs": "code-cache-main.js",
};
for (const [out, entry] of Object.entries(outputs)) {
  const outfile = `${root}packages/worker/dist/${out}`;
  await build({ ...common, entryPoints: [`${root}packages/worker/dist/src/${entry}`], outfile });
  keepAscii(outfile);
}
