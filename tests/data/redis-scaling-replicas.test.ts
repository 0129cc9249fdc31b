import * as assert from "assert";
import { redisScripts } from "../../components/redisCluster";
import { runAsset, startRedisNodes, stopRedisNodes } from "../support/redis";
import { assertBalanced, assertCoverage, assertKeys, assertWatched, env, runWatched, shape, writeKeys } from "../support/redisScaling";

/** Replicas per master change on six nodes (split from redis-scaling.test.ts so that the files run in parallel). */
describe("Redis Cluster scaling scripts, against real redis-server processes: replicas per master", function () {
    this.timeout(300000);

    it("changing replicas per master on six nodes: 3 masters x 1 replica -> 6 masters -> back, keeping every key", async () => {
        const nodes = await startRedisNodes(6);
        try {
            assert.strictEqual(runAsset(redisScripts.reconcile, env(nodes, 1)).status, 0);
            const keys = writeKeys(nodes[0], 200);
            // Spare replicas are reset (their master keeps the data) and rejoin as empty masters.
            const promote = await runWatched(redisScripts.reconcile, env(nodes, 0), nodes[0], keys);
            assertWatched(promote);
            assert.match(promote.stdout, /turning replica #\d into an empty master/);
            assert.deepStrictEqual([shape(nodes[0]).masters, shape(nodes[0]).nodes], [6, 6]);
            assertBalanced(shape(nodes[0]).slots);
            assertCoverage(nodes);
            assertKeys(nodes[5], keys);
            // Extra masters are drained and become replicas.
            const demote = await runWatched(redisScripts.reconcile, env(nodes, 1), nodes[0], keys);
            assertWatched(demote);
            assert.match(demote.stdout, /6 masters hold slots, 3 wanted/);
            const back = shape(nodes[0]);
            assert.deepStrictEqual([back.masters, back.emptyMasters], [3, 0]);
            assert.deepStrictEqual(back.replicasPerMaster, [1, 1, 1]);
            assertCoverage(nodes);
            assertKeys(nodes[4], keys);
        } finally {
            await stopRedisNodes(nodes);
        }
    });
});
