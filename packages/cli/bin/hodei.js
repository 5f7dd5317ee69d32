#!/usr/bin/env node
// The client commands run from one bundled file (`npm run build`, scripts/bundle-cli.mjs), which
// loads in about two thirds of the time of the module tree. `hodei server` and `hodei worker` run
// from the module tree: their packages share its modules instead of loading a second copy of them.
// Either way the same code runs.
import { existsSync } from "node:fs";

const bundle = new URL("../dist/hodei.mjs", import.meta.url);
const longRunning = process.argv.slice(2).some((a) => a === "server" || a === "worker");
await import(!longRunning && existsSync(bundle) ? bundle.href : "../dist/src/main.js");
