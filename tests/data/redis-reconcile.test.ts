import * as assert from "assert";
import { mkdirSync, rmSync } from "fs";
import { redisScripts } from "../../components/redisCluster";
import {
    clusterInfo,
    clusterNodes,
    PodCluster,
    RedisNode,
    redisCli,
    redisCliCluster,
    runAsset,
    shippedRedisConfig,
    startRedisNodes,
    stopRedisNodes,
} from "../support/redis";

const bootstrap = (nodes: RedisNode[] | string[], replicas: number, extra: Record<string, string> = {}) =>
    runAsset(redisScripts.reconcile, {
        REDIS_NODES: nodes.map((n) => (typeof n === "string" ? n : n.address)).join(" "),
        REDIS_REPLICAS: String(replicas),
        WAIT_SECONDS: "20",
        ...extra,
    });

/** Topology without the fields that change on their own (ping times, epochs). */
const topology = (node: RedisNode) =>
    clusterNodes(node)
        .map((n) => `${n.id} ${n.role} ${n.masterId ?? "-"} ${n.slots}`)
        .sort();

describe("Redis Cluster reconcile script forming a cluster, against real redis-server processes", function () {
    this.timeout(120000);

    describe("six nodes, one replica per master", () => {
        let nodes: RedisNode[];
        before(async () => {
            nodes = await startRedisNodes(6);
        });
        after(async () => stopRedisNodes(nodes));

        it("forms the cluster: all 16384 slots covered, three masters each with one attached replica", () => {
            const result = bootstrap(nodes, 1);
            assert.strictEqual(result.status, 0, result.stderr + result.stdout);
            for (const node of nodes) {
                const info = clusterInfo(node);
                assert.strictEqual(info.cluster_state, "ok", node.address);
                assert.strictEqual(info.cluster_slots_assigned, "16384");
                assert.strictEqual(info.cluster_slots_ok, "16384");
                assert.strictEqual(info.cluster_known_nodes, "6");
            }
            const view = clusterNodes(nodes[0]);
            const masters = view.filter((n) => n.role === "master");
            const replicas = view.filter((n) => n.role === "replica");
            assert.strictEqual(masters.length, 3);
            assert.strictEqual(masters.reduce((sum, m) => sum + m.slots, 0), 16384);
            for (const master of masters) {
                assert.strictEqual(replicas.filter((r) => r.masterId === master.id).length, 1, `master ${master.address} has one replica`);
            }
            for (const replica of replicas) {
                const role = redisCli(nodes.find((n) => n.address === replica.address)!, "INFO", "replication");
                assert.match(role, /master_link_status:up/, `replica ${replica.address} is attached`);
            }
        });

        it("serves keys across every slot owner", () => {
            for (let i = 0; i < 50; i++) {
                assert.strictEqual(redisCli(nodes[0], "-c", "SET", `patient:${i}`, `record-${i}`), "OK");
            }
            for (let i = 0; i < 50; i++) {
                assert.strictEqual(redisCli(nodes[5], "-c", "GET", `patient:${i}`), `record-${i}`);
            }
        });

        it("does nothing on a second run", () => {
            const before = topology(nodes[0]);
            const result = bootstrap(nodes, 1);
            assert.strictEqual(result.status, 0, result.stderr);
            assert.match(result.stdout, /cluster already formed: 6 nodes, state ok; nothing to do/);
            assert.deepStrictEqual(topology(nodes[0]), before);
        });

        it("leaves an existing cluster alone when asked for a different topology", () => {
            const before = topology(nodes[0]);
            const result = bootstrap(nodes.slice(0, 3), 0);
            assert.notStrictEqual(result.status, 0);
            assert.match(result.stderr, /the cluster has node\(s\) beyond the 3 desired: #3 .* #4 .* #5 .*nothing was changed/);
            assert.deepStrictEqual(topology(nodes[0]), before);
        });
    });

    it("forms a single-node cluster that owns every slot (the local stack)", async () => {
        const nodes = await startRedisNodes(1);
        try {
            const result = bootstrap(nodes, 0);
            assert.strictEqual(result.status, 0, result.stderr);
            assert.strictEqual(clusterInfo(nodes[0]).cluster_state, "ok");
            assert.strictEqual(clusterInfo(nodes[0]).cluster_slots_assigned, "16384");
            assert.strictEqual(redisCli(nodes[0], "-c", "SET", "appointment:1", "booked"), "OK");
            assert.match(bootstrap(nodes, 0).stdout, /nothing to do/);
        } finally {
            await stopRedisNodes(nodes);
        }
    });

    it("fails clearly, and changes nothing, when a node is unreachable", async () => {
        const nodes = await startRedisNodes(3);
        try {
            const unreachable = "127.0.0.1:1";
            const result = bootstrap([...nodes.map((n) => n.address), unreachable, nodes[0].address.replace(/\d+$/, "2"), "127.0.0.1:3"], 1, {
                WAIT_SECONDS: "2",
            });
            assert.notStrictEqual(result.status, 0);
            assert.match(result.stderr, /node 127\.0\.0\.1:1 did not answer PING within 2s/);
            for (const node of nodes) {
                assert.strictEqual(clusterInfo(node).cluster_slots_assigned, "0", `${node.address} untouched`);
            }
        } finally {
            await stopRedisNodes(nodes);
        }
    });

    it("fails at once on a wrong password", async () => {
        const nodes = await startRedisNodes(3);
        try {
            const result = bootstrap(nodes, 0, { REDISCLI_AUTH: "wrong" });
            assert.notStrictEqual(result.status, 0);
            assert.match(result.stderr, /refused the user maintenance or its password: AUTH failed: WRONGPASS/);
        } finally {
            await stopRedisNodes(nodes);
        }
    });

    it("refuses a topology that cannot form a cluster before touching any node", () => {
        const result = bootstrap(["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", "127.0.0.1:4"], 1);
        assert.notStrictEqual(result.status, 0);
        assert.match(result.stderr, /4 nodes with 1 replicas per master cannot form a cluster/);
    });
});

describe("the periodic reconcile (CronJob) and the maintenance lock, against real redis-server pods", function () {
    this.timeout(180000);
    const lockKey = "{healthcare-redis-maintenance}:lock";
    let cluster: PodCluster;
    const periodic = (extra: Record<string, string> = {}) => runAsset(redisScripts.reconcile, cluster.jobEnv(1, { RECONCILE_MODE: "periodic", ...extra }));
    const keys = Array.from({ length: 60 }, (_, i) => `visit:{${i}}`);

    before(async () => {
        cluster = await PodCluster.create(6, shippedRedisConfig("production"));
        await Promise.all(cluster.nodes.map((n) => cluster.start(n)));
    });
    after(async () => cluster.destroy());

    it("leaves a cluster that is not formed yet to the deployment's Job", () => {
        const result = periodic();
        assert.strictEqual(result.status, 0, result.stderr + result.stdout);
        assert.match(result.stdout, /periodic: no cluster is formed yet; left to the deployment's Jobs/);
        for (const node of cluster.nodes) {
            assert.strictEqual(redisCli(node.address, "CLUSTER", "INFO").match(/cluster_slots_assigned:(\d+)/)?.[1], "0", `redis-cluster-${node.ordinal} untouched`);
        }
        const formed = runAsset(redisScripts.reconcile, cluster.jobEnv(1));
        assert.strictEqual(formed.status, 0, formed.stderr + formed.stdout);
        assert.deepStrictEqual(redisCliCluster(cluster.nodes[0].address, keys.map((k) => ["SET", k, `v-${k}`])), keys.map(() => "OK"));
        assert.strictEqual(redisCli(cluster.nodes[0].address, "-c", "GET", lockKey), "", "the Job released the lock");
    });

    it("one maintenance run at a time: the periodic run steps aside while the lock is held, a Job waits for it", () => {
        assert.strictEqual(redisCli(cluster.nodes[0].address, "-c", "SET", lockKey, "scale-in-elsewhere", "EX", "60"), "OK");
        try {
            const skipped = periodic();
            assert.strictEqual(skipped.status, 0, skipped.stderr + skipped.stdout);
            assert.match(skipped.stdout, /another maintenance run holds the lock \(scale-in-elsewhere\): leaving the cluster to it/);
            const waited = runAsset(redisScripts.reconcile, cluster.jobEnv(1, { WAIT_SECONDS: "2" }));
            assert.notStrictEqual(waited.status, 0);
            assert.match(waited.stderr, /another maintenance run holds the lock \(scale-in-elsewhere\), still after 2s/);
            assert.strictEqual(redisCli(cluster.nodes[0].address, "-c", "GET", lockKey), "scale-in-elsewhere", "a run that did not take the lock leaves it alone");
        } finally {
            redisCli(cluster.nodes[0].address, "-c", "DEL", lockKey);
        }
    });

    it("a master whose pod came back with an empty volume: its replica took over, the periodic run forgets the old identity and gives every master a replica again", async () => {
        const masterOrdinal = cluster.nodes.find((n) => redisCli(n.address, "ROLE").startsWith("master"))!.ordinal;
        const lost = cluster.nodes[masterOrdinal];
        const oldId = redisCli(lost.address, "CLUSTER", "MYID");
        await cluster.stop(lost, "SIGKILL");
        // The volume is gone: nodes.conf, its saved copy and the AOF.
        rmSync(lost.dir, { recursive: true, force: true });
        mkdirSync(lost.dir);
        const other = cluster.nodes.find((n) => n !== lost)!;
        const deadline = Date.now() + 30000;
        // Taken over: the old identity flagged fail and holding no slot any more (its replica has them), the cluster ok.
        const takenOver = () => {
            const line = redisCli(other.address, "CLUSTER", "NODES").split("\n").find((l) => l.startsWith(oldId)) ?? "";
            return /\bfail\b/.test(line) && line.trim().split(" ").length === 8 && /cluster_state:ok/.test(redisCli(other.address, "CLUSTER", "INFO"));
        };
        while (!takenOver()) {
            assert.ok(Date.now() < deadline, `the replica of redis-cluster-${masterOrdinal} took over:\n${redisCli(other.address, "CLUSTER", "NODES")}`);
            await new Promise((r) => setTimeout(r, 100));
        }
        cluster.move(lost);
        await cluster.start(lost);
        assert.match(lost.output, /starts as a new, empty node/);

        const healed = periodic();
        assert.strictEqual(healed.status, 0, healed.stderr + healed.stdout);
        assert.match(healed.stdout, new RegExp(`#${masterOrdinal} came back empty as [0-9a-f]{40}: every node forgets its old identity ${oldId}`));
        await cluster.waitHealthy(60000);
        assert.ok(!redisCli(other.address, "CLUSTER", "NODES").includes(oldId), "the old identity is forgotten");
        const view = clusterNodes({ address: other.address } as RedisNode);
        const masters = view.filter((n) => n.role === "master" && n.slots > 0);
        assert.strictEqual(masters.length, 3);
        for (const master of masters) {
            assert.strictEqual(view.filter((n) => n.masterId === master.id).length, 1, `${master.address} has a replica again`);
        }
        assert.deepStrictEqual(redisCliCluster(cluster.nodes[0].address, keys.map((k) => ["GET", k])), keys.map((k) => `v-${k}`), "every key kept");
        assert.strictEqual(redisCli(cluster.nodes[0].address, "-c", "GET", lockKey), "", "the periodic run released the lock");
        const again = periodic();
        assert.match(again.stdout, /nothing to do/);
    });
});
