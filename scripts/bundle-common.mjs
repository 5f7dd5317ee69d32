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
 * esbuild escapes strings and names (charset ascii) but copies comments as they are, and one
 * character past ASCII makes node hold the whole source as a two-byte string, slower to read and to
 * compile: what is left, in comments, is written as \u{...}.
 */
export function keepAscii(file) {
  const text = readFileSync(file, "utf8");
  const ascii = text.replace(/[^\p{ASCII}]/gu, (c) => `\\u{${c.codePointAt(0).toString(16)}}`);
  if (ascii !== text) writeFileSync(file, ascii);
}
