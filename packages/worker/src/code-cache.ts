import { mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import Module from "node:module";
import { dirname } from "node:path";
import { Script } from "node:vm";
import { tuneHeapForStreaming } from "./heap-tuning.js";

/**
 * The variable through which a provider names the code cache file of the worker bundle (see
 * `runBundleWithCodeCache`); the loader removes it before the worker runs, so jobs never see it.
 */
export const CODE_CACHE_VARIABLE = "HODEI_WORKER_CODE_CACHE";

/** What became of the cache: used, refused by V8 (another node, other flags, damaged), or none yet. */
export type CodeCacheOutcome = "accepted" | "rejected" | "absent";

/** Module's internals the loader needs to run a script as node runs its main module. */
interface ModuleInternals {
  // Undocumented but stable since Node 0.x.
  _nodeModulePaths(from: string): string[];
}

function readCache(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

/** Writes the cache beside its final name, then renames it: a reader never sees half a file. */
function writeCache(path: string, data: Buffer): void {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch {
    // A cache is an optimisation: a read-only or full disk only costs the next worker its compile.
    try {
      unlinkSync(tmp);
    } catch {
      // nothing was written
    }
  }
}

/**
 * Runs the CommonJS bundle `bundlePath` as node would run it as the main script, compiled with the
 * V8 code cache at `cachePath` when there is one that V8 accepts. Without one, the cache is written
 * when this process exits: by then it holds the code of everything the worker ran (its connection,
 * registration and first job), not only of what runs while the bundle loads, which is what a local
 * worker's cold start spends its time compiling.
 *
 * V8 checks a cache against its own version, its flags and the source's length, not the source's
 * content: whoever names the file must key it to the bundle's content (the local provider does).
 */
export function runBundleWithCodeCache(bundlePath: string, cachePath: string | undefined): CodeCacheOutcome {
  // Before compiling: the worker sets this flag anyway, and the flags must match when the cache is
  // made (at exit) and when it is read (now).
  tuneHeapForStreaming();
  const cachedData = cachePath ? readCache(cachePath) : undefined;
  const script = new Script(Module.wrap(readFileSync(bundlePath, "utf8")), {
    filename: bundlePath,
    ...(cachedData ? { cachedData } : {}),
  });
  const outcome: CodeCacheOutcome = !cachedData
    ? "absent"
    : script.cachedDataRejected
      ? "rejected"
      : "accepted";
  if (cachePath && outcome !== "accepted")
    process.once("exit", () => writeCache(cachePath, script.createCachedData()));

  const main = new Module(bundlePath);
  main.filename = bundlePath;
  main.paths = (Module as unknown as ModuleInternals)._nodeModulePaths(dirname(bundlePath));
  process.mainModule = main;
  const wrapper = script.runInThisContext() as (
    exports: unknown,
    require: NodeJS.Require,
    module: Module,
    filename: string,
    dirname: string,
  ) => void;
  const require = ((id: string) => main.require(id)) as NodeJS.Require;
  wrapper.call(main.exports, main.exports, require, main, bundlePath, dirname(bundlePath));
  return outcome;
}
