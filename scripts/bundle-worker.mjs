// Bundles the worker agent into one file: a provisioned worker then loads one script instead of
// hundreds of modules, which is most of its start-up time. Also bundles the small loader that runs
// it through a V8 code cache (packages/worker/src/code-cache-main.ts).
import { build } from "esbuild";
import { fileURLToPath } from "node:url";
import { keepAscii, withoutProtoLoader } from "./bundle-common.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const common = {
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  logLevel: "warning",
  legalComments: "none",
  charset: "ascii",
  // Modules that find files through import.meta.url fall back to __dirname in this CommonJS bundle.
  define: { "import.meta.url": "undefined" },
  plugins: [withoutProtoLoader()],
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
