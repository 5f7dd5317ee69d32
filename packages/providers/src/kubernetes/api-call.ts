/** What @kubernetes/client-node's ApiException carries (the class is not imported: see kube-client.ts). */
interface ApiFailure {
  code: number;
  body: unknown;
}

function isApiFailure(e: unknown): e is ApiFailure {
  return e instanceof Error && typeof (e as Partial<ApiFailure>).code === "number" && "body" in e;
}

/** The API server's own words for a failed call (its Status message), else the transport error. */
export function describeApiError(e: unknown): string {
  if (isApiFailure(e)) {
    let message: string | undefined;
    try {
      const parsed: unknown = typeof e.body === "string" ? JSON.parse(e.body) : e.body;
      if (parsed && typeof parsed === "object" && "message" in parsed) message = String(parsed.message);
    } catch {
      // Not JSON (a proxy's HTML page, an empty body): the status code alone says enough.
    }
    return `HTTP ${e.code}${message ? `: ${message}` : ""}`;
  }
  return e instanceof Error ? e.message : String(e);
}

/** The HTTP status of a failed API call, if it got that far. */
export function apiStatus(e: unknown): number | undefined {
  return isApiFailure(e) ? e.code : undefined;
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
