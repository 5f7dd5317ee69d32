// Builds hodei-spawn (packages/worker/native), the helper the worker starts jobs through, into
// packages/worker/dist. Needs a C compiler (cc); without one the worker starts jobs with Node's own
// spawn, which works the same and costs more CPU per job, and this says so.
import { execFileSync } from "node:child_process";
import { mkdirSync, renameSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const source = `${root}packages/worker/native/hodei-spawn.c`;
const output = `${root}packages/worker/dist/hodei-spawn`;

const mtime = (path) => {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -1;
  }
};

if (mtime(output) < mtime(source)) {
  const compiler = process.env.CC || "cc";
  mkdirSync(`${root}packages/worker/dist`, { recursive: true });
  try {
    execFileSync(compiler, ["-O2", "-Wall", "-Wextra", "-Werror", "-o", `${output}.tmp`, source], {
      stdio: ["ignore", "inherit", "inherit"],
    });
    renameSync(`${output}.tmp`, output);
  } catch (err) {
    const why = err.code === "ENOENT" ? `no C compiler (${compiler})` : `${compiler} failed`;
    console.warn(`note: hodei-spawn not built (${why}); workers will start jobs with Node's spawn`);
  }
}
