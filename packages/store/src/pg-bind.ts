import pg from "pg";

/**
 * Binary parameters at least this long go to the socket as they are instead of being copied into
 * the Bind message. `pg` builds every Bind in a writer that starts at 256 bytes and grows by half
 * again plus what is asked, then copies it out: a log chunk of a few megabytes was allocated and
 * copied twice on its way to the server, and on this kind of machine the page faults of that fresh
 * memory, not the copying, were the cost (a quarter of the control plane's CPU time while a job
 * printed a million lines).
 */
export const DIRECT_BYTES = 16 * 1024;

/** What `pg` hands its connection's `bind` (pg-protocol's BindOpts). */
export interface BindConfig {
  portal?: string;
  statement?: string;
  binary?: boolean;
  values?: unknown[];
  valueMapper?: (value: unknown, index: number) => unknown;
}

/**
 * The Bind message for `config` as the parts to write one after another: the message's own bytes,
 * with every binary parameter of DIRECT_BYTES or more left out of them and placed between as the
 * caller's buffer itself. Undefined when no parameter is that large (the ordinary encoding is then
 * as good). Values are mapped exactly as `pg` maps them; a mapper that throws throws before
 * anything is returned, so nothing half-written reaches the socket.
 */
export function bindParts(config: BindConfig): Buffer[] | undefined {
  const values = config.values ?? [];
  const mapped: (Buffer | string | null)[] = new Array<Buffer | string | null>(values.length);
  let direct = false;
  let own = 0;
  for (let i = 0; i < values.length; i++) {
    const v = config.valueMapper ? config.valueMapper(values[i], i) : values[i];
    let m: Buffer | string | null;
    if (v === null || v === undefined) m = null;
    else if (Buffer.isBuffer(v)) m = v;
    else m = String(v);
    mapped[i] = m;
    own += 4;
    if (m === null) continue;
    if (typeof m === "string") own += Buffer.byteLength(m);
    else if (m.length >= DIRECT_BYTES) direct = true;
    else own += m.length;
  }
  if (!direct) return undefined;

  const portal = config.portal ?? "";
  const statement = config.statement ?? "";
  const portalBytes = Buffer.byteLength(portal);
  const statementBytes = Buffer.byteLength(statement);
  // code, length, portal\0, statement\0, format count, formats, value count, values, result formats.
  own += 1 + 4 + portalBytes + 1 + statementBytes + 1 + 2 + 2 * mapped.length + 2 + 4;
  let total = own - 1;
  for (const m of mapped) if (Buffer.isBuffer(m) && m.length >= DIRECT_BYTES) total += m.length;

  const buf = Buffer.allocUnsafe(own);
  let at = 0;
  buf[at++] = 0x42; // 'B'
  at = buf.writeInt32BE(total, at);
  at += buf.write(portal, at, "utf8");
  buf[at++] = 0;
  at += buf.write(statement, at, "utf8");
  buf[at++] = 0;
  at = buf.writeInt16BE(mapped.length, at);
  for (const m of mapped) at = buf.writeInt16BE(Buffer.isBuffer(m) ? 1 : 0, at);
  at = buf.writeInt16BE(mapped.length, at);

  const parts: Buffer[] = [];
  let from = 0;
  for (const m of mapped) {
    if (m === null) {
      at = buf.writeInt32BE(-1, at);
    } else if (typeof m === "string") {
      const n = buf.write(m, at + 4, "utf8");
      buf.writeInt32BE(n, at);
      at += 4 + n;
    } else {
      at = buf.writeInt32BE(m.length, at);
      if (m.length >= DIRECT_BYTES) {
        parts.push(buf.subarray(from, at), m);
        from = at;
      } else {
        at += m.copy(buf, at);
      }
    }
  }
  at = buf.writeInt16BE(1, at);
  at = buf.writeInt16BE(config.binary ? 1 : 0, at);
  parts.push(buf.subarray(from, at));
  return parts;
}

/** The connection surface the direct Bind replaces (`pg`'s Connection, untyped in its types). */
interface BindingConnection {
  stream: { writable: boolean; write(chunk: Buffer): boolean };
  bind(config: BindConfig, more?: boolean): unknown;
}

/**
 * A `pg` client whose connection writes large binary parameters straight from the caller's buffer.
 * `pg` corks the socket while it writes Parse, Bind, Describe, Execute and Sync, so the parts leave
 * as one writev, as the one copied message did.
 */
export class DirectBindClient extends pg.Client {
  constructor(config?: pg.ClientConfig) {
    super(config);
    const con = this.connection as unknown as BindingConnection;
    const ordinary = con.bind.bind(con);
    con.bind = (bindConfig: BindConfig, more?: boolean) => {
      const parts = bindParts(bindConfig);
      if (!parts) return ordinary(bindConfig, more);
      if (!con.stream.writable) return false;
      let ok = true;
      for (const part of parts) ok = con.stream.write(part);
      return ok;
    };
  }
}
