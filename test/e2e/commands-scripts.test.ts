// Commands run under /bin/bash -c as written (pipes, &&, globs, $VAR, cd), with arguments quoted
// so they arrive literally, in `working_dir`, with `stdin`; scripts (bash, python3, node; given as
// `script`, as a multi-line command or with a #! line) run from a file and are shown in the log
// between a header and EOF. Each case is a whole log, header included.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { JobDefinitionSchema } from "@hodei/api";
import { runCli } from "./support/cli.js";
import { logLines, queueJob, waitForJobEnd } from "./support/jobs.js";
import { startPlatform, stopCleanly, type Platform } from "./support/platform.js";

type Definition = MessageInitShape<typeof JobDefinitionSchema>;

interface Case {
  name: string;
  definition: Definition;
  /** The job's whole log, header lines included. */
  log: string[];
}

// A directory the jobs look at: two .txt files, a .log and a subdirectory.
const scratch = realpathSync(mkdtempSync(join(tmpdir(), "hodei-cmd-")));
for (const f of ["a.txt", "b.txt", "c.log"]) writeFileSync(join(scratch, f), f);
mkdirSync(join(scratch, "sub"));

const TRICKY = `two  spaces, $HOME, 'single' "double" \\ back`;
const heredoc = (interpreter: string, content: string) => [
  `$ ${interpreter} -c << 'EOF'`,
  ...content.replace(/\n$/, "").split("\n"),
  "EOF",
];

const BASH_SCRIPT = 'name=world\necho "hello $name"\nfor i in 1 2; do echo "$i"; done\n';
const PYTHON_SCRIPT = "import sys\nprint('python', sys.version_info[0])\nprint(sum(range(10)))\n";
const NODE_SCRIPT = "const xs = [1, 2, 3];\nconsole.log('node', xs.map((x) => x * 2).join(','));\n";
const PYTHON_STDIN = "import sys\nprint(sys.stdin.read().upper(), end='')\n";
const MULTI_LINE = "echo first\necho second";
const SHEBANG = "#!/usr/bin/env python3\nimport os\nprint('job id set:', os.environ['HODEI_JOB_ID'] != '')";

