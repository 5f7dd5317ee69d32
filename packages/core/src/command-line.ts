/** Quotes one argument for bash so that it reaches the program exactly as given. */
export function shellQuote(arg: string): string {
  if (arg !== "" && /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** `command` as written, then each argument shell-quoted: the text given to `/bin/bash -c`. */
export function commandLine(command: string, args: readonly string[]): string {
  return args.length === 0 ? command : `${command} ${args.map(shellQuote).join(" ")}`;
}
