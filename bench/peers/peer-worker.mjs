// Entry of a peer's worker process (see peer-process.mjs): `node peer-worker.mjs <system> <config>`.
const [system, json] = process.argv.slice(2);
const modules = { graphile: "./graphile.mjs", "pg-boss": "./pg-boss.mjs", bullmq: "./bullmq.mjs" };

try {
  if (!modules[system]) throw new Error(`unknown system ${system}`);
  const { startWorker } = await import(modules[system]);
  const worker = await startWorker(JSON.parse(json));
  process.on("message", async (m) => {
    if (!m?.stop) return;
    await worker.stop();
    process.exit(0);
  });
  process.on("disconnect", () => process.exit(1)); // the bench went away
  process.send({ ready: true });
} catch (err) {
  process.send?.({ error: String(err?.stack ?? err) });
  process.exit(1);
}
