// Where the time goes in .cpuprofile files (node --cpu-prof): self time by function and by module
// (a package under node_modules, a workspace package, node's own internals).
// `node bench/peers/cpu-profile-top.mjs <dir-or-file>… [--top=15]`
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

function moduleOf(url) {
  if (!url) return "(native/gc/idle)";
  if (url.startsWith("node:")) return "node internals";
  const nm = url.lastIndexOf("node_modules/");
  if (nm !== -1) {
    const parts = url.slice(nm + 13).split("/");
    return parts[0].startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0];
  }
  const pkg = /packages\/([^/]+)\//.exec(url);
  return pkg ? `@hodei/${pkg[1]}` : url.replace(/^file:\/\//, "");
}

/** { totalMs, byFunction: [[name, ms]], byModule: [[name, ms]] } of one profile. */
export function summarize(profile) {
  const selfUs = new Map();
  const dt = profile.timeDeltas;
  // From the second sample: the first one's delta is the wait between Profiler.start and the first
  // tick (the signal's delivery), charged to the inspector's `dispatch`, not work.
  for (let i = 1; i < profile.samples.length; i++) {
    selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + (dt[i] ?? 0));
  }
  const byFunction = new Map();
  const byModule = new Map();
  for (const node of profile.nodes) {
    const us = selfUs.get(node.id) ?? 0;
    if (!us) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url.split("/").slice(-2).join("/");
    const fn = `${functionName || "(anonymous)"} ${file ? `${file}:${lineNumber + 1}` : ""}`.trim();
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us / 1000);
    const mod = functionName === "(idle)" ? "(idle)" : moduleOf(url);
    byModule.set(mod, (byModule.get(mod) ?? 0) + us / 1000);
  }
  const sorted = (m) => [...m].sort((a, b) => b[1] - a[1]);
  const totalMs = (profile.endTime - profile.startTime) / 1000;
  return { totalMs, byFunction: sorted(byFunction), byModule: sorted(byModule) };
}

function files(paths) {
  return paths.flatMap((p) =>
    statSync(p).isDirectory()
      ? readdirSync(p)
          .filter((f) => f.endsWith(".cpuprofile"))
          .map((f) => join(p, f))
      : [p],
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const top = Number(process.argv.find((a) => a.startsWith("--top="))?.slice(6) ?? 15);
  for (const file of files(process.argv.slice(2).filter((a) => !a.startsWith("--")))) {
    const s = summarize(JSON.parse(readFileSync(file, "utf8")));
    const busy = s.byModule.filter(([m]) => m !== "(idle)").reduce((a, [, ms]) => a + ms, 0);
    console.log(`\n${file}: ${s.totalMs.toFixed(0)} ms profiled, ${busy.toFixed(0)} ms on CPU`);
    console.log("  by module:");
    for (const [m, ms] of s.byModule.slice(0, 10)) console.log(`    ${ms.toFixed(0).padStart(7)} ms  ${m}`);
    console.log("  by function (self):");
    for (const [f, ms] of s.byFunction.filter(([f]) => !f.startsWith("(idle)")).slice(0, top))
      console.log(`    ${ms.toFixed(0).padStart(7)} ms  ${f}`);
  }
}
