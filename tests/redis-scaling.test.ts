import * as assert from "assert";
import { spawn } from "child_process";
import * as path from "path";
import { redisScripts } from "../components/redisCluster";
import { projectRoot } from "../harness/stackConfig";
import { clusterInfo, clusterNodes, RedisNode, redisCli, runAsset, standinDns, startRedisNodes, stopRedisNodes, testPassword } from "./support/redis";

/**
 * The scale-in script (before the StatefulSet update) and the reconcile script (after it) run for
 * real against redis-server processes on loopback, as the Jobs run them: the cluster grows 6 -> 8
 * nodes and shrinks back to 6 with one replica per master, keys written before are all read back
 * after, and every slot is served at every step and while each script runs.
 */

type Script = (typeof redisScripts)[keyof typeof redisScripts];

interface ScriptRun {
    status: number | null;
    stdout: string;
    stderr: string;
    /** Polls of the cluster made while the script ran. */
    polls: number;
    /** What went wrong in a poll: a slot not served, a key not readable. */
    lapses: string[];
}

const env = (nodes: RedisNode[], replicas: number) => ({
    REDIS_NODES: nodes.map((n) => n.address).join(" "),
    REDIS_REPLICAS: String(replicas),
    WAIT_SECONDS: "60",
});

/**
 * Runs a shipped script like `runAsset`, and meanwhile polls `watch` every 150 ms: every slot
 * must stay served and one of `keys` (in turn) must stay readable.
 */
function runWatched(script: Script, scriptEnv: Record<string, string>, watch: RedisNode, keys: string[]): Promise<ScriptRun> {
    return new Promise((resolve) => {
        const child = spawn("sh", [path.join(projectRoot, "components", "assets", script)], {
            env: { PATH: process.env.PATH ?? "/usr/bin:/bin", REDISCLI_AUTH: testPassword, ...scriptEnv },
        });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        const lapses: string[] = [];
        let polls = 0;
        const poll = () => {
            const info = clusterInfo(watch);
            if (info.cluster_state !== "ok" || info.cluster_slots_ok !== "16384") {
                lapses.push(`poll ${polls}: state ${info.cluster_state}, ${info.cluster_slots_ok} slots ok`);
            }
            const key = keys[polls % keys.length];
            const value = redisCli(watch, "-c", "GET", key);
            if (value !== valueOf(key)) {
                lapses.push(`poll ${polls}: GET ${key} returned ${JSON.stringify(value)}`);
            }
            polls++;
        };
        poll();
        const timer = setInterval(poll, 150);
        child.on("close", (status) => {
            clearInterval(timer);
            resolve({ status, stdout, stderr, polls, lapses });
        });
    });
}

const valueOf = (key: string) => `value-of-${key}`;

function writeKeys(node: RedisNode, count: number): string[] {
    const keys = Array.from({ length: count }, (_, i) => `appointment:${i}:{${i % 97}}`);
    for (const key of keys) {
        assert.strictEqual(redisCli(node, "-c", "SET", key, valueOf(key)), "OK", key);
    }
    return keys;
}

function assertKeys(node: RedisNode, keys: string[]): void {
    const missing = keys.filter((key) => redisCli(node, "-c", "GET", key) !== valueOf(key));
    assert.deepStrictEqual(missing, [], `every key is still readable through ${node.address}`);
}

/** Every node of `nodes` sees all 16384 slots served by exactly `nodes.length` nodes. */
function assertCoverage(nodes: RedisNode[]): void {
    for (const node of nodes) {
        const info = clusterInfo(node);
        assert.strictEqual(info.cluster_state, "ok", `${node.address} state`);
        assert.strictEqual(info.cluster_slots_assigned, "16384", `${node.address} slots assigned`);
        assert.strictEqual(info.cluster_slots_ok, "16384", `${node.address} slots ok`);
        assert.strictEqual(info.cluster_known_nodes, String(nodes.length), `${node.address} known nodes`);
    }
}

/** The cluster's shape: masters holding slots, with how many replicas and slots each. */
function shape(node: RedisNode) {
    const view = clusterNodes(node);
    const masters = view.filter((n) => n.role === "master" && n.slots > 0);
    return {
        nodes: view.length,
        masters: masters.length,
        emptyMasters: view.filter((n) => n.role === "master" && n.slots === 0).length,
        replicasPerMaster: masters.map((m) => view.filter((r) => r.role === "replica" && r.masterId === m.id).length),
        slots: masters.map((m) => m.slots),
        view,
    };
}

function assertBalanced(slots: number[]): void {
    const ideal = 16384 / slots.length;
    for (const count of slots) {
        assert.ok(Math.abs(count - ideal) <= ideal * 0.02, `slots ${slots.join(", ")} are within 2% of ${ideal}`);
    }
}

function assertWatched(run: ScriptRun): void {
    assert.strictEqual(run.status, 0, run.stderr + run.stdout);
    assert.ok(run.polls > 0, "the cluster was polled while the script ran");
    assert.deepStrictEqual(run.lapses, [], "every slot served and every key readable throughout");
}

const idOf = (node: RedisNode) => redisCli(node, "CLUSTER", "MYID");
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitUntil(check: () => boolean, what: string): Promise<void> {
    for (let i = 0; i < 200; i++) {
        if (check()) {
            return;
        }
        await wait(100);
    }
    throw new Error(`timed out waiting until ${what}`);
}

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
