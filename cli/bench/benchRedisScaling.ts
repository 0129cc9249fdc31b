/**
 * How long the Redis maintenance Jobs' scripts take when they have nothing to do (every `pulumi up`
 * runs them whenever the desired nodes or the scripts change), and how long a real 6 -> 8 -> 6
 * change takes, against redis-server processes on loopback. Prints the median of several runs:
 * `npm run bench:redis`.
 */
import { redisScripts } from "../../components/redisCluster";
import { RedisNode, redisCli, runAsset, standinDns, startRedisNodes, stopRedisNodes } from "../../tests/support/redis";

const runs = Number(process.env.BENCH_RUNS ?? 5);

function timed(script: string, env: Record<string, string>): number {
    const started = process.hrtime.bigint();
    const result = runAsset(script, env);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    if (result.status !== 0) {
        throw new Error(`${script} failed:\n${result.stderr}${result.stdout}`);
    }
    return ms;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const env = (nodes: RedisNode[] | string[], replicas: number) => ({
    REDIS_NODES: nodes.map((n) => (typeof n === "string" ? n : n.address)).join(" "),
    REDIS_REPLICAS: String(replicas),
    WAIT_SECONDS: "60",
});
const report = (what: string, samples: number[]) =>
    console.log(`${what.padEnd(58)} median ${median(samples).toFixed(0).padStart(6)} ms  (${samples.length} runs: ${samples.map((s) => s.toFixed(0)).join(", ")})`);

async function main(): Promise<void> {
    const fresh = ["redis-cluster-0", "redis-cluster-1", "redis-cluster-2"].map((n) => `${n}.redis-cluster-headless.test.svc.cluster.local:6379`);
    // The stand-in DNS answers (its canary resolves) but holds no pod: a fresh install.
    const dns = standinDns();
    report("scale-in, fresh install (no pod resolves)", Array.from({ length: runs }, () => timed(redisScripts.scaleIn, { ...env(fresh, 0), ...dns })));

    const base = await startRedisNodes(6);
    const added: RedisNode[] = [];
    try {
        timed(redisScripts.reconcile, env(base, 1));
        for (let i = 0; i < 2000; i++) {
            redisCli(base[0], "-c", "SET", `bench:${i}`, "x".repeat(100));
        }
        report("scale-in, 6 nodes wanted, none above", Array.from({ length: runs }, () => timed(redisScripts.scaleIn, env(base, 1))));
        report("reconcile, 6-node cluster already in shape", Array.from({ length: runs }, () => timed(redisScripts.reconcile, env(base, 1))));
        const grow: number[] = [];
        const shrink: number[] = [];
        for (let i = 0; i < Math.min(runs, 3); i++) {
            added.push(...(await startRedisNodes(2, 6)));
            grow.push(timed(redisScripts.reconcile, env([...base, ...added], 1)));
            shrink.push(timed(redisScripts.scaleIn, env(base, 1)));
            await stopRedisNodes(added.splice(0));
            timed(redisScripts.reconcile, env(base, 1));
        }
        report("reconcile, grow 6 -> 8 (2000 keys)", grow);
        report("scale-in, shrink 8 -> 6 (2000 keys)", shrink);
    } finally {
        await stopRedisNodes([...base, ...added]);
    }
}

main().catch((error) => {
    console.error(error);
    process.exit(1);
});
