import * as assert from "assert";
import { ChildProcess, spawn } from "child_process";
import { mkdtempSync, rmSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { redisScripts } from "../../components/redisCluster";
import { clusterInfo, probe, redisCli, runAsset, startRedisNodes, stopRedisNodes, writeTestConfig } from "../support/redis";

/**
 * The kubelet's probes (components/assets/redis-probe.sh) against real redis-server processes:
 * a node loading its data, a node that does not answer, nodes before and after the cluster forms,
 * and a node of a failed cluster. (A replica whose link is down: tests/redis-zones.test.ts.)
 */

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, what: string, timeoutMs = 20000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
        if (Date.now() > deadline) {
            throw new Error(`timed out waiting until ${what}`);
        }
        await wait(50);
    }
}

describe("Redis probe script, against real redis-server processes", function () {
    this.timeout(120000);

    it("while a node loads its data (-LOADING) liveness passes, startup and readiness wait; once loaded all pass", async () => {
        const dir = mkdtempSync(path.join(tmpdir(), "redis-loading-"));
        const host = `127.${10 + Math.floor(Math.random() * 240)}.${10 + Math.floor(Math.random() * 240)}.1`;
        const port = String(20000 + Math.floor(Math.random() * 30000));
        const env = { REDIS_PROBE_HOST: host, REDIS_PORT: port };
        // The pods' users and TLS, from a config file.
        const base = [writeTestConfig(dir, host, Number(port))];
        let server: ChildProcess | undefined;
        const start = async (...extra: string[]) => {
            server = spawn("redis-server", [...base, ...extra], { stdio: "ignore" });
            // Any reply on stdout (PONG, or LOADING): redis-cli reports a refused connection on stderr.
            await until(() => redisCli(`${host}:${port}`, "PING") !== "", "redis-server answers");
        };
        const stop = async () => {
            const s = server!;
            await new Promise<void>((resolve) => {
                s.once("exit", () => resolve());
                s.kill("SIGTERM");
            });
        };
        try {
            await start("--enable-debug-command", "local");
            assert.strictEqual(redisCli(`${host}:${port}`, "DEBUG", "POPULATE", "3000", "appointment"), "OK");
            assert.strictEqual(redisCli(`${host}:${port}`, "SAVE"), "OK");
            await stop();
            // 1 ms per key: three seconds of -LOADING (a large AOF/RDB in production takes minutes).
            await start("--key-load-delay", "1000", "--loading-process-events-interval-bytes", "1024");
            assert.match(redisCli(`${host}:${port}`, "PING"), /^LOADING/);
            const liveness = probe("liveness", env);
            const startup = probe("startup", env);
            const readiness = probe("readiness", env);
            assert.strictEqual(liveness.status, 0, `liveness accepts -LOADING: ${liveness.stdout}`);
            assert.strictEqual(startup.status, 1);
            assert.match(startup.stdout, /startup: not serving yet: LOADING/);
            assert.strictEqual(readiness.status, 1);
            assert.match(readiness.stdout, /readiness: PING answered LOADING/);
            await until(() => redisCli(`${host}:${port}`, "PING") === "PONG", "the data is loaded");
            assert.strictEqual(probe("startup", env).status, 0);
            assert.strictEqual(probe("liveness", env).status, 0);
            assert.strictEqual(redisCli(`${host}:${port}`, "DBSIZE"), "3000");
        } finally {
            if (server && server.exitCode === null) {
                server.kill("SIGKILL");
            }
            rmSync(dir, { recursive: true, force: true });
        }
    });

    it("liveness fails only when nothing answers", () => {
        const silent = probe("liveness", { REDIS_PROBE_HOST: "127.0.0.1", REDIS_PORT: "1" });
        assert.strictEqual(silent.status, 1);
        assert.match(silent.stdout, /liveness: no reply from redis-server \(Could not connect/);
        assert.strictEqual(probe("readiness", { REDIS_PROBE_HOST: "127.0.0.1", REDIS_PORT: "1" }).status, 1);
    });

    it("liveness accepts any reply, even an authentication error; readiness does not", async () => {
        const [node] = await startRedisNodes(1);
        try {
            const env = { REDIS_PROBE_HOST: "127.0.0.1", REDIS_PORT: String(node.port), REDISCLI_AUTH: "wrong" };
            assert.strictEqual(probe("liveness", env).status, 0);
            assert.strictEqual(probe("readiness", env).status, 1);
        } finally {
            await stopRedisNodes([node]);
        }
    });

    it("readiness: new nodes are ready (the reconcile Job forms the cluster after the StatefulSet is ready); a node of a failed cluster is not", async () => {
        const nodes = await startRedisNodes(3);
        const env = (i: number) => ({ REDIS_PROBE_HOST: "127.0.0.1", REDIS_PORT: String(nodes[i].port) });
        try {
            for (let i = 0; i < 3; i++) {
                assert.strictEqual(probe("readiness", env(i)).status, 0, `new node ${i} is ready`);
            }
            assert.strictEqual(runAsset(redisScripts.reconcile, { REDIS_NODES: nodes.map((n) => n.address).join(" "), REDIS_REPLICAS: "0", WAIT_SECONDS: "30" }).status, 0);
            for (let i = 0; i < 3; i++) {
                assert.strictEqual(probe("readiness", env(i)).status, 0, `node ${i} of the formed cluster is ready`);
            }
            // A master goes away without a replica to take over: its slots are unserved, the cluster fails.
            nodes[2].process.kill("SIGKILL");
            await until(() => clusterInfo(nodes[0]).cluster_state === "fail", "node 0 sees the cluster fail");
            const failed = probe("readiness", env(0));
            assert.strictEqual(failed.status, 1);
            assert.match(failed.stdout, /readiness: cluster_state:fail with 3 node\(s\) known/);
            assert.strictEqual(probe("liveness", env(0)).status, 0, "still alive: a restart would not help");
        } finally {
            await stopRedisNodes(nodes);
        }
    });

    it("readiness on the local stack's single node: ready alone before the Job gives it every slot, and after", async () => {
        const nodes = await startRedisNodes(1);
        const env = { REDIS_PROBE_HOST: "127.0.0.1", REDIS_PORT: String(nodes[0].port) };
        try {
            assert.strictEqual(probe("readiness", env).status, 0);
            assert.strictEqual(runAsset(redisScripts.reconcile, { REDIS_NODES: nodes[0].address, REDIS_REPLICAS: "0", WAIT_SECONDS: "30" }).status, 0);
            await until(() => clusterInfo(nodes[0]).cluster_state === "ok", "the single node owns every slot");
            assert.strictEqual(probe("readiness", env).status, 0);
        } finally {
            await stopRedisNodes(nodes);
        }
    });

    it("rejects an unknown mode", () => {
        const result = probe("sideways" as any, { REDIS_PROBE_HOST: "127.0.0.1", REDIS_PORT: "1" });
        assert.strictEqual(result.status, 2);
        assert.match(result.stderr, /usage: redis-probe\.sh startup\|liveness\|readiness/);
    });
});
