// What the worker's and the CLI's bundles share (scripts/bundle-worker.mjs, scripts/bundle-cli.mjs).
import { readFileSync, writeFileSync } from "node:fs";

/**
 * grpc-js requires @grpc/proto-loader (and with it protobufjs) only to serve channelz and ORCA, two
 * services neither a worker nor the CLI serves; they were a third of the bundle, read and scanned at
 * every start. In a bundle the package is a stub that says so if it is ever reached.
 */
export function withoutProtoLoader() {
  return {
    name: "without-proto-loader",
    setup(b) {
      b.onResolve({ filter: /^@grpc\/proto-loader$/ }, () => ({ path: "proto-loader", namespace: "stub" }));
      b.onLoad({ filter: /.*/, namespace: "stub" }, () => ({
        contents:
          'throw new Error("@grpc/proto-loader is not bundled: channelz and ORCA are not served from here");',
        loader: "js",
      }));
    },
  };
}

/**
 * Node's `net.isIPv6` matches a long regular expression, and its first use compiles it: 8-10 ms here,
 * which grpc-js spends on a client's first connection (it formats and sorts every address it
 * resolves), even for 127.0.0.1 or a host name. No IPv6 address lacks a ':', so in a bundle grpc-js
 * gets a `net` whose `isIPv6` (and `isIP`, which asks it after `isIPv4`) answers such strings at once
 * and asks node's for the rest: the same answers, without the compile on a worker's cold start.
 */
export function fastIpChecks() {
  return {
    name: "fast-ip-checks",
    setup(b) {
      b.onResolve({ filter: /^(node:)?net$/ }, (args) =>
        /[\\/]@grpc[\\/]grpc-js[\\/]/.test(args.importer)
          ? { path: "net", namespace: "fast-ip-checks" }
          : undefined,
      );
      b.onLoad({ filter: /.*/, namespace: "fast-ip-checks" }, () => ({
        contents: `const net = require("node:net");
const isIPv6 = (s) => (typeof s !== "string" || s.includes(":")) && net.isIPv6(s);
module.exports = Object.assign(Object.create(net), {
  isIPv6,
  isIP: (s) => (net.isIPv4(s) ? 4 : isIPv6(s) ? 6 : 0),
});`,
        loader: "js",
      }));
    },
  };
}

/**
 * esbuild escapes strings and names (charset ascii) but copies comments as they are, and one
 * character past ASCII makes node hold the whole source as a two-byte string, slower to read and to
 * compile: what is left, in comments, is written as \u{...}.
 */
export function keepAscii(file) {
  const text = readFileSync(file, "utf8");
  const ascii = text.replace(/[^\p{ASCII}]/gu, (c) => `\\u{${c.codePointAt(0).toString(16)}}`);
  if (ascii !== text) writeFileSync(file, ascii);
}
