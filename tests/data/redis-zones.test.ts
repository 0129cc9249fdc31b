import * as assert from "assert";
import { redisScripts } from "../../components/redisCluster";
import { PodCluster, probe, redisCli, runAsset, shippedRedisConfig, testPasswords } from "../support/redis";

/**
 * The reconcile script's zone-aware placement on real redis-server processes: each node is started
 * by the shipped start script with its zone (in a pod, the topology.kubernetes.io/zone label that
 * Kubernetes >= 1.35 copies from the node; here the test supplies it), announces it with its pod
 * name, and the reconcile Job reads it from CLUSTER NODES.
 */

interface Placed {
    id: string;
    pod: string;
    /** The announced zone, "-" when the pod announces none. */
    zone: string;
    /** The announced Kubernetes node, "" when the pod announces none. */
    host: string;
    role: "master" | "replica";
    masterId?: string;
    slots: boolean;
}

function placement(cluster: PodCluster): Placed[] {
    return redisCli(cluster.nodes[0].address, "CLUSTER", "NODES")
        .split("\n")
        .filter(Boolean)
        .map((line) => {
            const [id, address, flags, master, , , , , ...slots] = line.split(" ");
            // <pod>[.<zone or ->[.<node>]]: the node name may have dots of its own.
            const [pod, zone = "-", host = ""] = address.split(",")[1].split(/\.([^.]*)\.?(.*)/);
            return { id, pod, zone, host, role: flags.includes("master") ? "master" : "replica", masterId: master === "-" ? undefined : master, slots: slots.length > 0 };
        });
}

/** Masters holding slots per zone (or per host: `by`), and the replicas that share their master's. */
function assessment(cluster: PodCluster, by: "zone" | "host" = "zone") {
    const view = placement(cluster);
    const masters = view.filter((n) => n.role === "master" && n.slots);
    const sameZone = view.filter((n) => n.role === "replica" && view.find((m) => m.id === n.masterId)?.[by] === n[by]).map((n) => n.pod);
    const mastersPerZone: Record<string, number> = {};
    for (const m of masters) {
        mastersPerZone[m[by]] = (mastersPerZone[m[by]] ?? 0) + 1;
    }
    const replicasPerMaster = masters.map((m) => view.filter((r) => r.masterId === m.id).length);
    return { sameZone, mastersPerZone, replicasPerMaster, view };
}

