import * as assert from "assert";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "fs";
import * as path from "path";
import { redisScripts } from "../../components/redisCluster";
import { PodCluster, PodNode, redisCli, redisCliCluster, restartAllAtOnce, runAsset, shippedRedisConfig } from "../support/redis";

/**
 * The start script (components/assets/redis-start.sh) on real redis-server processes, each node on
 * its own loopback address and restarted on new ones, as rescheduled pods get new IPs; the cluster
 * DNS is a stand-in hosts file. What a cluster operator does to the pods, the cluster survives.
 */

const valueOf = (key: string) => `value-of-${key}`;
const keys = Array.from({ length: 200 }, (_, i) => `patient:${i}:{${i % 61}}`);

function writeKeys(node: PodNode): void {
    const replies = redisCliCluster(node.address, keys.map((key) => ["SET", key, valueOf(key)]));
    assert.deepStrictEqual(keys.filter((_, i) => replies[i] !== "OK"), [], "every SET answered OK");
}

function unreadable(node: PodNode): string[] {
    const replies = redisCliCluster(node.address, keys.map((key) => ["GET", key]));
    return keys.filter((key, i) => replies[i] !== valueOf(key));
}

const nodeId = (node: PodNode) => redisCli(node.address, "CLUSTER", "MYID");
const shippedConfig = () => shippedRedisConfig("production");

