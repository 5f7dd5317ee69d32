import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { WorkerAgent, workerConfigFromEnv } from "../src/index.js";
import { silentLogger } from "../src/logger.js";
import { HarnessControlPlane } from "./harness-control-plane.js";

const dir = mkdtempSync(join(tmpdir(), "hodei-worker-tls-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function openssl(...args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
}

/** A throwaway CA, a server certificate for localhost and a client certificate, all signed by the CA. */
function makePki(): void {
  openssl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=test-ca",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
  );
  writeFileSync(join(dir, "san.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  for (const name of ["server", "client"]) {
    openssl(
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-subj",
      `/CN=${name === "server" ? "localhost" : "worker"}`,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
    );
    openssl(
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-days",
      "1",
      "-extfile",
      "san.ext",
      "-out",
      `${name}.pem`,
    );
  }
}

test("against a harness control plane over mTLS: the worker presents its client certificate and registers", async (t) => {
  try {
    makePki();
  } catch {
    t.skip("openssl not available");
    return;
  }
  const read = (f: string): Buffer => readFileSync(join(dir, f));
  const credentials = grpc.ServerCredentials.createSsl(
    read("ca.pem"),
    [{ private_key: read("server.key"), cert_chain: read("server.pem") }],
    true,
  );
  const cp = await HarnessControlPlane.start({ credentials });
  t.after(() => cp.kill());
  const config = workerConfigFromEnv({
    HODEI_OTP_TOKEN: "otp-tls",
    HODEI_SERVER_ADDRESS: `localhost:${cp.port}`,
    HODEI_CA_CERT_PATH: join(dir, "ca.pem"),
    HODEI_CLIENT_CERT_PATH: join(dir, "client.pem"),
    HODEI_CLIENT_KEY_PATH: join(dir, "client.key"),
  });
  const agent = new WorkerAgent(config, silentLogger);
  t.after(() => agent.stop());
  await agent.start();
  await cp.waitFor(() => cp.messages("hello")[0], "hello over TLS");
  assert.equal(cp.registrations[0]!.authToken, "otp-tls");
});
