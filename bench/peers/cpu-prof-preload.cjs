// Node 20 refuses --cpu-prof in NODE_OPTIONS, and a whole-life profile would mix start-up and
// every workload; so the bench's --cpu-prof preloads this (NODE_OPTIONS=--require <this file>)
// into our server and its workers instead. SIGUSR2 starts the V8 profiler, the next SIGUSR2 writes
// $HODEI_BENCH_CPU_PROF_DIR/<label>-<process>-<pid>.cpuprofile, the label read from the file
// `label` in that directory (the bench writes it before signalling).
/* eslint-disable @typescript-eslint/no-require-imports, no-undef -- a CommonJS preload: NODE_OPTIONS --require loads CJS into both the ESM server and the CJS worker bundle */
"use strict";
const { mkdirSync, readFileSync, writeFileSync } = require("node:fs");
const { Session } = require("node:inspector");
const { basename, join } = require("node:path");

const dir = process.env.HODEI_BENCH_CPU_PROF_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post("Profiler.enable");
  let running = false;
  process.on("SIGUSR2", () => {
    if (!running) {
      running = true;
      session.post("Profiler.start");
      return;
    }
    running = false;
    session.post("Profiler.stop", (err, res) => {
      if (err) return;
      let label = "profile";
      try {
        label = readFileSync(join(dir, "label"), "utf8").trim();
      } catch {
        // unlabelled
      }
      const name = basename(process.argv[1] ?? "node").replace(/\W+/g, "_");
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `${label}-${name}-${process.pid}.cpuprofile`), JSON.stringify(res.profile));
    });
  });
}
