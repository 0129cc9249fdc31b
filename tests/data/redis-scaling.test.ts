import * as assert from "assert";
import { redisScripts } from "../../components/redisCluster";
import { clusterInfo, clusterNodes, RedisNode, redisCli, runAsset, startRedisNodes, stopRedisNodes } from "../support/redis";
import { assertBalanced, assertCoverage, assertKeys, assertWatched, env, idOf, runWatched, shape, waitUntil, writeKeys } from "../support/redisScaling";

/**
 * The scale-in script (before the StatefulSet update) and the reconcile script (after it) run for
 * real against redis-server processes on loopback, as the Jobs run them: the cluster grows 6 -> 8
 * nodes and shrinks back to 6 with one replica per master, keys written before are all read back
 * after, and every slot is served at every step and while each script runs.
 */
describe("Redis Cluster scaling scripts, against real redis-server processes", function () {
    this.timeout(300000);

    describe("grow 6 -> 8 nodes and shrink back to 6, one replica per master", () => {
        let base: RedisNode[];
        let added: RedisNode[] = [];
        let keys: string[];
        before(async () => {
            base = await startRedisNodes(6);
            const formed = runAsset(redisScripts.reconcile, env(base, 1));
            assert.strictEqual(formed.status, 0, formed.stderr);
            keys = writeKeys(base[0], 400);
            assertCoverage(base);
        });
        after(async () => stopRedisNodes([...base, ...added]));

        it("scale-in before the StatefulSet grows: nothing is above the desired count, so it changes nothing", async () => {
            added = await startRedisNodes(2, 6);
            const before = shape(base[0]).view.map((n) => `${n.id} ${n.role} ${n.slots}`).sort();
            const result = runAsset(redisScripts.scaleIn, env([...base, ...added], 1));
            assert.strictEqual(result.status, 0, result.stderr);
            assert.match(result.stdout, /no node above the desired 8: nothing to drain/);
            assert.deepStrictEqual(shape(base[0]).view.map((n) => `${n.id} ${n.role} ${n.slots}`).sort(), before);
        });

        it("reconcile after it grows: the new nodes join, 4 masters with 1 replica each share the slots evenly", async () => {
            const all = [...base, ...added];
            const run = await runWatched(redisScripts.reconcile, env(all, 1), base[0], keys);
            assertWatched(run);
            assert.match(run.stdout, /joining 127\.0\.0\.1:\d+/);
            const grown = shape(base[0]);
            assert.deepStrictEqual([grown.nodes, grown.masters, grown.emptyMasters], [8, 4, 0]);
            assert.deepStrictEqual(grown.replicasPerMaster, [1, 1, 1, 1]);
            assertBalanced(grown.slots);
            assertCoverage(all);
            assertKeys(added[1], keys);
            for (const node of all) {
                if (redisCli(node, "INFO", "replication").includes("role:slave")) {
                    assert.match(redisCli(node, "INFO", "replication"), /master_link_status:up/, `${node.address} synced`);
                }
            }
        });

        it("reconcile again: the cluster already has the desired shape, nothing to do", () => {
            const result = runAsset(redisScripts.reconcile, env([...base, ...added], 1));
            assert.strictEqual(result.status, 0, result.stderr);
            assert.match(result.stdout, /cluster already formed: 8 nodes, state ok; nothing to do/);
        });

        it("scale-in refuses, and changes nothing, when the staying masters lack the memory for the leaving slots", async () => {
            // Put a leaving node in charge of slots: fail its shard over to it.
            const leavingMaster = added.find((n) => shape(base[0]).view.some((v) => v.address === n.address && v.role === "master" && v.slots > 0));
            assert.ok(leavingMaster, "one added node became a master holding slots");
            const stayingMasters = base.filter((n) => shape(base[0]).view.some((v) => v.address === n.address && v.role === "master" && v.slots > 0));
            const used = (node: RedisNode) => Number(/used_memory:(\d+)/.exec(redisCli(node, "INFO", "memory"))![1]);
            for (const node of stayingMasters) {
                redisCli(node, "CONFIG", "SET", "maxmemory", String(used(node) + 1024));
            }
            const before = shape(base[0]).view.map((n) => `${n.id} ${n.role} ${n.slots}`).sort();
            try {
                const result = runAsset(redisScripts.scaleIn, env(base, 1));
                assert.notStrictEqual(result.status, 0);
                assert.match(result.stderr, /draining would put about \d+ bytes on #\d \(maxmemory \d+, 90% allowed\).*nothing was moved/);
                assert.deepStrictEqual(shape(base[0]).view.map((n) => `${n.id} ${n.role} ${n.slots}`).sort(), before);
            } finally {
                for (const node of stayingMasters) {
                    redisCli(node, "CONFIG", "SET", "maxmemory", "0");
                }
            }
        });

        it("scale-in before the StatefulSet shrinks: after failovers put a leaving node in charge and a staying replica behind it, slots move off 6 and 7 and they leave", async () => {
            // Shuffle roles the way failovers do: the added replica takes over its master, and a
            // staying replica is made to follow a leaving master.
            const addedReplica = added.find((n) => redisCli(n, "INFO", "replication").includes("role:slave"))!;
            assert.strictEqual(redisCli(addedReplica, "CLUSTER", "FAILOVER"), "OK");
            await waitUntil(() => redisCli(addedReplica, "INFO", "replication").includes("role:master"), "the added replica took over");
            const stayingReplica = base.find((n) => redisCli(n, "INFO", "replication").includes("role:slave"))!;
            // It replicates only a node it knows as a master: wait for the failover to reach it by gossip.
            await waitUntil(
                () => clusterNodes(stayingReplica).find((v) => v.address === addedReplica.address)?.role === "master",
                "the staying replica knows the added one as a master",
            );
            assert.strictEqual(redisCli(stayingReplica, "CLUSTER", "REPLICATE", idOf(addedReplica)), "OK");
            await waitUntil(() => shape(base[0]).view.find((v) => v.address === stayingReplica.address)?.masterId === idOf(addedReplica), "the staying replica follows a leaving master");
            // An interrupted migration leaves a slot half-moved; the script finishes it first.
            const owner = shape(base[0]).view.find((v) => v.role === "master" && v.slots > 0 && base.some((b) => b.address === v.address))!;
            const ownerNode = base.find((b) => b.address === owner.address)!;
            const ownLine = redisCli(ownerNode, "CLUSTER", "NODES").split("\n").find((l) => l.includes("myself"))!;
            const slot = Number(ownLine.split(" ")[8].split("-")[0]);
            const importer = base.find((b) => b !== ownerNode && shape(base[0]).view.some((v) => v.address === b.address && v.role === "master" && v.slots > 0))!;
            assert.strictEqual(redisCli(importer, "CLUSTER", "SETSLOT", String(slot), "IMPORTING", idOf(ownerNode)), "OK");
            assert.strictEqual(redisCli(ownerNode, "CLUSTER", "SETSLOT", String(slot), "MIGRATING", idOf(importer)), "OK");

            const run = await runWatched(redisScripts.scaleIn, env(base, 1), base[0], keys);
            assertWatched(run);
            assert.match(run.stdout, /a slot migration was interrupted: finishing it/);
            assert.match(run.stdout, /moving the slots of #[67]/);
            assert.match(run.stdout, /now replicates/);
            assert.match(run.stdout, /drained #6 #7: 6 node\(s\) hold all 16384 slots/);
            const drained = shape(base[0]);
            assert.strictEqual(drained.nodes, 6);
            assert.ok(!drained.view.some((v) => added.some((a) => a.address === v.address)), "6 and 7 are no longer in the cluster");
            assertCoverage(base);
            assertKeys(base[5], keys);
            for (const node of added) {
                assert.strictEqual(clusterInfo(node).cluster_known_nodes, "1", `${node.address} was reset`);
                assert.strictEqual(redisCli(node, "DBSIZE"), "0", `${node.address} holds no data`);
            }
        });

        it("reconcile after it shrinks: back to 3 masters with 1 replica each, every key kept", async () => {
            await stopRedisNodes(added);
            added = [];
            const run = await runWatched(redisScripts.reconcile, env(base, 1), base[0], keys);
            assertWatched(run);
            const shrunk = shape(base[0]);
            assert.deepStrictEqual([shrunk.nodes, shrunk.masters, shrunk.emptyMasters], [6, 3, 0]);
            assert.deepStrictEqual(shrunk.replicasPerMaster, [1, 1, 1]);
            assertBalanced(shrunk.slots);
            assertCoverage(base);
            assertKeys(base[3], keys);
            const again = runAsset(redisScripts.scaleIn, env(base, 1));
            assert.match(again.stdout, /no node above the desired 6: nothing to drain/);
        });
    });
});
