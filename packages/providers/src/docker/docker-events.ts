import type Docker from "dockerode";

/** One message of the engine's /events stream (the fields this provider reads). */
export interface DockerEvent {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes?: Record<string, string> };
  timeNano?: number;
  time?: number;
}

export interface EventWatch {
  stop(): void;
}

const RECONNECT_DELAY_MS = 500;

/**
 * Follows the engine's event stream, reconnecting after a break with `since` set to the last event
 * seen, so a container that dies while the stream is down is still reported (handlers must accept
 * an event twice). Resolves once the first subscription is open.
 */
export async function watchDockerEvents(
  docker: Docker,
  filters: NonNullable<Exclude<Docker.GetEventsOptions["filters"], string>>,
  onEvent: (e: DockerEvent) => void,
  onBreak: (err: Error) => void,
): Promise<EventWatch> {
  let stopped = false;
  let since: number | undefined;
  let current: NodeJS.ReadableStream | null = null;
  let retry: NodeJS.Timeout | undefined;
  const watchingSince = Date.now() / 1000;

  const reconnect = (err: Error): void => {
    if (stopped) return;
    onBreak(err);
    since ??= watchingSince;
    retry = setTimeout(() => void subscribe().catch(reconnect), RECONNECT_DELAY_MS);
  };

  const subscribe = async (): Promise<void> => {
    const stream = await docker.getEvents({ filters, ...(since ? { since } : {}) });
    if (stopped) {
      (stream as NodeJS.ReadableStream & { destroy(): void }).destroy();
      return;
    }
    current = stream;
    let buffered = "";
    stream.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (!line) continue;
        let event: DockerEvent;
        try {
          event = JSON.parse(line) as DockerEvent;
        } catch {
          continue; // not an event; the stream carries nothing else worth failing over
        }
        if (event.timeNano) since = event.timeNano / 1e9;
        else if (event.time) since = event.time;
        onEvent(event);
      }
    });
    const broken = (err?: Error): void => {
      if (current !== stream) return;
      current = null;
      reconnect(err ?? new Error("the Docker event stream ended"));
    };
    stream.on("error", broken);
    stream.on("end", () => broken());
    stream.on("close", () => broken());
  };

  await subscribe();
  return {
    stop() {
      stopped = true;
      clearTimeout(retry);
      (current as (NodeJS.ReadableStream & { destroy(): void }) | null)?.destroy();
      current = null;
    },
  };
}
