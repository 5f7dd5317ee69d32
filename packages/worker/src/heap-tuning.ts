/** The V8 flag that keeps the young generation at its initial size (see `tuneHeapForStreaming`). */
export const STREAMING_HEAP_FLAG = "--semi-space-growth-factor=1";

/**
 * Keeps V8's young generation at its initial size in the worker process. A job's output passes
 * through off-heap buffers (pipe reads, gRPC frames) that are freed only when a scavenge collects
 * their small JS handles; with the default growth the young generation reaches 16 MB and scavenges
 * become rare, so garbage buffers pile up. Measured with `seq 1000000`: peak RSS about 79 MB instead
 * of about 95 MB, at the same throughput. A heuristic tunable, safe to change at run time; done by
 * the process entry points (`hodei worker`, the code-cache loader), never by the library.
 *
 * Providers pass the flag on node's command line (WORKER_NODE_FLAGS), and then there is nothing to
 * do: loading `node:v8` to set it costs a cold start 3-4 ms. A worker started by hand gets it here.
 *
 * V8 keys a code cache to its flags as they are when the cache is made and when it is read, this one
 * included: the loader sets it before compiling, so that the two agree (code-cache.ts).
 */
export function tuneHeapForStreaming(): void {
  if (process.execArgv.includes(STREAMING_HEAP_FLAG)) return;
  process.getBuiltinModule("node:v8").setFlagsFromString(STREAMING_HEAP_FLAG);
}
