/** Where the CLI writes: results to stdout (honouring backpressure), diagnostics to stderr. */
import { toJson, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import type { Writable } from "node:stream";

export type OutputFormat = "human" | "json";

export class Output {
  readonly format: OutputFormat;
  private readonly stdout: Writable;
  private readonly stderr: Writable;

  constructor(format: OutputFormat, stdout: Writable, stderr: Writable) {
    this.format = format;
    this.stdout = stdout;
    this.stderr = stderr;
  }

  get json(): boolean {
    return this.format === "json";
  }

  /** Writes one line of results; resolves once the stream can take more, so a slow reader slows us. */
  async line(text: string): Promise<void> {
    if (this.stdout.write(`${text}\n`)) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.stdout.off("drain", done);
        this.stdout.off("close", done);
        resolve();
      };
      this.stdout.once("drain", done);
      this.stdout.once("close", done);
    });
  }

  /** Writes a protobuf message as one line of proto3 JSON. */
  async message<Desc extends DescMessage>(schema: Desc, msg: MessageShape<Desc>): Promise<void> {
    await this.line(JSON.stringify(toJson(schema, msg)));
  }

  /** Writes a protobuf message as indented proto3 JSON (single results). */
  async document<Desc extends DescMessage>(schema: Desc, msg: MessageShape<Desc>): Promise<void> {
    await this.line(JSON.stringify(toJson(schema, msg), null, 2));
  }

  /** A diagnostic or status line for people, on stderr. */
  note(text: string): void {
    this.stderr.write(`${text}\n`);
  }

  error(text: string): void {
    this.stderr.write(`error: ${text}\n`);
  }
}