const CASES: Case[] = [
  {
    name: "a pipe",
    definition: { command: "printf 'b\\na\\nc\\n' | sort | tr a-z A-Z" },
    log: ["$ printf 'b\\na\\nc\\n' | sort | tr a-z A-Z", "A", "B", "C"],
  },
  {
    name: "&& and ||",
    definition: { command: "true && echo and-ran; false && echo never; false || echo or-ran" },
    log: ["$ true && echo and-ran; false && echo never; false || echo or-ran", "and-ran", "or-ran"],
  },
  {
    name: "a glob, in working_dir",
    definition: { command: "echo *.txt", workingDir: scratch },
    log: ["$ echo *.txt", "a.txt b.txt"],
  },
  {
    name: "working_dir is the current directory",
    definition: { command: "pwd; ls", workingDir: scratch },
    log: ["$ pwd; ls", scratch, "a.txt", "b.txt", "c.log", "sub"],
  },
  {
    name: "cd, then relative paths",
    definition: { command: `cd ${scratch}/sub && pwd && cd .. && ls -d *.log` },
    log: [`$ cd ${scratch}/sub && pwd && cd .. && ls -d *.log`, `${scratch}/sub`, "c.log"],
  },
  {
    name: "$VAR from environment, values taken literally",
    definition: {
      command: 'echo "$GREETING, $WHO!"; printf "%s\\n" "$TRICKY"',
      environment: { GREETING: "Hello", WHO: "Hodei", TRICKY },
    },
    log: ['$ echo "$GREETING, $WHO!"; printf "%s\\n" "$TRICKY"', "Hello, Hodei!", TRICKY],
  },
  {
    name: "arguments are shell-quoted and arrive literally",
    definition: { command: "echo", arguments: [`it's a "test"`, "$HOME"] },
    log: [`$ echo 'it'\\''s a "test"' '$HOME'`, `it's a "test" $HOME`],
  },
  {
    name: "each argument is one word, spaces and globs included",
    definition: { command: "printf '[%s]\\n'", arguments: ["a b", "*.txt", ""], workingDir: scratch },
    log: ["$ printf '[%s]\\n' 'a b' '*.txt' ''", "[a b]", "[*.txt]", "[]"],
  },
  {
    name: "stdin reaches the process",
    definition: { command: "tr a-z A-Z", stdin: "hello\nworld\n" },
    log: ["$ tr a-z A-Z", "HELLO", "WORLD"],
  },
  {
    name: "a bash script",
    definition: { script: { interpreter: "bash", content: BASH_SCRIPT } },
    log: [...heredoc("bash", BASH_SCRIPT), "hello world", "1", "2"],
  },
  {
    name: "a python3 script",
    definition: { script: { interpreter: "python3", content: PYTHON_SCRIPT } },
    log: [...heredoc("python3", PYTHON_SCRIPT), "python 3", "45"],
  },
  {
    name: "a node script",
    definition: { script: { interpreter: "node", content: NODE_SCRIPT } },
    log: [...heredoc("node", NODE_SCRIPT), "node 2,4,6"],
  },
  {
    name: "a script gets the arguments as $1…",
    definition: {
      script: { interpreter: "bash", content: 'echo "[$1] [$2]"' },
      arguments: ["one two", "$x"],
    },
    log: [...heredoc("bash", 'echo "[$1] [$2]"'), "[one two] [$x]"],
  },
  {
    name: "a script reads stdin",
    definition: { script: { interpreter: "python3", content: PYTHON_STDIN }, stdin: "from stdin\n" },
    log: [...heredoc("python3", PYTHON_STDIN), "FROM STDIN"],
  },
  {
    name: "a command's bash is started by the worker's hodei-spawn",
    definition: { command: "cat /proc/$PPID/comm" },
    log: ["$ cat /proc/$PPID/comm", "hodei-spawn"],
  },
  {
    name: "a multi-line command runs as a bash script",
    definition: { command: MULTI_LINE },
    log: [...heredoc("bash", MULTI_LINE), "first", "second"],
  },
  {
    name: "a command with a #!/usr/bin/env python3 line runs as a python3 script",
    definition: { command: SHEBANG },
    log: [...heredoc("python3", SHEBANG), "job id set: True"],
  },
];

describe("commands and scripts", () => {
  let platform: Platform;
  before(async () => {
    platform = await startPlatform();
  });
  after(async () => {
    await stopCleanly(platform);
    rmSync(scratch, { recursive: true, force: true });
  });

  for (const c of CASES) {
    test(c.name, async () => {
      const id = await queueJob(platform.client, { name: c.name, ...c.definition });
      const end = await waitForJobEnd(platform.client, id);
      const log = await logLines(platform.client, id);
      assert.equal(end.statusName, "SUCCEEDED", `${end.message}\n${log.join("\n")}`);
      assert.deepEqual(log, c.log);
    });
  }

  test("the CLI's --script file.py runs the file with python3", async () => {
    // No #! line: the interpreter comes from the extension.
    const content = "print('hello from a .py file', 6 * 7)\n";
    const file = join(scratch, "hello.py");
    writeFileSync(file, content);
    const r = await runCli(["--server", platform.grpcAddress, "job", "run", "--script", file]);
    assert.equal(r.code, 0, `exit code; stdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
    const lines = r.lines.map(
      (l) => /^\d\d:\d\d:\d\d\.\d{3} \[OUT\] (.*)$/.exec(l.text)?.[1] ?? `?? ${l.text}`,
    );
    assert.deepEqual(lines, [...heredoc("python3", content), "hello from a .py file 42"]);
  });
});
