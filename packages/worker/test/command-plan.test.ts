import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { planCommand, prepareCommand } from "../src/command-plan.js";

test("a plain command runs under bash -c with its arguments shell-quoted, shown as a $ header", () => {
  const plan = planCommand({ command: "echo", arguments: ["Hello from Hodei!", "it's"] });
  assert.equal(plan.kind, "command");
  const full = `echo 'Hello from Hodei!' 'it'\\''s'`;
  assert.deepEqual(plan, { kind: "command", file: "/bin/bash", args: ["-c", full], header: [`$ ${full}`] });
  const piped = planCommand({ command: "echo 'a' | grep a", arguments: [] });
  assert.deepEqual(piped.header, ["$ echo 'a' | grep a"]);
});

test("a script runs from a file with its interpreter, shown as a heredoc header", () => {
  const plan = planCommand({
    command: "",
    arguments: ["x"],
    script: { interpreter: "python3", content: "print(1)\nprint(2)\n" },
  });
  assert.equal(plan.kind, "script");
  if (plan.kind !== "script") return;
  assert.equal(plan.program, "python3");
  assert.deepEqual(plan.scriptArgs, ["x"]);
  assert.deepEqual(plan.header, ["$ python3 -c << 'EOF'", "print(1)", "print(2)", "EOF"]);
  const node = planCommand({ command: "", arguments: [], script: { interpreter: "node", content: "1" } });
  assert.equal(node.kind === "script" && node.program, process.execPath);
});

test("a multi-line command is a bash script; a #! command runs with the interpreter it names", () => {
  const multi = planCommand({ command: "echo a\necho b", arguments: [] });
  assert.equal(multi.kind === "script" && multi.program, "/bin/bash");
  assert.deepEqual(multi.header, ["$ bash -c << 'EOF'", "echo a", "echo b", "EOF"]);
  const py = planCommand({ command: "#!/usr/bin/env python3\nprint('hi')", arguments: [] });
  assert.ok(py.kind === "script");
  if (py.kind !== "script") return;
  assert.equal(py.program, "/usr/bin/env");
  assert.deepEqual(py.programArgs, ["python3"]);
  assert.equal(py.header[0], "$ python3 -c << 'EOF'");
  const sh = planCommand({ command: "#!/bin/sh -e\necho hi", arguments: [] });
  assert.ok(sh.kind === "script" && sh.program === "/bin/sh" && sh.programArgs[0] === "-e");
  assert.equal(sh.header[0], "$ sh -c << 'EOF'");
  assert.equal(planCommand({ command: "echo hi\n", arguments: [] }).kind, "command");
});

test("a script is written to a private temp file that cleanup removes", async () => {
  const prepared = await prepareCommand(planCommand({ command: "echo a\necho b", arguments: ["arg"] }));
  assert.equal(prepared.file, "/bin/bash");
  const path = prepared.args[0]!;
  assert.deepEqual(prepared.args.slice(1), ["arg"]);
  assert.equal(await readFile(path, "utf8"), "echo a\necho b");
  assert.equal((await stat(path)).mode & 0o777, 0o600);
  assert.equal((await stat(dirname(path))).mode & 0o777, 0o700);
  await prepared.cleanup();
  await assert.rejects(stat(dirname(path)), { code: "ENOENT" });
});
