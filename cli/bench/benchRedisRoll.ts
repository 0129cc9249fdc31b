/**
 * `npm run bench:redis-roll`: a rolling restart of the six-node cluster (three masters, one replica
 * each) under load, as tests/data/redis-roll.test.ts does it: every node, highest ordinal first, through
 * the shipped preStop hook, SIGTERM, a new address, the shipped start script and the readiness
 * probe, while a client writes and reads every shard (following MOVED and ASK, counting every other
 * error as a failed operation). Real redis-server processes on loopback with the shipped production
 * redis.conf; the cluster-node-timeout is the tests' 2 s. Prints the median of several runs
 * (BENCH_RUNS, default 5): failed writes and reads, the longest pause of any operation per shard,
 * the roll's duration. BENCH_PRESTOP=off rolls without the hook, for comparison.
 */
import { redisScripts } from "../../components/redisCluster";
import { PodCluster, runAsset, shippedRedisConfig } from "../../tests/support/redis";
import { rollCluster, startLoad } from "../../tests/support/redisRoll";

const runs = Number(process.env.BENCH_RUNS ?? 5);
/** BENCH_PRESTOP=off rolls without the preStop hook: the baseline the hook is measured against. */
const preStop = process.env.BENCH_PRESTOP !== "off";
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function main(): Promise<void> {
    const cluster = await PodCluster.create(6, shippedRedisConfig("production"));
    try {
        await Promise.all(cluster.nodes.map((n) => cluster.start(n)));
        const formed = runAsset(redisScripts.reconcile, cluster.jobEnv(1));
        if (formed.status !== 0) {
            throw new Error(`forming the cluster failed:\n${formed.stderr}${formed.stdout}`);
        }
        await cluster.waitHealthy(30000);
        const failed: number[] = [];
        const ops: number[] = [];
        const pauses: number[] = [];
        const durations: number[] = [];
        for (let run = 1; run <= runs; run++) {
            const load = await startLoad(cluster.nodes[0].address);
            const started = Date.now();
            await rollCluster(cluster, { preStop });
            durations.push(Date.now() - started);
            const figures = await load.stop();
            failed.push(figures.reduce((sum, f) => sum + f.failedWrites + f.failedReads, 0));
            ops.push(figures.reduce((sum, f) => sum + f.writes + f.reads, 0));
            pauses.push(...figures.map((f) => f.longestPauseMs));
            process.stderr.write(
                `run ${run}/${runs}: ${failed[failed.length - 1]} failed of ${ops[ops.length - 1]} operations; longest pause per shard ${figures.map((f) => `${f.longestPauseMs} ms`).join(", ")}; roll ${(durations[durations.length - 1] / 1000).toFixed(1)} s\n`,
            );
            await cluster.waitHealthy(30000);
        }
        console.log(
            `6 nodes rolled under load${preStop ? "" : " without the preStop hook"}, ${runs} runs: failed operations median ${median(failed)} (max ${Math.max(...failed)}) of median ${median(ops)}; ` +
                `longest pause per shard median ${median(pauses)} ms (max ${Math.max(...pauses)} ms); roll median ${(median(durations) / 1000).toFixed(1)} s`,
        );
    } finally {
        await cluster.destroy();
    }
}

main().catch((error) => {
    console.error(error);
    process.exit(1);
});
