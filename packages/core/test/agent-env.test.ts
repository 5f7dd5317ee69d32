import { test } from "node:test";
import assert from "node:assert/strict";
import { DEFERRED_NODE_CA_VARIABLE, deferNodeCaCerts, restoreNodeCaCerts } from "../src/index.js";

test("NODE_EXTRA_CA_CERTS travels aside to an agent that has no use for it, and comes back for its jobs", () => {
  const env: Record<string, string | undefined> = {
    NODE_EXTRA_CA_CERTS: "/etc/extra.pem",
    HODEI_SERVER_ADDRESS: "127.0.0.1:50051",
  };
  deferNodeCaCerts(env);
  assert.deepEqual(env, {
    HODEI_SERVER_ADDRESS: "127.0.0.1:50051",
    [DEFERRED_NODE_CA_VARIABLE]: "/etc/extra.pem",
  });
  restoreNodeCaCerts(env);
  assert.deepEqual(env, { HODEI_SERVER_ADDRESS: "127.0.0.1:50051", NODE_EXTRA_CA_CERTS: "/etc/extra.pem" });
});

test("an agent that trusts its control plane through the default store keeps NODE_EXTRA_CA_CERTS", () => {
  const tls = { NODE_EXTRA_CA_CERTS: "/etc/extra.pem", HODEI_SERVER_ADDRESS: "https://cp.example:443" };
  deferNodeCaCerts(tls);
  assert.equal(tls.NODE_EXTRA_CA_CERTS, "/etc/extra.pem", "https:// without a CA file of its own");
  const ownCa = { ...tls, HODEI_CA_CERT_PATH: "/etc/hodei/ca.pem" };
  deferNodeCaCerts(ownCa);
  assert.equal(ownCa.NODE_EXTRA_CA_CERTS, undefined, "its own CA replaces the default store");
  const none: Record<string, string | undefined> = { HODEI_SERVER_ADDRESS: "127.0.0.1:1" };
  deferNodeCaCerts(none);
  restoreNodeCaCerts(none);
  assert.deepEqual(none, { HODEI_SERVER_ADDRESS: "127.0.0.1:1" }, "nothing to move");
});
