import type { V1ContainerStatus, V1Pod } from "@kubernetes/client-node";
import type { HandleStatus } from "../provider.js";
import { AGENT_INIT_CONTAINER, WORKER_CONTAINER } from "./pod-manifest.js";

/** What a pod's status says about its worker. */
export interface PodObservation {
  status: HandleStatus;
  /** Set once the worker is over, or can never start (its image cannot be pulled). */
  exit?: { code: number | null; signal: string | null; reason?: string };
  /** Why a pending pod is not scheduled yet (e.g. "Unschedulable: 0/3 nodes are available: …"). */
  waiting?: string;
}

/** Waiting reasons after which a container never starts without someone changing the pod. */
const IMAGE_PULL_REASONS = new Set([
  "ErrImagePull",
  "ImagePullBackOff",
  "InvalidImageName",
  "ErrImageNeverPull",
]);
const NEVER_STARTS_REASONS = new Set(["CreateContainerConfigError", "CreateContainerError"]);

function detail(reason: string | undefined, message: string | undefined): string {
  return [reason, message].filter((s) => s && s.trim() !== "").join(": ");
}

function stuck(statuses: V1ContainerStatus[] | undefined, role: "agent" | "worker"): string | undefined {
  for (const s of statuses ?? []) {
    const reason = s.state?.waiting?.reason;
    if (!reason) continue;
    const why = detail(reason, s.state?.waiting?.message);
    if (IMAGE_PULL_REASONS.has(reason))
      return `image pull failed for ${role === "agent" ? "agent image" : "image"} ${s.image}: ${why}`;
    if (NEVER_STARTS_REASONS.has(reason)) return `${role} container could not be created: ${why}`;
  }
  return undefined;
}

function failure(pod: V1Pod): string {
  const st = pod.status;
  const agent = st?.initContainerStatuses?.find((s) => s.name === AGENT_INIT_CONTAINER);
  const agentEnd = agent?.state?.terminated;
  if (agentEnd && agentEnd.exitCode !== 0) {
    return `pod failed: copying the agent from ${agent.image} exited with code ${agentEnd.exitCode}${
      agentEnd.message ? `: ${agentEnd.message}` : ""
    }`;
  }
  const end = st?.containerStatuses?.find((s) => s.name === WORKER_CONTAINER)?.state?.terminated;
  const why = detail(end?.reason ?? st?.reason, end?.message ?? st?.message);
  const code = end ? ` (exit code ${end.exitCode})` : "";
  return `pod failed${why ? `: ${why}` : ""}${code}`;
}

/** Maps a pod (as the watch reports it) to the worker's state and, when it is over, its exit. */
export function observePod(pod: V1Pod): PodObservation {
  const st = pod.status;
  const end = st?.containerStatuses?.find((s) => s.name === WORKER_CONTAINER)?.state?.terminated;
  const signal = end?.signal ? String(end.signal) : null;
  switch (st?.phase) {
    case "Succeeded":
      return { status: "exited", exit: { code: end?.exitCode ?? 0, signal } };
    case "Failed":
      return { status: "exited", exit: { code: end?.exitCode ?? null, signal, reason: failure(pod) } };
    case "Running":
      return { status: "running" };
    default: {
      const reason = stuck(st?.initContainerStatuses, "agent") ?? stuck(st?.containerStatuses, "worker");
      if (reason) return { status: "exited", exit: { code: null, signal: null, reason } };
      const scheduled = st?.conditions?.find((c) => c.type === "PodScheduled");
      if (scheduled?.status === "False") {
        return {
          status: "starting",
          waiting: detail(scheduled.reason, scheduled.message) || "not scheduled",
        };
      }
      return { status: "starting" };
    }
  }
}
