// A fake Kubernetes API server at the HTTP boundary: no cluster can run here, so this speaks just
// what the Kubernetes provider uses (version, create/list/delete pods, the pod watch stream as
// newline-delimited JSON events), the way the real one does, and lets a test play the kubelet by
// changing pod statuses. The provider under test talks to it through @kubernetes/client-node and
// a real kubeconfig file: HTTPS verified against the kubeconfig's CA, and a bearer token checked
// on every request.
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FAKE_KUBE_CA_CERT, FAKE_KUBE_SERVER_CERT, FAKE_KUBE_SERVER_KEY } from "./fake-kube-tls.js";

export type Pod = {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [k: string]: unknown;
  };
  spec?: any;
  status?: any;
};

interface WatchEvent {
  rv: number;
  type: "ADDED" | "MODIFIED" | "DELETED";
  pod: Pod;
}

interface Watcher {
  namespace: string;
  selector: Record<string, string>;
  res: ServerResponse;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
}

export const FAKE_TOKEN = "fake-kube-token";

function parseSelector(raw: string | null): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (raw ?? "").split(",")) {
    if (!part) continue;
    const [k, v] = part.split("=");
    out[k!] = v ?? "";
  }
  return out;
}

function matches(pod: Pod, namespace: string, selector: Record<string, string>): boolean {
  if (pod.metadata.namespace !== namespace) return false;
  const labels = pod.metadata.labels ?? {};
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

function status(res: ServerResponse, code: number, reason: string, message: string): void {
  res.writeHead(code, { "content-type": "application/json" });
  res.end(JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", message, reason, code }));
}

export class FakeKubeApi {
  readonly pods = new Map<string, Pod>();
  /** Bodies of pod creations exactly as they arrived on the wire. */
  readonly posted: { namespace: string; body: Pod; query: Record<string, string> }[] = [];
  readonly deleted: string[] = [];
  readonly requests: RecordedRequest[] = [];
  private readonly events: WatchEvent[] = [];
  private readonly watchers = new Set<Watcher>();
  private readonly listeners: ((type: WatchEvent["type"], pod: Pod) => void)[] = [];
  private rv = 1;
  private server!: Server;
  private dir!: string;
  url = "";
  kubeconfigPath = "";
  /** Set to end every watch stream as soon as it opens (a misbehaving proxy). */
  cutWatches = false;
  /** Set to make every call except /version fail with this HTTP status (e.g. 403 for RBAC). */
  failWith: { code: number; message: string } | undefined;

  static async start(): Promise<FakeKubeApi> {
    const api = new FakeKubeApi();
    api.server = createServer({ cert: FAKE_KUBE_SERVER_CERT, key: FAKE_KUBE_SERVER_KEY }, (req, res) => {
      api.handle(req, res).catch((e: unknown) => status(res, 500, "InternalError", String(e)));
    });
    await new Promise<void>((resolve) => api.server.listen(0, "127.0.0.1", resolve));
    api.url = `https://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
    api.dir = mkdtempSync(join(tmpdir(), "hodei-fake-kube-"));
    api.kubeconfigPath = join(api.dir, "kubeconfig");
    writeFileSync(api.kubeconfigPath, kubeconfigFor(api.url, FAKE_TOKEN));
    return api;
  }

  get openWatches(): number {
    return this.watchers.size;
  }

  /** Every change, as a kubelet would see it (a copy of the pod). */
  subscribe(listener: (type: WatchEvent["type"], pod: Pod) => void): void {
    this.listeners.push(listener);
  }

  hasPod(name: string, namespace = "default"): boolean {
    return this.pods.has(`${namespace}/${name}`);
  }

  /** Plays the kubelet: replaces the pod's status and tells the watchers. */
  setStatus(name: string, podStatus: unknown, namespace = "default"): void {
    const pod = this.pods.get(`${namespace}/${name}`);
    if (!pod) throw new Error(`fake kube api: no pod ${namespace}/${name}`);
    pod.status = podStatus;
    this.emit("MODIFIED", pod);
  }

  /** A pod that exists already (someone else's, or an orphan of a crashed control plane). */
  addPod(pod: Pod): void {
    const namespace = pod.metadata.namespace ?? "default";
    pod.metadata.namespace = namespace;
    pod.metadata.uid = randomUUID();
    pod.status ??= { phase: "Running" };
    this.pods.set(`${namespace}/${pod.metadata.name}`, pod);
    this.emit("ADDED", pod);
  }

  /** Deletes a pod behind the provider's back (kubectl delete, an eviction). */
  removePod(name: string, namespace = "default"): void {
    const pod = this.pods.get(`${namespace}/${name}`);
    if (!pod) throw new Error(`fake kube api: no pod ${namespace}/${name}`);
    this.pods.delete(`${namespace}/${name}`);
    this.emit("DELETED", pod);
  }

  /** Sends every open watch the 410 Gone an API server sends once its history no longer reaches back. */
  expireWatches(): void {
    const status = { kind: "Status", apiVersion: "v1", status: "Failure", reason: "Expired", code: 410 };
    const line = JSON.stringify({
      type: "ERROR",
      object: { ...status, message: "too old resource version" },
    });
    for (const w of this.watchers) w.res.write(`${line}\n`);
  }

  /** Ends every open watch stream, as an API server does on its timeout or restart. */
  endWatches(): void {
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
  }

  async close(): Promise<void> {
    this.endWatches();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.dir, { recursive: true, force: true });
  }

  private emit(type: WatchEvent["type"], pod: Pod): void {
    this.rv += 1;
    pod.metadata.resourceVersion = String(this.rv);
    const event: WatchEvent = { rv: this.rv, type, pod: structuredClone(pod) };
    this.events.push(event);
    for (const w of this.watchers) {
      if (matches(event.pod, w.namespace, w.selector)) this.send(w.res, event);
    }
    for (const l of this.listeners) l(type, structuredClone(event.pod));
  }

  private send(res: ServerResponse, e: WatchEvent): void {
    res.write(`${JSON.stringify({ type: e.type, object: e.pod })}\n`);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", this.url);
    const query = Object.fromEntries(url.searchParams);
    this.requests.push({ method: req.method ?? "", path: url.pathname, query });
    if (req.headers.authorization !== `Bearer ${FAKE_TOKEN}`) {
      return status(res, 401, "Unauthorized", "Unauthorized");
    }
    if (req.method === "GET" && url.pathname === "/version") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({ major: "1", minor: "31", gitVersion: "v1.31.0-fake", platform: "linux/amd64" }),
      );
      return;
    }
    if (this.failWith) return status(res, this.failWith.code, "Forbidden", this.failWith.message);
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods(?:\/([^/]+))?$/.exec(url.pathname);
    if (!m) return status(res, 404, "NotFound", `the server could not find the requested resource`);
    const namespace = decodeURIComponent(m[1]!);
    const name = m[2] ? decodeURIComponent(m[2]) : undefined;
    if (req.method === "GET" && !name) return this.listOrWatch(url, namespace, res);
    if (req.method === "POST" && !name) return this.create(req, namespace, query, res);
    if (req.method === "DELETE" && name) return this.remove(namespace, name, res);
    return status(res, 405, "MethodNotAllowed", `${req.method} ${url.pathname} is not supported here`);
  }

  private listOrWatch(url: URL, namespace: string, res: ServerResponse): void {
    const selector = parseSelector(url.searchParams.get("labelSelector"));
    if (url.searchParams.get("watch") === "true") {
      res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
      // As the real one does: the response starts at once, events follow as they happen.
      res.flushHeaders();
      const from = Number(url.searchParams.get("resourceVersion") ?? this.rv);
      for (const e of this.events) {
        if (e.rv > from && matches(e.pod, namespace, selector)) this.send(res, e);
      }
      if (this.cutWatches) {
        res.end();
        return;
      }
      const w: Watcher = { namespace, selector, res };
      this.watchers.add(w);
      res.on("close", () => this.watchers.delete(w));
      return;
    }
    const items = [...this.pods.values()].filter((p) => matches(p, namespace, selector));
    const limit = Number(url.searchParams.get("limit") ?? 0);
    res.writeHead(200, { "content-type": "application/json" });
    res.end(
      JSON.stringify({
        kind: "PodList",
        apiVersion: "v1",
        metadata: { resourceVersion: String(this.rv) },
        items: limit > 0 ? items.slice(0, limit) : items,
      }),
    );
  }

  private async create(
    req: IncomingMessage,
    namespace: string,
    query: Record<string, string>,
    res: ServerResponse,
  ): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let body: Pod;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Pod;
    } catch {
      return status(res, 400, "BadRequest", "request body is not JSON");
    }
    this.posted.push({ namespace, body: structuredClone(body), query });
    const name = body.metadata?.name;
    if (!name) return status(res, 422, "Invalid", "Pod is invalid: metadata.name: Required value");
    if (this.pods.has(`${namespace}/${name}`)) {
      return status(res, 409, "AlreadyExists", `pods "${name}" already exists`);
    }
    const pod: Pod = {
      ...body,
      metadata: {
        ...body.metadata,
        namespace,
        uid: randomUUID(),
        creationTimestamp: new Date().toISOString(),
      },
      status: { phase: "Pending" },
    };
    this.pods.set(`${namespace}/${name}`, pod);
    this.emit("ADDED", pod);
    res.writeHead(201, { "content-type": "application/json" });
    res.end(JSON.stringify(pod));
  }

  private remove(namespace: string, name: string, res: ServerResponse): void {
    const pod = this.pods.get(`${namespace}/${name}`);
    this.deleted.push(name);
    if (!pod) return status(res, 404, "NotFound", `pods "${name}" not found`);
    this.pods.delete(`${namespace}/${name}`);
    this.emit("DELETED", pod);
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(pod));
  }
}

export function kubeconfigFor(server: string, token: string): string {
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: fake",
    "  cluster:",
    `    server: ${server}`,
    `    certificate-authority-data: ${Buffer.from(FAKE_KUBE_CA_CERT).toString("base64")}`,
    "users:",
    "- name: tester",
    "  user:",
    `    token: ${token}`,
    "contexts:",
    "- name: fake",
    "  context:",
    "    cluster: fake",
    "    user: tester",
    "current-context: fake",
    "",
  ].join("\n");
}
