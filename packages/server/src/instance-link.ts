// Several control planes on one PostgreSQL: what one commits, the others hear of at once.
import type { JobState } from "@hodei/core";
import { getLogChunks, openChannelLink, type ChannelLink, type Database } from "@hodei/store";
import type { Dispatcher } from "./dispatcher.js";
import type { EventBus, JobEvent } from "./events.js";
import type { Logger } from "./logger.js";

const CHANNEL = "hodei_instances";
const APPLICATION_NAME = "hodei-instance-link";
/** PostgreSQL refuses a NOTIFY payload of 8000 bytes or more. */
const MAX_PAYLOAD_BYTES = 7_900;
/** An event's message is cut to this in transit (the stored job keeps it whole). */
const MAX_MESSAGE_CHARS = 2_000;
/** How often the other instances are counted (a new one also says hello at once). */
const PEER_CHECK_MS = 5_000;
const RECONNECT_MS = 2_000;
const LOG_PAGE = 5_000;

type WireEvent = [
  jobId: string,
  status: JobState,
  previous: JobState | null,
  atMs: number,
  workerId: string | null,
  executionId: string | null,
  exitCode: number | null,
  message: string,
  /** 1: only the sender can run it (it holds the job's secrets, in memory): do not wake for it. */
  held?: 1,
];

/** One NOTIFY payload. Every field but `i` is optional; a payload never exceeds MAX_PAYLOAD_BYTES. */
interface Wire {
  /** The sending instance. */
  i: string;
  /** "I have just started listening": start relaying to me. */
  h?: 1;
  /** Job state changes, in the order they were committed. */
  e?: WireEvent[];
  /** Log lines committed: job id, first and last sequence. */
  l?: [jobId: string, first: number, last: number][];
  /** Cancel requests for a job whose worker this instance does not reach: job id, reason, actor. */
  c?: [jobId: string, reason: string, actor: string][];
}

/** What a payload relays, before it is packed. */
type Relayed = Omit<Wire, "i" | "h">;

export interface InstanceLinkDeps {
  databaseUrl: string;
  db: Database;
  bus: EventBus;
  dispatcher: Dispatcher;
  logger: Logger;
}

/**
 * PostgreSQL LISTEN/NOTIFY between control planes sharing a database. Each instance relays its job
 * events, the ranges of log lines it stored, and cancel requests it cannot serve; the others emit the
 * events on their own bus (so `ExecutionEventStream` and `SubscribeLogs` on any instance follow a job
 * run by any other), wake their scheduler when a job waits (a job queued on one instance starts at
 * once on another's idle worker), and cancel jobs running on their workers. Nothing is sent while no
 * other instance listens.
 */
export class InstanceLink {
  readonly id: string;
  private link: ChannelLink | undefined;
  private peers = false;
  private stopped = false;
  private out: Relayed[] = [];
  private flushing = false;
  private sending: Promise<void> = Promise.resolve();
  private peerTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  /** Relayed log ranges are fetched one after the other per job, so a follower sees lines in order. */
  private readonly logFetches = new Map<string, Promise<void>>();
  private relayingLogs = false;
  private readonly offBus: (() => void)[] = [];

  constructor(private readonly d: InstanceLinkDeps) {
    this.id = d.dispatcher.controlPlaneId;
  }

  /** Whether another instance listens (cancels for jobs not running here go to it). */
  get hasPeers(): boolean {
    return this.peers && this.link !== undefined;
  }

  async start(): Promise<void> {
    this.offBus.push(
      this.d.bus.onJob((e) => {
        if (e.remote || !this.hasPeers) return;
        this.queue({ e: [wireEvent(e, this.d.dispatcher.secrets.has(e.jobId))] });
      }),
      this.d.bus.onAnyLogs((jobId, chunk) => {
        if (this.relayingLogs || !this.hasPeers) return;
        this.queue({ l: [[jobId, chunk.firstSeq, chunk.lastSeq]] });
      }),
    );
    await this.connect();
    this.peerTimer = setInterval(() => void this.countPeers(), PEER_CHECK_MS);
    this.peerTimer.unref();
  }

