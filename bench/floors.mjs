// The bare floors every job platform here sits on: how fast this machine can run `/bin/bash -c true`.
//   nodeSpawnFloor({ inFlight })  one Node process spawning, 1 or 8 in flight
//   xargsFloor()                  the machine's own: seq N | xargs -P 8 -I{} /bin/bash -c true
//   nodeStartFloor()              `node -e 0` start to exit, p50: what a local worker's cold start
//                                 can never beat (a worker is a node process)
// Run directly (`node bench/floors.mjs`) to print them.
import { spawn } from "node:child_process";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";

function spawnTrue() {
  return new Promise((resolve, reject) => {
    const child = spawn("/bin/bash", ["-c", "true"], { stdio: "ignore" });
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`bash -c true exited ${code}`))));
  });
}

/** Spawns `/bin/bash -c true` `n` times from this process with `inFlight` at once → spawns/s. */
export async function nodeSpawnFloor({ n = 1000, inFlight = 1 } = {}) {
  for (let i = 0; i < 20; i++) await spawnTrue(); // warm-up
  let next = 0;
  const started = performance.now();
  const lane = async () => {
    while (next < n) {
      next += 1;
      await spawnTrue();
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  const ms = performance.now() - started;
  return { name: `node spawn, ${inFlight} in flight`, n, inFlight, ms, perSec: (n * 1000) / ms };
}

/** `seq n | xargs -P parallel -I{} /bin/bash -c true` → spawns/s (the machine's floor). */
export async function xargsFloor({ n = 2000, parallel = 8 } = {}) {
  const run = (count) =>
    new Promise((resolve, reject) => {
      const started = performance.now();
      const child = spawn("/bin/bash", ["-c", `seq ${count} | xargs -P ${parallel} -I{} /bin/bash -c true`], {
        stdio: "ignore",
      });
      child.once("error", reject);
      child.once("exit", (code) =>
        code === 0 ? resolve(performance.now() - started) : reject(new Error(`xargs exited ${code}`)),
      );
    });
  await run(50); // warm-up
  const ms = await run(n);
  return { name: `xargs -P ${parallel}`, n, inFlight: parallel, ms, perSec: (n * 1000) / ms };
}

/**
 * `node -e 0`, spawned one at a time `n` times → its p50 start-to-exit in ms. In the environment a
 * local agent starts in: without NODE_EXTRA_CA_CERTS, which the local provider keeps from the
 * agent's own start (@hodei/core's agent-env.ts) and which costs every node start its parsing.
 */
export async function nodeStartFloor({ n = 20 } = {}) {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const once = () =>
    new Promise((resolve, reject) => {
      const started = performance.now();
      const child = spawn(process.execPath, ["-e", "0"], { stdio: "ignore", env });
      child.once("error", reject);
      child.once("exit", (code) =>
        code === 0 ? resolve(performance.now() - started) : reject(new Error(`node -e 0 exited ${code}`)),
      );
    });
  await once(); // warm-up (page cache)
  const times = [];
  for (let i = 0; i < n; i++) times.push(await once());
  times.sort((a, b) => a - b);
  const p50Ms = times[Math.floor((n - 1) / 2)];
  return { n, p50Ms };
}

/** The spawn floors, one after the other (platform.mjs measures nodeStartFloor beside cold starts). */
export async function runFloors({ n = 1000, xargsN = 2000 } = {}) {
  return {
    node1: await nodeSpawnFloor({ n, inFlight: 1 }),
    node8: await nodeSpawnFloor({ n, inFlight: 8 }),
    xargs8: await xargsFloor({ n: xargsN, parallel: 8 }),
  };
}

export function formatFloors(floors) {
  return Object.values(floors).map(
    (f) =>
      `${f.name.padEnd(28)} ${f.perSec.toFixed(0).padStart(6)} spawns/s  (${f.n} in ${f.ms.toFixed(0)} ms)`,
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  console.log(formatFloors(await runFloors()).join("\n"));
}
