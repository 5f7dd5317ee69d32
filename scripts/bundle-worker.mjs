// Bundles the worker agent into one file: a provisioned worker then loads one script instead of
// hundreds of modules, which is most of its start-up time. Also bundles the small loader that runs
// it through a V8 code cache (packages/worker/src/code-cache-main.ts).
import { build } from "esbuild";
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

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
/**
 * grpc-js requires @grpc/proto-loader (and with it protobufjs) only to serve channelz and ORCA, two
 * services a worker never serves; they were a third of the bundle, read and scanned at every start.
 * In the bundle the package is a stub that says so if it is ever reached.
 */
function withoutProtoLoader() {
  return {
    name: "without-proto-loader",
    setup(b) {
      b.onResolve({ filter: /^@grpc\/proto-loader$/ }, () => ({ path: "proto-loader", namespace: "stub" }));
      b.onLoad({ filter: /.*/, namespace: "stub" }, () => ({
        contents:
          'throw new Error("@grpc/proto-loader is not in the worker bundle: the worker serves neither channelz nor ORCA");',
        loader: "js",
      }));
    },
  };
}

const outputs = {
  "hodei-worker.cjs": "main.js",
  "hodei-worker-cached.cjs": "code-cache-main.js",
};
for (const [out, entry] of Object.entries(outputs)) {
  const outfile = `${root}packages/worker/dist/${out}`;
  await build({ ...common, entryPoints: [`${root}packages/worker/dist/src/${entry}`], outfile });
  // esbuild escapes strings and names (charset ascii) but copies comments as they are, and one
  // character past ASCII makes node hold the whole source as a two-byte string, slower to read and
  // to compile: what is left, in comments, is written as \u{...}.
  const text = readFileSync(outfile, "utf8");
  const ascii = text.replace(/[^\p{ASCII}]/gu, (c) => `\\u{${c.codePointAt(0).toString(16)}}`);
  if (ascii !== text) writeFileSync(outfile, ascii);
}