  /** Asks the other instances to cancel `jobId` on their worker. */
  sendCancel(jobId: string, reason: string, actor: string): void {
    this.queue({ c: [[jobId, reason, actor]] });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const off of this.offBus.splice(0)) off();
    clearInterval(this.peerTimer);
    clearTimeout(this.reconnectTimer);
    await this.sending;
    await this.link?.close();
    this.link = undefined;
  }

  private async connect(): Promise<void> {
    const link = await openChannelLink({
      url: this.d.databaseUrl,
      channel: CHANNEL,
      applicationName: APPLICATION_NAME,
      onMessage: (payload) => this.receive(payload),
      onLost: (err) => this.lost(err),
    });
    if (this.stopped) return link.close();
    this.link = link;
    await this.countPeers();
    // Whatever others relayed while this instance was not listening: look at the queue afresh.
    this.d.dispatcher.rescan();
    await link.notify(JSON.stringify({ i: this.id, h: 1 } satisfies Wire));
  }

  private lost(err: Error): void {
    this.d.logger.warn({ err }, "lost the link to the other control planes; reconnecting");
    void this.link?.close();
    this.link = undefined;
    this.peers = false;
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    this.reconnectTimer = setTimeout(() => {
      this.connect().catch((err: unknown) => {
        this.d.logger.warn({ err }, "cannot reach PostgreSQL to listen for the other control planes");
        this.scheduleReconnect();
      });
    }, RECONNECT_MS);
    this.reconnectTimer.unref();
  }

  private async countPeers(): Promise<void> {
    const link = this.link;
    if (!link) return;
    try {
      this.peers = (await link.others()) > 0;
    } catch (err) {
      this.d.logger.debug({ err }, "could not count the other control planes");
    }
  }

  /** Collects what the current tick relays; one flush sends it all, in as few payloads as fit. */
  private queue(part: Relayed): void {
    this.out.push(part);
    if (this.flushing) return;
    this.flushing = true;
    setImmediate(() => {
      this.flushing = false;
      const parts = this.out.splice(0);
      const link = this.link;
      if (!link) return;
      const payloads = pack(this.id, parts);
      this.sending = this.sending.then(async () => {
        for (const p of payloads)
          await link.notify(p).catch((err: unknown) => {
            this.d.logger.warn({ err }, "could not notify the other control planes");
          });
      });
    });
  }

  private receive(payload: string): void {
    let m: Wire;
    try {
      m = JSON.parse(payload) as Wire;
    } catch {
      this.d.logger.warn({ payload: payload.slice(0, 200) }, "ignored an unreadable instance notification");
      return;
    }
    if (m.i === this.id) return;
    if (m.h) this.peers = true;
    for (const [jobId, first, last] of m.l ?? []) this.relayLogs(jobId, first, last);
    let waiting = false;
    for (const w of m.e ?? []) {
      const e = jobEvent(w);
      if (e.status === "PENDING" && w[8] !== 1) waiting = true;
      this.d.bus.emitJob(e);
    }
    for (const [jobId, reason, actor] of m.c ?? []) this.d.dispatcher.cancelRunning(jobId, reason, actor);
    if (waiting) this.d.dispatcher.rescan();
  }

  /** Lines another instance stored: read them back for this instance's followers of the job, if any. */
  private relayLogs(jobId: string, first: number, last: number): void {
    if (!this.d.bus.hasLogListeners(jobId)) return;
    const previous = this.logFetches.get(jobId) ?? Promise.resolve();
    const next = previous.then(async () => {
      let after = first - 1;
      while (after < last && this.d.bus.hasLogListeners(jobId)) {
        const page = await getLogChunks(this.d.db, jobId, after, LOG_PAGE);
        const chunks = page.chunks.map((c) => c.select(after, last)).filter((c) => c !== null);
        if (chunks.length === 0) return;
        after = chunks[chunks.length - 1]!.lastSeq;
        this.relayingLogs = true;
        try {
          for (const chunk of chunks) this.d.bus.emitLogs(jobId, chunk);
        } finally {
          this.relayingLogs = false;
        }
      }
    });
    const settled = next.catch((err: unknown) =>
      this.d.logger.warn({ err, jobId }, "could not read relayed log lines"),
    );
    this.logFetches.set(jobId, settled);
    void settled.then(() => {
      if (this.logFetches.get(jobId) === settled) this.logFetches.delete(jobId);
    });
  }
}

function wireEvent(e: JobEvent, held: boolean): WireEvent {
  const message = e.message.length > MAX_MESSAGE_CHARS ? e.message.slice(0, MAX_MESSAGE_CHARS) : e.message;
  const w: WireEvent = [
    e.jobId,
    e.status,
    e.previous,
    e.atMs,
    e.workerId,
    e.executionId,
    e.exitCode,
    message,
  ];
  if (held) w.push(1);
  return w;
}

function jobEvent(w: WireEvent): JobEvent {
  const [jobId, status, previous, atMs, workerId, executionId, exitCode, message] = w;
  return { jobId, status, previous, atMs, workerId, executionId, exitCode, message, remote: true };
}

/** The order a receiver handles the kinds of one payload in. */
const HANDLED = { l: 0, e: 1, c: 2 } as const;
type Kind = keyof typeof HANDLED;

/**
 * The parts as payloads of at most MAX_PAYLOAD_BYTES, each item whole, received in the order sent:
 * an item of a kind the receiver handles before one already in the payload starts a new payload.
 */
function pack(id: string, parts: Relayed[]): string[] {
  const payloads: string[] = [];
  const base = Buffer.byteLength(JSON.stringify({ i: id }));
  let current: Wire = { i: id };
  let size = base;
  let last = -1; // the latest-handled kind in `current`
  const close = () => {
    if (last >= 0) payloads.push(JSON.stringify(current));
    current = { i: id };
    size = base;
    last = -1;
  };
  const add = <K extends Kind>(kind: K, item: NonNullable<Wire[K]>[number]) => {
    const bytes = Buffer.byteLength(JSON.stringify(item));
    // `,"e":[` before a kind's first item, `,` before the others.
    const cost = () => bytes + (current[kind] ? 1 : 6);
    if (HANDLED[kind] < last || (last >= 0 && size + cost() > MAX_PAYLOAD_BYTES)) close();
    size += cost();
    ((current[kind] ??= []) as NonNullable<Wire[K]>[number][]).push(item);
    last = Math.max(last, HANDLED[kind]);
  };
  for (const p of parts) {
    for (const item of p.l ?? []) add("l", item);
    for (const item of p.e ?? []) add("e", item);
    for (const item of p.c ?? []) add("c", item);
  }
  close();
  return payloads;
}
