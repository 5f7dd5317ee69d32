import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import type Docker from "dockerode";
import { elfDependencies } from "./elf-bundle.js";

const run = promisify(execFile);

/** The image jobs run in when they name none and HODEI_DOCKER_DEFAULT_IMAGE is unset. */
export const LOCAL_BASE_IMAGE = "hodei/worker-base:local";

/** Host paths where busybox may be: Debian's busybox-static, then busybox. */
const BUSYBOX_CANDIDATES = ["/bin/busybox", "/usr/bin/busybox"];

export function findBusybox(): string | null {
  return BUSYBOX_CANDIDATES.find((p) => existsSync(p)) ?? null;
}

/** Copies a host program into `root` at the same path, with its libraries when it has any. */
async function copyProgram(program: string, root: string): Promise<void> {
  const files = [program];
  // `ldd` refuses a static binary (busybox-static): then it needs nothing else.
  const deps = await elfDependencies(program).catch(() => null);
  if (deps) files.push(deps.loader, ...deps.libraries);
  for (const f of files) {
    await mkdir(join(root, dirname(f)), { recursive: true });
    await copyFile(f, join(root, f));
    await chmod(join(root, f), 0o755);
  }
}

export interface BusyboxRootfsOptions {
  /** Written to /etc/os-release, so a job can tell which image it runs in. */
  osRelease: string;
  /** Extra files: path inside the image → content. */
  files?: Record<string, string>;
  /** Copy the host's /bin/bash (and its libraries) in; without it the agent's own bash is used. */
  withBash?: boolean;
  /** Dockerfile instructions applied on import (`ENV A=b`). */
  changes?: string[];
}

/**
 * A minimal root file system from this machine's own busybox: its applets as /bin symlinks, root in
 * /etc/passwd, a /tmp, and bash only when asked (without it the agent directory brings one).
 */
export async function makeBusyboxRootfs(dir: string, opts: BusyboxRootfsOptions): Promise<void> {
  const busybox = findBusybox();
  if (!busybox) throw new Error("busybox is not installed (Debian: apt-get install busybox-static)");
  await copyProgram(busybox, dir);
  await mkdir(join(dir, "bin"), { recursive: true });
  if (busybox !== "/bin/busybox") await copyFile(busybox, join(dir, "bin/busybox"));
  await chmod(join(dir, "bin/busybox"), 0o755);
  if (opts.withBash) await copyProgram("/bin/bash", dir);
  const { stdout } = await run(busybox, ["--list"]);
  for (const applet of stdout.split("\n").map((s) => s.trim())) {
    if (!applet || applet === "busybox" || applet === "bash") continue;
    const link = join(dir, "bin", applet);
    if (!existsSync(link)) await symlink("busybox", link);
  }
  for (const d of ["etc", "root", "tmp", "usr/bin", "var"]) await mkdir(join(dir, d), { recursive: true });
  await chmod(join(dir, "tmp"), 0o1777);
  const files: Record<string, string> = {
    "etc/os-release": opts.osRelease,
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    "etc/group": "root:x:0:\nnogroup:x:65534:\n",
    ...opts.files,
  };
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(dir, dirname(path)), { recursive: true });
    await writeFile(join(dir, path), content);
  }
}

/**
 * `docker import` of a directory as `repo:tag`; resolves once the engine has the image. `changes`
 * are Dockerfile instructions applied on import (`ENV A=b`, `USER 1000`).
 */
export async function importDirectory(
  docker: Docker,
  dir: string,
  repoTag: string,
  changes: string[] = [],
): Promise<void> {
  const colon = repoTag.lastIndexOf(":");
  const [repo, tag] =
    colon > repoTag.lastIndexOf("/")
      ? [repoTag.slice(0, colon), repoTag.slice(colon + 1)]
      : [repoTag, "latest"];
  const tar = spawn("tar", ["-C", dir, "--numeric-owner", "-c", "."], { stdio: ["ignore", "pipe", "pipe"] });
  let tarErr = "";
  tar.stderr.on("data", (d: Buffer) => (tarErr += d.toString()));
  const tarDone = new Promise<void>((resolve, reject) => {
    tar.once("error", reject);
    tar.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`tar: ${tarErr.trim() || code}`))));
  });
  const progress = await docker.importImage(tar.stdout, {
    repo,
    tag,
    ...(changes.length ? { changes } : {}),
  });
  const messages = await new Promise<{ error?: string }[]>((resolve, reject) =>
    docker.modem.followProgress(progress, (err: Error | null, out: { error?: string }[]) =>
      err ? reject(err) : resolve(out),
    ),
  );
  await tarDone;
  const failed = messages.find((m) => m.error);
  if (failed) throw new Error(`docker import ${repoTag}: ${failed.error}`);
}

/** Builds a busybox image named `repoTag` from this machine's files (no registry needed). */
export async function buildBusyboxImage(
  docker: Docker,
  repoTag: string,
  opts: BusyboxRootfsOptions,
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "hodei-rootfs-"));
  try {
    await makeBusyboxRootfs(dir, opts);
    await importDirectory(docker, dir, repoTag, opts.changes);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
