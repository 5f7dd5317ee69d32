/** What a redacted secret is replaced by. */
export const REDACTED = "***";

/**
 * Derived forms (base64, parts of a multi-line value) shorter than this are not redacted: they
 * would match ordinary text. A secret's own value is redacted whatever its length.
 */
const MIN_DERIVED_LENGTH = 8;
/** Lines of a multi-line secret shorter than this (`}`, `-----`) are not redacted on their own. */
const MIN_LINE_PART_LENGTH = 4;

/**
 * The base64 text of `value` wherever it sits in a longer base64 stream: for each of the three byte
 * alignments, the characters that depend on the value's bytes alone. `echo value | base64`, a value
 * inside a base64-encoded file and `base64 <<< value` all contain one of them.
 */
function base64Cores(value: Buffer): string[] {
  const cores: string[] = [];
  for (let shift = 0; shift < 3; shift++) {
    const encoded = Buffer.concat([Buffer.alloc(shift), value]).toString("base64");
    const first = Math.ceil((8 * shift) / 6);
    const end = Math.floor((8 * (shift + value.length)) / 6);
    cores.push(encoded.slice(first, end));
  }
  return cores;
}

/**
 * Every text a secret may show up as in a log line, longest first: the value, its JSON-escaped form
 * (how the worker hands it over on stdin), its base64 and base64url forms (whole, with padding; of
 * the value and a newline, as `echo value | base64` prints; and the alignment-independent cores)
 * and, for a multi-line value, each of its lines.
 */
export function secretForms(secrets: Record<string, string>): string[] {
  const forms = new Set<string>();
  const derived = (form: string, min = MIN_DERIVED_LENGTH): void => {
    if (form.length >= min) forms.add(form);
  };
  for (const value of Object.values(secrets)) {
    if (value.length === 0) continue;
    forms.add(value);
    derived(JSON.stringify(value).slice(1, -1), 1);
    const bytes = Buffer.from(value);
    const encoded = [
      bytes.toString("base64"),
      Buffer.from(`${value}\n`).toString("base64"),
      ...base64Cores(bytes),
    ];
    for (const e of encoded) {
      derived(e);
      derived(e.replace(/\+/g, "-").replace(/\//g, "_")); // base64url
    }
    if (/[\r\n]/.test(value)) {
      for (const line of value.split(/\r?\n/)) derived(line, MIN_LINE_PART_LENGTH);
    }
  }
  return [...forms].sort((a, b) => b.length - a.length);
}

/**
 * A redactor replacing every occurrence of each form of each non-empty secret (see `secretForms`)
 * with `***`, longest first; undefined when there is nothing to redact.
 */
export function secretRedactor(secrets: Record<string, string>): ((line: string) => string) | undefined {
  const forms = secretForms(secrets);
  if (forms.length === 0) return undefined;
  return (line) => {
    let out = line;
    for (const f of forms) if (out.includes(f)) out = out.split(f).join(REDACTED);
    return out;
  };
}

/**
 * Moves a cut in `buf[start, end)` back to `≤ cut` so that it does not fall inside an occurrence
 * of a secret form (or of a form's beginning that runs to `end`, whose rest has not arrived yet).
 */
export type CutGuard = (buf: Buffer, start: number, cut: number, end: number) => number;

/**
 * The cut guard for a line too long to send whole: its pieces are redacted one by one, so no secret
 * may straddle two of them. Undefined when there is nothing to keep together.
 */
export function keepSecretsTogether(secrets: Record<string, string>): CutGuard | undefined {
  const needles = secretForms(secrets)
    .map((f) => Buffer.from(f))
    .filter((b) => b.length > 1);
  if (needles.length === 0) return undefined;
  const straddleStart = (buf: Buffer, start: number, cut: number, end: number): number => {
    let earliest = cut;
    for (const n of needles) {
      for (let p = Math.max(start, cut - n.length + 1); p < earliest; p++) {
        const len = Math.min(n.length, end - p);
        if (p + len > cut && buf.compare(n, 0, len, p, p + len) === 0) {
          earliest = p;
          break;
        }
      }
    }
    return earliest;
  };
  return (buf, start, cut, end) => {
    let at = cut;
    for (;;) {
      const moved = straddleStart(buf, start, at, end);
      if (moved === at) return at;
      // A piece must make progress; forms are far shorter than pieces, so this only guards the loop.
      if (moved <= start) return cut;
      at = moved;
    }
  };
}
