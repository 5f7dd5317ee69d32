import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * How a job's secrets reach its process: one JSON object on stdin (the default), one 0400 file per
 * secret in a private directory, or (asked for explicitly) environment variables.
 */
export type SecretDelivery = "stdin" | "files" | "env";

/** A job asks for a delivery with this variable in its `environment`. */
export const SECRET_DELIVERY_VARIABLE = "HODEI_SECRETS_DELIVERY";
/** Set to `1` in the job's environment when its secrets come on stdin. */
export const SECRETS_VIA_STDIN_VARIABLE = "HODEI_SECRETS_VIA_STDIN";
/** The directory holding the secret files, in the job's environment when they come as files. */
export const SECRETS_DIR_VARIABLE = "HODEI_SECRETS_DIR";

const DELIVERIES: readonly SecretDelivery[] = ["stdin", "files", "env"];
/** A name that is both an environment variable name and a plain file name. */
const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_NAME_LENGTH = 255;

export type DeliveryPlan = { mode: SecretDelivery | "none" } | { problem: string };

/**
 * Decides how a job's secrets are delivered, or why they cannot be. A job with its own `stdin`
 * gets them as files unless it asks otherwise; asking for stdin then is a conflict.
 */
export function planSecretDelivery(
  secrets: Record<string, string>,
  environment: Record<string, string>,
  hasOwnStdin: boolean,
): DeliveryPlan {
  const names = Object.keys(secrets);
  if (names.length === 0) return { mode: "none" };
  for (const name of names) {
    if (!SECRET_NAME.test(name) || name.length > MAX_NAME_LENGTH) {
      return {
        problem: `invalid secret name ${JSON.stringify(name)}: a name is 1-${MAX_NAME_LENGTH} characters of [A-Za-z0-9_], not starting with a digit`,
      };
    }
  }
  const asked = (environment[SECRET_DELIVERY_VARIABLE] ?? "").trim().toLowerCase();
  if (asked === "") return { mode: hasOwnStdin ? "files" : "stdin" };
  const mode = DELIVERIES.find((d) => d === asked);
  if (!mode) {
    return {
      problem: `${SECRET_DELIVERY_VARIABLE}=${JSON.stringify(environment[SECRET_DELIVERY_VARIABLE])} is not one of ${DELIVERIES.join(", ")}`,
    };
  }
  if (mode === "stdin" && hasOwnStdin) {
    return {
      problem: `secrets cannot come on stdin: the job has its own stdin (use ${SECRET_DELIVERY_VARIABLE}=files)`,
    };
  }
  if (mode === "env") {
    const bad = names.find((n) => secrets[n]!.includes("\0"));
    if (bad) return { problem: `secret ${bad} holds a NUL byte, which an environment variable cannot` };
  }
  return { mode };
}

/** The stdin of a job whose secrets come on stdin: one JSON object (keys sorted), a newline, EOF. */
export function secretsJson(secrets: Record<string, string>): string {
  const sorted: Record<string, string> = {};
  for (const name of Object.keys(secrets).sort()) sorted[name] = secrets[name]!;
  return `${JSON.stringify(sorted)}\n`;
}

/** Secrets made available to a job; `cleanup()` once it has ended. */
export interface DeliveredSecrets {
  /** Laid over the job's environment; `undefined` removes a variable. */
  env: Record<string, string | undefined>;
  /** The job's whole stdin, when its secrets come on stdin. */
  stdin?: string;
  /** The private directory, when they come as files. */
  dir?: string;
  cleanup(): Promise<void>;
}

/**
 * Writes each secret to a file named after it (mode 0400) in a new directory under the OS temp
 * directory (mode 0700, as `mkdtemp` makes it). `cleanup()` removes the directory and whatever the
 * job left in it.
 */
export async function writeSecretFiles(
  secrets: Record<string, string>,
): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "hodei-secrets-"));
  const cleanup = async (): Promise<void> => {
    // A job may have taken its own permissions away; the worker owns the directory and gives them back.
    await chmod(dir, 0o700).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (const [name, value] of Object.entries(secrets)) {
      await writeFile(join(dir, name), value, { mode: 0o400, flag: "wx" });
    }
  } catch (err) {
    await cleanup();
    throw err;
  }
  return { dir, cleanup };
}

/** Makes the secrets available the planned way. */
export async function deliverSecrets(
  mode: SecretDelivery | "none",
  secrets: Record<string, string>,
): Promise<DeliveredSecrets> {
  // Whatever the worker inherited or the job set, these say how this job's secrets came.
  const env: Record<string, string | undefined> = {
    [SECRETS_VIA_STDIN_VARIABLE]: undefined,
    [SECRETS_DIR_VARIABLE]: undefined,
  };
  const nothing = async (): Promise<void> => {};
  switch (mode) {
    case "none":
      return { env, cleanup: nothing };
    case "env":
      return { env: { ...secrets, ...env }, cleanup: nothing };
    case "stdin":
      env[SECRETS_VIA_STDIN_VARIABLE] = "1";
      return { env, stdin: secretsJson(secrets), cleanup: nothing };
    case "files": {
      const files = await writeSecretFiles(secrets);
      env[SECRETS_DIR_VARIABLE] = files.dir;
      return { env, dir: files.dir, cleanup: files.cleanup };
    }
  }
}
