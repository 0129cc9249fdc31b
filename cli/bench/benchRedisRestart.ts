/**
 * How long the six-node Redis Cluster (three masters, one replica each) takes to recover when all
 * of its nodes restart at once on new addresses (node pool upgrade, zone outage, `kubectl delete
 * pod -l ...`): from the moment the six start scripts start until every node sees cluster_state ok
 * with all 16384 slots served and every replica linked to its master. Real redis-server processes
 * on loopback, each on an address of its own, started by the shipped start script with the shipped
 * redis.conf (cluster-node-timeout included); the cluster DNS is the tests' stand-in hosts file.
 * Pod scheduling, image pulls and DNS record propagation on a real cluster come on top. Prints the
 * median of several runs: `npm run bench:redis-restart` (BENCH_RUNS, default 5).
 */
import { redisScripts } from "../../components/redisCluster";
import { PodCluster, redisCli, restartAllAtOnce, runAsset, shippedRedisConfig } from "../../tests/support/redis";

const runs = Number(process.env.BENCH_RUNS ?? 5);
const keys = Number(process.env.BENCH_KEYS ?? 2000);
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function main(): Promise<void> {
    // The shipped production redis.conf, its cluster-node-timeout unchanged.
    const cluster = await PodCluster.create(6, shippedRedisConfig("production"), [], "shipped");
    try {
        await Promise.all(cluster.nodes.map((n) => cluster.start(n)));
        const formed = runAsset(redisScripts.reconcile, cluster.jobEnv(1));
        if (formed.status !== 0) {
            throw new Error(`forming the cluster failed:\n${formed.stderr}${formed.stdout}`);
        }
        for (let i = 0; i < keys; i++) {
            redisCli(cluster.nodes[0].address, "-c", "SET", `bench:${i}`, "x".repeat(100));
        }
        const samples: number[] = [];
        for (let run = 0; run < runs; run++) {
            samples.push(await restartAllAtOnce(cluster, 120000));
            const lost = Array.from({ length: keys }, (_, i) => `bench:${i}`).filter((k, i) => i % 50 === 0 && redisCli(cluster.nodes[1].address, "-c", "GET", k) === "");
            if (lost.length > 0) {
                throw new Error(`keys missing after restart ${run + 1}: ${lost.join(", ")}`);
            }
        }
        console.log(
            `${"6 nodes, all restarted at once on new addresses".padEnd(52)} median ${(median(samples) / 1000).toFixed(1).padStart(5)} s ` +
                `(${samples.length} runs: ${samples.map((s) => (s / 1000).toFixed(1)).join(", ")} s; ${keys} keys)`,
        );
    } finally {
        await cluster.destroy();
    }
}

main().catch((error) => {
    console.error(error);
    process.exit(1);
});
