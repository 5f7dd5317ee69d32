import type { LogLine } from "@hodei/api";

export interface LogBatcherOptions {
  /** A batch is emitted as soon as it holds this many lines. */
  batchSize: number;
  /** ...or this long after its first line was buffered, whichever comes first. */
  flushIntervalMs: number;
  /** Receives each batch; the array is the batcher's no longer. */
  emit: (lines: LogLine[]) => void;
  /** Replaces secret values in a line before it leaves the worker. */
  redact?: (line: string) => string;
}

/**
 * Stamps lines with a per-execution sequence (1, 2, 3… across stdout and stderr) and groups them
 * into batches by size or time.
 */
export class LogBatcher {
  private lines: LogLine[] = [];
  private timer: NodeJS.Timeout | undefined;
  private sequence = 0;
  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.flush();
  };

  constructor(private readonly opts: LogBatcherOptions) {}

  /** The sequence of the last line added (0 before any). */
  get lastSequence(): number {
    return this.sequence;
  }

  add(line: string, isStderr: boolean, timestampMs: number): void {
    const redact = this.opts.redact;
    // A plain object with $typeName is a valid protobuf-es message and much cheaper than create().
    this.lines.push({
      $typeName: "hodei.LogLine",
      line: redact ? redact(line) : line,
      isStderr,
      timestampMs: BigInt(timestampMs),
      sequence: BigInt(++this.sequence),
    });
    if (this.lines.length >= this.opts.batchSize) this.flush();
    else if (this.timer === undefined) this.timer = setTimeout(this.onTimer, this.opts.flushIntervalMs);
  }

  /** Emits whatever is buffered now. */
  flush(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.lines.length === 0) return;
    const batch = this.lines;
    this.lines = [];
    this.opts.emit(batch);
  }
}

/** A redactor replacing every occurrence of each non-empty secret value with `***`, longest first. */
export function secretRedactor(secrets: Record<string, string>): ((line: string) => string) | undefined {
  const values = [...new Set(Object.values(secrets))].filter((v) => v.length > 0);
  if (values.length === 0) return undefined;
  values.sort((a, b) => b.length - a.length);
  return (line) => {
    let out = line;
    for (const v of values) if (out.includes(v)) out = out.split(v).join("***");
    return out;
  };
}
