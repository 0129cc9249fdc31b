import * as assert from "assert";
import { redisScripts } from "../components/redisCluster";
import { clusterInfo, clusterNodes, RedisNode, redisCli, runAsset, startRedisNodes, stopRedisNodes } from "./support/redis";

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
            assert.match(result.stderr, /refused the password/);
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