describe("Redis Cluster replicas placed by zone, against real redis-server processes", function () {
    this.timeout(180000);
    // Two nodes per zone, in the order that makes redis-cli's own pairing worst: the first three
    // (its masters) span two zones only.
    const zones = ["zone-a", "zone-a", "zone-b", "zone-b", "zone-c", "zone-c"];
    let cluster: PodCluster;

    before(async () => {
        cluster = await PodCluster.create(6, shippedRedisConfig("production"), zones);
        await Promise.all(cluster.nodes.map((n) => cluster.start(n)));
    });
    after(async () => cluster.destroy());

    it("forms the cluster with every replica outside its master's zone and one master per zone", () => {
        const formed = runAsset(redisScripts.reconcile, cluster.jobEnv(1));
        assert.strictEqual(formed.status, 0, formed.stderr + formed.stdout);
        assert.match(formed.stdout, /to spread the masters over the zones/);
        // Each node announces its pod name with its zone; the Job reads both from CLUSTER NODES.
        assert.deepStrictEqual(
            placement(cluster)
                .map((n) => `${n.pod}.${n.zone}`)
                .sort(),
            zones.map((z, i) => `redis-cluster-${i}.${z}`),
        );
        const { sameZone, mastersPerZone, replicasPerMaster } = assessment(cluster);
        assert.deepStrictEqual(sameZone, [], "no replica shares its master's zone");
        assert.deepStrictEqual(mastersPerZone, { "zone-a": 1, "zone-b": 1, "zone-c": 1 }, "losing one zone leaves a majority of masters");
        assert.deepStrictEqual(replicasPerMaster, [1, 1, 1]);
        assert.deepStrictEqual(cluster.problems(), []);
    });

    it("a second run finds the placement right and changes nothing", () => {
        const before = assessment(cluster).view;
        const again = runAsset(redisScripts.reconcile, cluster.jobEnv(1));
        assert.strictEqual(again.status, 0, again.stderr);
        assert.match(again.stdout, /cluster already formed: 6 nodes, state ok; nothing to do/);
        assert.deepStrictEqual(assessment(cluster).view, before);
    });

    it("moves a replica that ended up in its master's zone back out of it", async () => {
        const view = placement(cluster);
        // A replica, and the master that shares its zone: make it follow that master.
        const replica = view.find((n) => n.role === "replica")!;
        const sameZoneMaster = view.find((n) => n.role === "master" && n.zone === replica.zone)!;
        const node = cluster.nodes.find((n) => `redis-cluster-${n.ordinal}` === replica.pod)!;
        assert.strictEqual(redisCli(node.address, "CLUSTER", "REPLICATE", sameZoneMaster.id), "OK");
        const deadline = Date.now() + 20000;
        while (assessment(cluster).sameZone.length === 0 && Date.now() < deadline) {
            await new Promise((r) => setTimeout(r, 100));
        }
        assert.deepStrictEqual(assessment(cluster).sameZone, [replica.pod]);
        await cluster.waitHealthy(30000);

        const fixed = runAsset(redisScripts.reconcile, cluster.jobEnv(1));
        assert.strictEqual(fixed.status, 0, fixed.stderr + fixed.stdout);
        assert.match(fixed.stdout, /node #\d replicates #\d \(zone zone-\w -> zone-\w\)/);
        const after = assessment(cluster);
        assert.deepStrictEqual(after.sameZone, []);
        assert.deepStrictEqual(after.replicasPerMaster, [1, 1, 1]);
        assert.deepStrictEqual(cluster.problems(), []);
    });

    it("readiness probe: a replica whose link to its master is down is not ready, and is again once it resyncs", async () => {
        const replica = cluster.nodes.find((n) => redisCli(n.address, "INFO", "replication").includes("role:slave"))!;
        const env = { REDIS_PROBE_HOST: replica.ip, REDIS_PORT: String(cluster.port) };
        assert.strictEqual(probe("readiness", env).status, 0);
        // A wrong masterauth: the replica cannot re-authenticate after its link drops.
        assert.strictEqual(redisCli(replica.address, "CONFIG", "SET", "masterauth", "wrong"), "OK");
        redisCli(replica.address, "CLIENT", "KILL", "TYPE", "master");
        try {
            const deadline = Date.now() + 20000;
            let result = probe("readiness", env);
            while (result.status === 0 && Date.now() < deadline) {
                await new Promise((r) => setTimeout(r, 100));
                result = probe("readiness", env);
            }
            assert.strictEqual(result.status, 1);
            assert.match(result.stdout, /readiness: replica of .*, master_link_status:down/);
            assert.strictEqual(probe("liveness", env).status, 0, "alive all along");
        } finally {
            redisCli(replica.address, "CONFIG", "SET", "masterauth", testPasswords.replication);
        }
        await cluster.waitHealthy(30000);
        assert.strictEqual(probe("readiness", env).status, 0);
    });
});

/** Six nodes started on `hosts` (and `zones`), formed by the reconcile Job: placed by host? */
function placedByHost(title: string, hosts: string[], zones: (string | undefined)[]) {
    describe(title, function () {
        this.timeout(180000);
        let cluster: PodCluster;

        before(async () => {
            cluster = await PodCluster.create(6, shippedRedisConfig("production"), zones);
            await Promise.all(cluster.nodes.map((n, i) => cluster.start(n, { REDIS_NODE_NAME: hosts[i] })));
        });
        after(async () => cluster.destroy());

        it("announces zone and Kubernetes node, keeps every replica off its master's host and puts one master on each host", () => {
            const formed = runAsset(redisScripts.reconcile, cluster.jobEnv(1));
            assert.strictEqual(formed.status, 0, formed.stderr + formed.stdout);
            assert.deepStrictEqual(
                placement(cluster)
                    .map((n) => `${n.pod}.${n.zone}.${n.host}`)
                    .sort(),
                hosts.map((h, i) => `redis-cluster-${i}.${zones[i] ?? "-"}.${h}`),
            );
            const { sameZone: sameHost, mastersPerZone: mastersPerHost, replicasPerMaster } = assessment(cluster, "host");
            assert.deepStrictEqual(sameHost, [], "no replica shares its master's host");
            assert.deepStrictEqual(mastersPerHost, { "node-a": 1, "node-b": 1, "node-c.example.internal": 1 }, "one master per host");
            assert.deepStrictEqual(replicasPerMaster, [1, 1, 1]);
            assert.deepStrictEqual(cluster.problems(), []);
        });

        it("a second run finds the placement right and changes nothing", () => {
            const before = assessment(cluster, "host").view;
            const again = runAsset(redisScripts.reconcile, cluster.jobEnv(1));
            assert.strictEqual(again.status, 0, again.stderr);
            assert.match(again.stdout, /nothing to do/);
            assert.deepStrictEqual(assessment(cluster, "host").view, before);
        });
    });
}

// Two pods per Kubernetes node, in the order that makes redis-cli's own pairing worst; one node name
// with dots, as cloud providers name them.
const hosts = ["node-a", "node-a", "node-b", "node-b", "node-c.example.internal", "node-c.example.internal"];
// No zone: before Kubernetes 1.35, or nodes without the label.
placedByHost("Redis Cluster replicas placed by host where the zone is unknown, against real redis-server processes", hosts, []);
// One zone on every node (a single-zone cluster labels them all alike): the zone tells nothing apart, the host does.
placedByHost("Redis Cluster replicas placed by host within one zone, against real redis-server processes", hosts, hosts.map(() => "zone-a"));
