import type Docker from "dockerode";

/** How long a failed pull is remembered, so a burst of jobs naming a missing image costs one try. */
const FAILED_PULL_TTL_MS = 30_000;

/** `alpine` → `alpine:latest`; names with a tag or digest unchanged. */
export function normalizeImage(image: string): string {
  if (image.includes("@")) return image;
  const lastSlash = image.lastIndexOf("/");
  return image.lastIndexOf(":") > lastSlash ? image : `${image}:latest`;
}

// Docker's reference grammar, loosely: lower-case path components, optional registry host:port,
// tag, digest. Precise enough to refuse junk with a clear message before asking the engine.
const REFERENCE =
  /^(?:[a-zA-Z0-9.-]+(?::\d+)?\/)?[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

export function isImageReference(image: string): boolean {
  return image.length <= 255 && (REFERENCE.test(image) || /^(?:sha256:)?[a-f0-9]{12,64}$/.test(image));
}

function status(err: unknown): number | undefined {
  return (err as { statusCode?: number }).statusCode;
}

function shortMessage(err: unknown): string {
  const e = err as { json?: { message?: string }; message?: string };
  return (e.json?.message ?? e.message ?? String(err)).split("\n")[0]!.trim();
}

/** The engine's local images, kept fresh by image events, and the queue-time check of an image. */
export class ImageCatalog {
  private tags = new Set<string>();
  private sorted: string[] = [];
  private readonly failedPulls = new Map<string, { atMs: number; message: string }>();
  private readonly checking = new Map<string, Promise<string | null>>();

  constructor(
    private readonly docker: Docker,
    private readonly pullTimeoutMs: number,
  ) {}

  /** Local tags as of the last refresh (image events refresh it). */
  list(): string[] {
    return this.sorted;
  }

  async refresh(): Promise<void> {
    const images = await this.docker.listImages();
    const tags = new Set<string>();
    for (const img of images) for (const t of img.RepoTags ?? []) if (t !== "<none>:<none>") tags.add(t);
    this.tags = tags;
    this.sorted = [...tags].sort();
    // Something was tagged, loaded or pulled: an image that failed before may be there now.
    this.failedPulls.clear();
  }

  /** Null when a container can be created from `image`; otherwise a message naming it. */
  check(image: string): Promise<string | null> {
    if (!isImageReference(image)) return Promise.resolve(`image "${image}" is not a valid image reference`);
    const name = normalizeImage(image);
    if (this.tags.has(name)) return Promise.resolve(null);
    const inflight = this.checking.get(name);
    if (inflight) return inflight;
    const p = this.checkOnEngine(image, name).finally(() => this.checking.delete(name));
    this.checking.set(name, p);
    return p;
  }

  private async checkOnEngine(image: string, name: string): Promise<string | null> {
    try {
      await this.docker.getImage(image).inspect();
      if (!image.includes("@") && !/^(?:sha256:)?[a-f0-9]{12,64}$/.test(image)) this.tags.add(name);
      return null;
    } catch (err) {
      if (status(err) !== 404)
        return `image ${image}: the Docker engine could not be asked: ${shortMessage(err)}`;
    }
    if (this.pullTimeoutMs === 0) {
      return `image ${image} not found on the Docker engine (pulling is off: HODEI_DOCKER_PULL_TIMEOUT=0); load it there first (docker pull, load or import)`;
    }
    const failed = this.failedPulls.get(name);
    if (failed && Date.now() - failed.atMs < FAILED_PULL_TTL_MS) return failed.message;
    const message = await this.pull(image);
    if (message === null) this.tags.add(name);
    else this.failedPulls.set(name, { atMs: Date.now(), message });
    return message;
  }

  private async pull(image: string): Promise<string | null> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.pullTimeoutMs);
    try {
      const progress = await this.docker.pull(image, { abortSignal: abort.signal });
      const out = await new Promise<{ error?: string }[]>((resolve, reject) => {
        abort.signal.addEventListener("abort", () => reject(new Error("aborted")), { once: true });
        this.docker.modem.followProgress(progress, (err: Error | null, res: { error?: string }[]) =>
          err ? reject(err) : resolve(res),
        );
      });
      const failed = out.find((m) => m.error);
      if (failed) throw new Error(failed.error);
      return null;
    } catch (err) {
      if (abort.signal.aborted) {
        return `image ${image} not found on the Docker engine, and pulling it did not finish within ${this.pullTimeoutMs} ms (no registry reachable?); load it there first (docker pull, load or import)`;
      }
      return `image ${image} not found on the Docker engine, and pulling it failed: ${shortMessage(err)}`;
    } finally {
      clearTimeout(timer);
    }
  }
}
