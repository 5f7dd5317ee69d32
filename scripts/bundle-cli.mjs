// Bundles the CLI's client commands into one file (packages/cli/dist/hodei.mjs): `hodei job list`
// and the like then load one script instead of a few hundred modules, about a third of their start.
// The server, the worker and the providers stay outside it: `hodei server`, `hodei worker` and
// `hodei microvm` import their packages when they run (packages/cli/bin/hodei.js picks the module
// tree for the first two, so that a server does not load the CLI's client code twice).
import { build } from "esbuild";
import { fileURLToPath } from "node:url";
import { fastIpChecks, keepAscii, withoutProtoLoader } from "./bundle-common.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const outfile = `${root}packages/cli/dist/hodei.mjs`;
await build({
  entryPoints: [`${root}packages/cli/dist/src/main.js`],
  outfile,
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  logLevel: "warning",
  legalComments: "none",
  charset: "ascii",
  external: ["@hodei/server", "@hodei/worker", "@hodei/providers"],
  // The CommonJS packages bundled here (grpc-js, pino, commander) call require for node's own modules.
  banner: {
    js: 'import { createRequire as __hodeiRequire } from "node:module";\nconst require = __hodeiRequire(import.meta.url);',
  },
  plugins: [withoutProtoLoader(), fastIpChecks()],
});
keepAscii(outfile);
