import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { commandJobSpec } from "@hodei/core";
import { GroupCommitWriter, clearWaitingMessage, getJob, setWaitingMessage } from "../src/index.js";
import { backends } from "./backends.js";

const LANE = "kubernetes|hodei-test/not-here:1|0|0";

const spec = (id: string) => commandJobSpec(id, "true");

for (const backend of backends()) {
  describe(`waiting messages on ${backend.name}`, () => {
    test("a lane's waiting jobs say why in one update; the reason goes once it no longer holds", async () => {
      const db = await backend.open();
      const w = new GroupCommitWriter(db);
      await w.createJob({ spec: spec("a"), queuedBy: "t", actor: "t", lane: LANE });
      await w.createJob({ spec: spec("b"), queuedBy: "t", actor: "t", lane: LANE });
      await w.createJob({ spec: spec("elsewhere"), queuedBy: "t", actor: "t" });
      const why = "waiting for a worker: the last one failed to start: image pull failed";
      assert.equal(await setWaitingMessage(db, LANE, why), 2);
      assert.equal(await setWaitingMessage(db, LANE, why), 0, "rows already saying it are not rewritten");
      assert.equal((await getJob(db, "a"))?.message, why);
      assert.equal((await getJob(db, "elsewhere"))?.message, "", "other lanes are untouched");

      const { jobs } = await w.claim({ workerIds: ["w1"], executionIds: ["x1"], lane: LANE });
      assert.equal(jobs[0]?.id, "a");
      await w.createJob({ spec: spec("c"), queuedBy: "t", actor: "t", lane: LANE });
      assert.equal(await clearWaitingMessage(db, LANE, why), 2, "the claimed job and the waiting one");
      assert.deepEqual(
        await Promise.all(["a", "b", "c"].map(async (id) => (await getJob(db, id))?.message)),
        ["", "", ""],
      );
      await db.close();
    });
  });
}
