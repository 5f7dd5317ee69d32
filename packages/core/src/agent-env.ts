// NODE_EXTRA_CA_CERTS and the worker agent. Node 20 builds its whole TLS trust store as it starts
// when the variable is set (its bundled roots and the file's), whether or not the process ever opens
// a TLS connection: 40-50 ms of every start here, a third of a bare `node -e 0`. An agent needs
// that store only to reach its control plane over TLS without a CA of its own (an https://
// address and no HODEI_CA_CERT_PATH); its jobs may need the variable for their own node processes.
// So a provider that passes the agent its own environment moves the variable aside for the agent,
// which puts it back for its jobs.

/** The name the variable travels under to the agent. */
export const DEFERRED_NODE_CA_VARIABLE = "HODEI_JOB_NODE_EXTRA_CA_CERTS";

/**
 * Moves NODE_EXTRA_CA_CERTS in `env` (an agent's environment about to be started) aside, unless the
 * agent would use the default trust store itself: an https:// address without a CA file.
 */
export function deferNodeCaCerts(env: Record<string, string | undefined>): void {
  const file = env.NODE_EXTRA_CA_CERTS;
  if (file === undefined) return;
  const usesDefaultStore = (env.HODEI_SERVER_ADDRESS ?? "").startsWith("https://") && !env.HODEI_CA_CERT_PATH;
  if (usesDefaultStore) return;
  delete env.NODE_EXTRA_CA_CERTS;
  env[DEFERRED_NODE_CA_VARIABLE] = file;
}

/** In the agent: gives NODE_EXTRA_CA_CERTS back to `env`, which its jobs inherit. */
export function restoreNodeCaCerts(env: Record<string, string | undefined>): void {
  const file = env[DEFERRED_NODE_CA_VARIABLE];
  if (file === undefined) return;
  delete env[DEFERRED_NODE_CA_VARIABLE];
  env.NODE_EXTRA_CA_CERTS = file;
}
