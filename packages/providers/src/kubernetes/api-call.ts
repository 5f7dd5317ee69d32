import { ApiException } from "@kubernetes/client-node";

/** The API server's own words for a failed call (its Status message), else the transport error. */
export function describeApiError(e: unknown): string {
  if (e instanceof ApiException) {
    const code = (e as ApiException<unknown>).code;
    const body: unknown = (e as ApiException<unknown>).body;
    let message: string | undefined;
    try {
      const parsed: unknown = typeof body === "string" ? JSON.parse(body) : body;
      if (parsed && typeof parsed === "object" && "message" in parsed) message = String(parsed.message);
    } catch {
      // Not JSON (a proxy's HTML page, an empty body): the status code alone says enough.
    }
    return `HTTP ${code}${message ? `: ${message}` : ""}`;
  }
  return e instanceof Error ? e.message : String(e);
}

/** The HTTP status of a failed API call, if it got that far. */
export function apiStatus(e: unknown): number | undefined {
  return e instanceof ApiException ? (e as ApiException<unknown>).code : undefined;
}

/**
 * Rejects after `ms` with an error naming `what`: the client has no per-call deadline, and an API
 * server that accepts connections but never answers would otherwise stall the caller for good.
 */
export function withTimeout<T>(call: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer from the API server within ${ms} ms`)), ms);
  });
  return Promise.race([call, timeout]).finally(() => clearTimeout(timer));
}
