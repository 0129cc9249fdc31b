import * as assert from "assert";
import { redisScripts } from "../../components/redisCluster";
import { redisCli, runAsset, standinDns, startRedisNodes, stopRedisNodes } from "../support/redis";
import { assertBalanced, assertCoverage, assertKeys, assertWatched, env, runWatched, shape, waitUntil, writeKeys } from "../support/redisScaling";

/**
 * The local stack's single node grows to a cluster and back, and the scale-in script's guards: a
 * cluster from before pod names were announced, a fresh install, a DNS that does not answer.
 * (Split from redis-scaling.test.ts so that the files run in parallel.)
 */
describe("Redis Cluster scaling scripts, against real redis-server processes: one node and the scale-in guards", function () {
    this.timeout(300000);

    it("a single node (the local stack) grows to 3 masters and shrinks back, keeping every key", async () => {
        const nodes = await startRedisNodes(3);
        try {
            assert.strictEqual(runAsset(redisScripts.reconcile, env(nodes.slice(0, 1), 0)).status, 0);
            const keys = writeKeys(nodes[0], 200);
            const grow = await runWatched(redisScripts.reconcile, env(nodes, 0), nodes[0], keys);
            assertWatched(grow);
            assert.deepStrictEqual([shape(nodes[0]).masters, shape(nodes[0]).nodes], [3, 3]);
            assertBalanced(shape(nodes[0]).slots);
            assertCoverage(nodes);
            const shrink = await runWatched(redisScripts.scaleIn, env(nodes.slice(0, 1), 0), nodes[0], keys);
            assertWatched(shrink);
            assertCoverage(nodes.slice(0, 1));
            assert.strictEqual(shape(nodes[0]).slots[0], 16384);
            assertKeys(nodes[0], keys);
        } finally {
            await stopRedisNodes(nodes);
        }
    });

    it("scale-in lets a cluster from before pod names were announced through an upgrade, and drains none of its nodes blindly", async () => {
        const nodes = await startRedisNodes(3);
        try {
            assert.strictEqual(runAsset(redisScripts.reconcile, env(nodes, 0)).status, 0);
            for (const node of nodes) {
                assert.strictEqual(redisCli(node, "CONFIG", "SET", "cluster-announce-hostname", ""), "OK");
            }
            await waitUntil(() => !/,redis-cluster-/.test(redisCli(nodes[0], "CLUSTER", "NODES")), "no node announces a pod name");
            const same = runAsset(redisScripts.scaleIn, env(nodes, 0));
            assert.strictEqual(same.status, 0, same.stderr);
            assert.match(same.stdout, /no node above the desired 3: nothing to drain/);
            const fewer = runAsset(redisScripts.scaleIn, { ...env(nodes.slice(0, 1), 0), WAIT_SECONDS: "3" });
            assert.notStrictEqual(fewer.status, 0);
            assert.match(fewer.stderr, /announce no pod name .*cannot tell which nodes leave; nothing was changed/);
            assert.deepStrictEqual(shape(nodes[0]).slots.length, 3);
        } finally {
            await stopRedisNodes(nodes);
        }
    });

    const freshNames = ["redis-cluster-0", "redis-cluster-1", "redis-cluster-2"].map((n) => `${n}.redis-cluster-headless.test.svc.cluster.local:6379`);

    it("scale-in on a fresh install: no pod name resolves yet while the DNS answers, so it exits at once without waiting", () => {
        const result = runAsset(redisScripts.scaleIn, { REDIS_NODES: freshNames.join(" "), REDIS_REPLICAS: "0", WAIT_SECONDS: "300", ...standinDns() });
        assert.strictEqual(result.status, 0, result.stderr);
        assert.match(result.stdout, /no node of the cluster exists yet: nothing to drain/);
    });

    it("scale-in fails loudly, and drains nothing, when the cluster DNS does not answer: cannot resolve is not does not exist", () => {
        const result = runAsset(redisScripts.scaleIn, { REDIS_NODES: freshNames.join(" "), REDIS_REPLICAS: "0", WAIT_SECONDS: "300", ...standinDns({}, false) });
        assert.notStrictEqual(result.status, 0);
        assert.match(
            result.stderr,
            /cannot resolve redis-cluster-0\.redis-cluster-headless\.test\.svc\.cluster\.local: the cluster DNS does not answer \(kubernetes\.default\.svc\.cluster\.local does not resolve\)/,
        );
        assert.doesNotMatch(result.stdout, /nothing to drain/);
    });

    it("scale-in refuses a topology that cannot form a cluster before touching any node", () => {
        const result = runAsset(redisScripts.scaleIn, { REDIS_NODES: "127.0.0.1:1 127.0.0.1:2 127.0.0.1:3 127.0.0.1:4", REDIS_REPLICAS: "1" });
        assert.notStrictEqual(result.status, 0);
        assert.match(result.stderr, /4 nodes with 1 replicas per master cannot form a cluster/);
    });
});
