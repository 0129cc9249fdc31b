import * as assert from "assert";
import { spawn } from "child_process";
import * as path from "path";
import { redisScripts } from "../../components/redisCluster";
import { projectRoot } from "../../harness/stackConfig";
import { clientEnv, clusterInfo, clusterNodes, RedisNode, redisCli, redisCliCluster, scriptEnv } from "./redis";

/**
 * What the Redis Cluster scaling tests share: the scripts run as the Jobs run them while the cluster
 * is polled, keys written and read back, and the cluster's shape. The tests are split across files
 * (redis-scaling*.test.ts) so that they run in parallel: each moves thousands of slots for real.
 */

export type Script = (typeof redisScripts)[keyof typeof redisScripts];

export interface ScriptRun {
    status: number | null;
    stdout: string;
    stderr: string;
    /** Polls of the cluster made while the script ran. */
    polls: number;
    /** What went wrong in a poll: a slot not served, a key not readable. */
    lapses: string[];
}

export const env = (nodes: RedisNode[], replicas: number) => ({
    REDIS_NODES: nodes.map((n) => n.address).join(" "),
    REDIS_REPLICAS: String(replicas),
    WAIT_SECONDS: "60",
});

/**
 * Runs a shipped script like `runAsset`, and meanwhile polls `watch` every 150 ms: every slot
 * must stay served and one of `keys` (in turn) must stay readable.
 */
export function runWatched(script: Script, variables: Record<string, string>, watch: RedisNode, keys: string[]): Promise<ScriptRun> {
    return new Promise((resolve) => {
        const child = spawn("sh", [path.join(projectRoot, "components", "assets", script)], {
            env: { ...scriptEnv(), ...clientEnv("maintenance"), ...variables },
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

export const valueOf = (key: string) => `value-of-${key}`;

export function writeKeys(node: RedisNode, count: number): string[] {
    const keys = Array.from({ length: count }, (_, i) => `appointment:${i}:{${i % 97}}`);
    const replies = redisCliCluster(node, keys.map((key) => ["SET", key, valueOf(key)]));
    assert.deepStrictEqual(keys.filter((_, i) => replies[i] !== "OK"), [], "every SET answered OK");
    return keys;
}

export function assertKeys(node: RedisNode, keys: string[]): void {
    const replies = redisCliCluster(node, keys.map((key) => ["GET", key]));
    const missing = keys.filter((key, i) => replies[i] !== valueOf(key));
    assert.deepStrictEqual(missing, [], `every key is still readable through ${node.address}`);
}

/** Every node of `nodes` sees all 16384 slots served by exactly `nodes.length` nodes. */
export function assertCoverage(nodes: RedisNode[]): void {
    for (const node of nodes) {
        const info = clusterInfo(node);
        assert.strictEqual(info.cluster_state, "ok", `${node.address} state`);
        assert.strictEqual(info.cluster_slots_assigned, "16384", `${node.address} slots assigned`);
        assert.strictEqual(info.cluster_slots_ok, "16384", `${node.address} slots ok`);
        assert.strictEqual(info.cluster_known_nodes, String(nodes.length), `${node.address} known nodes`);
    }
}

/** The cluster's shape: masters holding slots, with how many replicas and slots each. */
export function shape(node: RedisNode) {
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

export function assertBalanced(slots: number[]): void {
    const ideal = 16384 / slots.length;
    for (const count of slots) {
        assert.ok(Math.abs(count - ideal) <= ideal * 0.02, `slots ${slots.join(", ")} are within 2% of ${ideal}`);
    }
}

export function assertWatched(run: ScriptRun): void {
    assert.strictEqual(run.status, 0, run.stderr + run.stdout);
    assert.ok(run.polls > 0, "the cluster was polled while the script ran");
    assert.deepStrictEqual(run.lapses, [], "every slot served and every key readable throughout");
}

export const idOf = (node: RedisNode) => redisCli(node, "CLUSTER", "MYID");
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitUntil(check: () => boolean, what: string): Promise<void> {
    for (let i = 0; i < 200; i++) {
        if (check()) {
            return;
        }
        await wait(100);
    }
    throw new Error(`timed out waiting until ${what}`);
}