describe("Redis Cluster nodes restarting, against real redis-server processes on moving addresses", function () {
    this.timeout(180000);

    describe("six nodes, one replica per master", () => {
        let cluster: PodCluster;
        before(async () => {
            cluster = await PodCluster.create(6, shippedConfig());
            await Promise.all(cluster.nodes.map((n) => cluster.start(n)));
            const formed = runAsset(redisScripts.reconcile, cluster.jobEnv(1));
            assert.strictEqual(formed.status, 0, formed.stderr + formed.stdout);
            writeKeys(cluster.nodes[0]);
        });
        after(async () => cluster.destroy());

        it("all nodes restart at once on new addresses: the cluster comes back ok within 60 s, every slot served, every key readable", async () => {
            const before = cluster.nodes.map(nodeId);
            await restartAllAtOnce(cluster, 60000);
            assert.deepStrictEqual(cluster.nodes.map(nodeId), before, "every node kept its identity");
            for (const node of cluster.nodes) {
                assert.match(node.output, /peer addresses: 5 of 5 changed, from DNS/, `redis-cluster-${node.ordinal} refreshed its peers`);
            }
            assert.deepStrictEqual(unreadable(cluster.nodes[3]), [], "every key is readable");
            assert.deepStrictEqual(cluster.problems(), []);
        });

        it("all nodes restart at once while one pod's name does not resolve yet: it is left for gossip, nothing is lost from nodes.conf", async () => {
            const lines = (node: PodNode) => readFileSync(path.join(node.dir, "nodes.conf"), "utf8").trim().split("\n").length;
            const counts = cluster.nodes.map(lines);
            cluster.unpublished.add(4);
            try {
                await cluster.stopAll();
                for (const node of cluster.nodes) {
                    cluster.move(node);
                }
                // redis-cluster-4 resolves its peers and greets them from its new address; they learn it from it.
                await Promise.all(cluster.nodes.map((n) => cluster.start(n, { REDIS_PEER_WAIT_SECONDS: "1" })));
                await cluster.waitHealthy(60000);
            } finally {
                cluster.unpublished.delete(4);
                cluster.publish();
            }
            for (const node of cluster.nodes.filter((n) => n.ordinal !== 4)) {
                assert.match(node.output, /not resolved yet, left for gossip: redis-cluster-4/);
            }
            assert.deepStrictEqual(cluster.nodes.map(lines), counts, "no line added to or removed from any nodes.conf");
            assert.deepStrictEqual(unreadable(cluster.nodes[0]), []);
        });

        it("a single node moving to a new address still heals", async () => {
            const node = cluster.nodes[2];
            await cluster.stop(node);
            cluster.move(node);
            await cluster.start(node);
            await cluster.waitHealthy(60000);
            assert.deepStrictEqual(unreadable(node), []);
        });

        it("a peer that nodes.conf knows without an address (noaddr) gets its address from DNS and is dialled again", async () => {
            const node = cluster.nodes[0];
            const peer = cluster.nodes[1];
            await cluster.stop(node);
            const file = path.join(node.dir, "nodes.conf");
            // As Redis writes a peer whose address it lost: no IP, port 0, flagged noaddr.
            writeFileSync(
                file,
                readFileSync(file, "utf8").replace(/^(\S+) \S+?(,redis-cluster-1\S*) (\S+) /m, (_, id, host, flags) => `${id} :0@0${host} ${flags},noaddr `),
            );
            assert.match(readFileSync(file, "utf8"), /:0@0,redis-cluster-1 \S*noaddr/);
            await cluster.start(node);
            const line = redisCli(node.address, "CLUSTER", "NODES")
                .split("\n")
                .find((l) => l.includes(",redis-cluster-1"))!;
            assert.ok(line.includes(` ${peer.address}@`), line);
            assert.doesNotMatch(line, /noaddr/);
            await cluster.waitHealthy(60000);
        });

        it("a node whose nodes.conf is missing rejoins as itself, from the copy saved at its previous start", async () => {
            const node = cluster.nodes[3];
            const id = nodeId(node);
            await cluster.stop(node);
            rmSync(path.join(node.dir, "nodes.conf"));
            await cluster.start(node);
            assert.match(node.output, /nodes\.conf is missing/);
            assert.match(node.output, new RegExp(`restored nodes.conf .*: redis-cluster-3 rejoins as node ${id}`));
            await cluster.waitHealthy(60000);
            assert.strictEqual(nodeId(node), id);
        });

        it("a node whose nodes.conf is corrupt rejoins as itself, and the corrupt file is kept", async () => {
            const node = cluster.nodes[4];
            const id = nodeId(node);
            const file = path.join(node.dir, "nodes.conf");
            // A start with a valid nodes.conf saves the copy the node is restored from.
            await cluster.stop(node);
            await cluster.start(node);
            // (Until its replica has synced and written its first AOF, redis-server refuses SIGTERM.)
            await cluster.waitHealthy(60000);
            // Cut short as a crash during a write leaves it: in the middle of a line (inside the
            // second entry's node id), or after the last entry, where only the missing vars line tells.
            const cuts: [string, (text: string) => string, RegExp][] = [
                ["mid-line", (text) => text.slice(0, text.indexOf("\n") + 21), /line 2 is not a node entry: .*/],
                ["before the vars line", (text) => text.slice(0, text.lastIndexOf("vars ")), /it does not end with the vars line \(cut short\?\)/],
            ];
            for (const [what, cut, problem] of cuts) {
                await cluster.stop(node);
                const before = node.output.length;
                writeFileSync(file, cut(readFileSync(file, "utf8")));
                await cluster.start(node);
                const output = node.output.slice(before);
                assert.match(output, new RegExp(`nodes\\.conf is corrupt \\(${problem.source}\\); kept it as .*nodes\\.conf\\.corrupt\\.\\d+`), what);
                await cluster.waitHealthy(60000);
                assert.strictEqual(nodeId(node), id, what);
            }
            assert.ok(readdirSync(node.dir).some((f) => f.startsWith("nodes.conf.corrupt.")), "the corrupt file is kept");
        });

        it("a node with a corrupt nodes.conf and no saved copy refuses to start, naming itself; nothing is deleted", async () => {
            const node = cluster.nodes[5];
            await cluster.stop(node);
            const file = path.join(node.dir, "nodes.conf");
            const saved = path.join(node.dir, "nodes.conf.saved");
            const good = readFileSync(file, "utf8");
            const copy = readFileSync(saved, "utf8");
            writeFileSync(file, good.replace(/myself,/, ""));
            rmSync(saved);
            try {
                const refused = await cluster.startExpectingFailure(node);
                assert.notStrictEqual(refused.status, 0);
                assert.match(refused.output, /redis-cluster-5 cannot start: .*nodes\.conf is corrupt \(it has 0 entries for the node itself, expected 1\)/);
                assert.ok(existsSync(file), "the corrupt file stays for repair");
                // Missing, with data and no copy: it would claim its keys' slots as a stranger.
                rmSync(file);
                const missing = await cluster.startExpectingFailure(node);
                assert.match(missing.output, /redis-cluster-5 has no .*nodes\.conf \(and no saved copy\) but holds data/);
                assert.ok(readdirSync(path.join(node.dir, "appendonlydir")).length > 0, "the data files stay");
            } finally {
                writeFileSync(file, good);
                writeFileSync(saved, copy);
            }
            await cluster.start(node);
            await cluster.waitHealthy(60000);
        });

        it("a node whose cluster DNS does not answer fails loudly instead of starting blind", async () => {
            const node = cluster.nodes[1];
            await cluster.stop(node);
            cluster.dnsAnswers = false;
            for (const n of cluster.nodes) {
                cluster.unpublished.add(n.ordinal);
            }
            cluster.publish();
            try {
                const refused = await cluster.startExpectingFailure(node, { REDIS_PEER_WAIT_SECONDS: "1" });
                assert.notStrictEqual(refused.status, 0);
                assert.match(
                    refused.output,
                    /the cluster DNS does not answer \(kubernetes\.default\.svc\.cluster\.local does not resolve\).*redis-cluster-1 could not look up its peers'( redis-cluster-\d){5} addresses and does not start blind/,
                );
            } finally {
                cluster.dnsAnswers = true;
                cluster.unpublished.clear();
                cluster.publish();
            }
            await cluster.start(node);
            await cluster.waitHealthy(60000);
        });
    });
});
