// Bundles the worker agent into one file: a provisioned worker then loads one script instead of
// hundreds of modules, which is most of its start-up time.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
await build({
  entryPoints: [`${root}packages/worker/dist/src/main.js`],
  outfile: `${root}packages/worker/dist/hodei-worker.cjs`,
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  logLevel: "warning",
  legalComments: "none",
  // Modules that find files through import.meta.url fall back to __dirname in this CommonJS bundle.
  define: { "import.meta.url": "undefined" },
});
