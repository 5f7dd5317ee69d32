import { execFile } from "node:child_process";
import { chmod, copyFile, mkdir } from "node:fs/promises";
import { basename, join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** The shared libraries a dynamically linked program loads, and its loader, as `ldd` reports them. */
export interface ElfDependencies {
  loader: string;
  libraries: string[];
}

/** `ldd` output → the loader (the line with an absolute path and no `=>`) and every resolved library. */
export function parseLdd(output: string): ElfDependencies {
  let loader = "";
  const libraries: string[] = [];
  for (const raw of output.split("\n")) {
    const line = raw.trim();
    const arrow = /=>\s+(\/\S+)\s+\(0x/.exec(line);
    if (arrow) {
      libraries.push(arrow[1]!);
      continue;
    }
    const bare = /^(\/\S+)\s+\(0x/.exec(line);
    if (bare) loader = bare[1]!;
    else if (/=>\s+not found/.test(line)) throw new Error(`ldd: ${line}`);
  }
  if (!loader) throw new Error("ldd names no loader: not a dynamically linked program");
  return { loader, libraries };
}

export async function elfDependencies(program: string): Promise<ElfDependencies> {
  const { stdout } = await run("ldd", [program]).catch((err: Error & { stderr?: string }) => {
    throw new Error(`ldd ${program}: ${err.stderr?.trim() || err.message}`);
  });
  return parseLdd(stdout);
}

/**
 * Copies `program` into `<dir>/bin` and its libraries and loader into `<dir>/lib`, then patches the
 * copy to load them from `<mountPoint>/lib`, where `dir` will be mounted in a container. The binary
 * is patched rather than started through the loader: launched as `ld.so node`, node's
 * `process.execPath` is the loader, and every child node the agent starts would break.
 * DT_RPATH (--force-rpath), not DT_RUNPATH: RPATH also applies to the libraries' own dependencies
 * (libstdc++ → libm) and wins over the image's LD_LIBRARY_PATH and ld.so.cache, so nothing of the
 * image's own C library is ever mixed in.
 */
export async function bundleProgram(program: string, dir: string, mountPoint: string): Promise<string> {
  const deps = await elfDependencies(program);
  await mkdir(join(dir, "bin"), { recursive: true });
  await mkdir(join(dir, "lib"), { recursive: true });
  for (const lib of [deps.loader, ...deps.libraries]) {
    // copyFile follows symlinks: libc.so.6 → libc-2.36.so lands under the name programs ask for.
    await copyFile(lib, join(dir, "lib", basename(lib)));
    await chmod(join(dir, "lib", basename(lib)), 0o755);
  }
  const target = join(dir, "bin", basename(program));
  await copyFile(program, target);
  await chmod(target, 0o755);
  await run("patchelf", [
    "--set-interpreter",
    `${mountPoint}/lib/${basename(deps.loader)}`,
    "--force-rpath",
    "--set-rpath",
    `${mountPoint}/lib`,
    target,
  ]).catch((err: Error & { code?: string; stderr?: string }) => {
    throw new Error(
      err.code === "ENOENT"
        ? "patchelf is not installed (Debian: apt-get install patchelf); the Docker provider needs it to build its agent directory"
        : `patchelf ${target}: ${err.stderr?.trim() || err.message}`,
    );
  });
  return target;
}
