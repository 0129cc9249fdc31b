import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { Config, ConfigError, readConfig } from "../src/config";
import { RunningApi, startApi } from "../src/server";
import { freePort, PostgresServer, RedisNode, startPostgres, startRedis, waitFor } from "./support/services";

/** The environment components/api.ts gives the container, for these servers and ports. */
function environment(pg: PostgresServer, redisPort: number, redisPassword: string, ports: { port: number; metrics: number; health: number }) {
    return {
        PORT: String(ports.port),
        METRICS_PORT: String(ports.metrics),
        HEALTH_PORT: String(ports.health),
        HEALTH_PATH: "/healthz",
        READY_PATH: "/readyz",
        DATABASE_HOST: "127.0.0.1",
        DATABASE_PORT: String(pg.port),
        DATABASE_NAME: pg.database,
        DATABASE_USER: pg.user,
        DATABASE_PASSWORD: pg.password,
        REDIS_CLUSTER_NODES: `127.0.0.1:${redisPort}`,
        REDIS_PASSWORD: redisPassword,
        CHECK_TIMEOUT_MS: "1000",
    };
}

async function ports() {
    return { port: await freePort(), metrics: await freePort(), health: await freePort() };
}

async function get(port: number, pathname: string) {
    const res = await fetch(`http://127.0.0.1:${port}${pathname}`);
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) };
}

async function post(port: number, pathname: string, body?: unknown) {
    const res = await fetch(`http://127.0.0.1:${port}${pathname}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as Record<string, any> };
}

/** The value of one sample in Prometheus text format, or undefined. */
function sample(metricsText: string, name: string, labels: Record<string, string> = {}): number | undefined {
    for (const line of metricsText.split("\n")) {
        const match = /^([a-zA-Z_:][\w:]*)(\{([^}]*)\})? (\S+)$/.exec(line);
        if (!match || match[1] !== name) {
            continue;
        }
        const found = Object.fromEntries([...(match[3] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
        if (Object.entries(labels).every(([k, v]) => found[k] === v)) {
            return Number(match[4]);
        }
    }
    return undefined;
}

describe("environment", () => {
    it("reports every problem at once and never echoes a secret", () => {
        const error = (() => {
            try {
                readConfig({ PORT: "80a", METRICS_PORT: "9090", HEALTH_PORT: "9090", DATABASE_PASSWORD: "s3cret", REDIS_CLUSTER_NODES: "redis-0,ok:6379" });
            } catch (e) {
                return e;
            }
            assert.fail("readConfig accepted a broken environment");
        })();
        assert.ok(error instanceof ConfigError);
        assert.deepEqual(error.problems, [
            "REDIS_CLUSTER_NODES entry \"redis-0\" is not host:port",
            "PORT = \"80a\" is not a port number (1-65535)",
            "DATABASE_HOST is not set",
            "DATABASE_NAME is not set",
            "DATABASE_USER is not set (it comes from a Secret)",
        ]);
        assert.ok(!error.message.includes("s3cret"));
    });

    it("rejects ports that collide", () => {
        assert.throws(
            () =>
                readConfig({
                    PORT: "8080", METRICS_PORT: "8080", HEALTH_PORT: "8081", DATABASE_HOST: "db", DATABASE_NAME: "d",
                    DATABASE_USER: "u", DATABASE_PASSWORD: "p", REDIS_CLUSTER_NODES: "r:6379",
                }),
            /PORT, METRICS_PORT and HEALTH_PORT must differ \(8080, 8080, 8081\)/,
        );
    });
});

describe("against PostgreSQL and a Redis Cluster", () => {
    let pg: PostgresServer;
    let redis: RedisNode;
    let config: Config;
    let api: RunningApi;

    before(async () => {
        [pg, redis] = await Promise.all([startPostgres(), startRedis()]);
        config = readConfig(environment(pg, redis.port, redis.password, await ports()));
        api = await startApi(config);
        await waitFor(async () => (await get(config.healthPort, "/readyz")).status === 200, "readiness");
    });
    after(async () => {
        await api?.close();
        await Promise.all([pg?.stop(), redis?.stop()]);
    });

    it("is live and ready, and reports both dependencies up", async () => {
        assert.equal((await get(config.healthPort, "/healthz")).status, 200);
        const ready = await get(config.healthPort, "/readyz");
        assert.deepEqual(ready.json(), { status: "ready" });
        const metrics = (await get(config.metricsPort, "/metrics")).text;
        assert.equal(sample(metrics, "healthcare_dependency_up", { dependency: "postgres" }), 1);
        assert.equal(sample(metrics, "healthcare_dependency_up", { dependency: "redis" }), 1);
    });

    it("serves only its own paths on each port", async () => {
        assert.equal((await get(config.healthPort, "/metrics")).status, 404);
        assert.equal((await get(config.metricsPort, "/healthz")).status, 404);
        assert.equal((await get(config.port, "/healthz")).status, 404);
    });

    it("stores appointments in PostgreSQL, caches reads in Redis and queues reminders", async () => {
        const created = await post(config.port, "/appointments", { patient: "Ada", scheduledAt: "2030-01-02T09:30:00Z" });
        assert.equal(created.status, 201);
        assert.deepEqual({ ...created.json, id: "x" }, { id: "x", patient: "Ada", scheduledAt: "2030-01-02T09:30:00.000Z", status: "active" });

        const first = await get(config.port, `/appointments/${created.json.id}`);
        const second = await get(config.port, `/appointments/${created.json.id}`);
        assert.equal(first.headers.get("x-cache"), "miss");
        assert.equal(second.headers.get("x-cache"), "hit");
        assert.deepEqual(second.json(), created.json);
        assert.equal(await api.store.redis.llen("queue:appointment-reminders"), 1);

        const metrics = (await get(config.metricsPort, "/metrics")).text;
        assert.equal(sample(metrics, "healthcare_active_appointments"), 1);
        assert.equal(sample(metrics, "healthcare_queue_depth", { queue: "queue:appointment-reminders" }), 1);
        assert.equal(sample(metrics, "http_requests_total", { method: "POST", route: "/appointments", code: "201" }), 1);
        // The route template, not the raw path: one series however many appointments exist.
        assert.equal(sample(metrics, "http_requests_total", { method: "GET", route: "/appointments/:id", code: "200" }), 2);

        const completed = await post(config.port, `/appointments/${created.json.id}/complete`);
        assert.equal(completed.json.status, "completed");
        assert.equal((await get(config.port, `/appointments/${created.json.id}`)).headers.get("x-cache"), "miss");
        assert.equal(sample((await get(config.metricsPort, "/metrics")).text, "healthcare_active_appointments"), 0);
    });

    it("rejects bad requests with the reason, and counts them", async () => {
        const unmatched = async () => sample((await get(config.metricsPort, "/metrics")).text, "http_requests_total", { method: "GET", route: "unmatched", code: "404" }) ?? 0;
        const before = await unmatched();
        assert.deepEqual(await post(config.port, "/appointments", { patient: "", scheduledAt: "tomorrow" }), {
            status: 400,
            json: { error: "patient must be a non-empty string of at most 200 characters" },
        });
        assert.equal((await get(config.port, "/appointments/999999")).status, 404);
        assert.equal((await get(config.port, "/nowhere")).status, 404);
        assert.equal((await get(config.port, "/work?ms=5000")).status, 400);
        assert.equal(await unmatched(), before + 1);
    });

    it("burns CPU on /work for load tests", async () => {
        const work = await get(config.port, "/work?ms=30");
        assert.equal(work.status, 200);
        assert.ok(work.json().burnedMs >= 30);
    });

    it("exposes the connection pool's state", async () => {
        const metrics = (await get(config.metricsPort, "/metrics")).text;
        assert.equal(sample(metrics, "db_connection_pool_size"), 10);
        assert.equal(sample(metrics, "db_connection_pool_waiting"), 0);
        const active = sample(metrics, "db_connection_pool_active")!;
        const idle = sample(metrics, "db_connection_pool_idle")!;
        assert.ok(active >= 0 && idle >= 1 && active + idle <= 10, `active ${active}, idle ${idle}`);
    });
});

describe("readiness is the pod's own; dependency health is a metric", () => {
    const up = async (port: number, dependency: string) => sample((await get(port, "/metrics")).text, "healthcare_dependency_up", { dependency });

    it("is ready without Redis and after PostgreSQL is gone, and reports each in healthcare_dependency_up", async () => {
        const pg = await startPostgres();
        const redisPort = await freePort(10000);
        const config = readConfig(environment(pg, redisPort, "test-redis-password", await ports()));
        const api = await startApi(config);
        let redis: RedisNode | undefined;
        try {
            // A pod that has started serves: its dependencies' outages must not empty the Service.
            assert.deepEqual((await get(config.healthPort, "/readyz")).json(), { status: "ready" });
            assert.equal(await up(config.metricsPort, "postgres"), 1);
            assert.equal(await up(config.metricsPort, "redis"), 0);
            assert.equal((await get(config.healthPort, "/healthz")).status, 200);

            // A cluster-mode node that owns no slot answers, but the cluster is not ok.
            redis = await startRedis({ port: redisPort, assignSlots: false });
            await new Promise((r) => setTimeout(r, 1500));
            assert.equal(await up(config.metricsPort, "redis"), 0);
            assert.equal((await get(config.healthPort, "/readyz")).status, 200);

            await redis.assignSlots();
            await waitFor(async () => (await up(config.metricsPort, "redis")) === 1, "redis reported up once the slots are served");

            await pg.stop();
            assert.equal(await up(config.metricsPort, "postgres"), 0);
            assert.equal(await up(config.metricsPort, "redis"), 1);
            assert.equal((await get(config.healthPort, "/readyz")).status, 200, "still ready: the pod itself is fine");
            // Requests that need the database fail on their own, as 503s the error-rate alert counts.
            const failed = await post(config.port, "/appointments", { patient: "Ada", scheduledAt: "2030-01-02T09:30:00Z" });
            assert.deepEqual(failed, { status: 503, json: { error: "a dependency is unavailable" } });
        } finally {
            await api.close();
            await redis?.stop();
            await pg.stop();
        }
    });

    it("turns not ready while draining, keeps serving until the drain ends, then closes", async () => {
        const [pg, redis] = await Promise.all([startPostgres(), startRedis()]);
        const config = readConfig(environment(pg, redis.port, redis.password, await ports()));
        const api = await startApi(config);
        try {
            const drained = api.drain(1500);
            await new Promise((r) => setTimeout(r, 200));
            assert.deepEqual(await get(config.healthPort, "/readyz").then((r) => ({ status: r.status, body: r.json() })), { status: 503, body: { status: "draining" } });
            assert.equal((await get(config.port, "/")).status, 200, "requests in flight still get answers");
            await drained;
            await assert.rejects(fetch(`http://127.0.0.1:${config.healthPort}/readyz`));
        } finally {
            await api.close().catch(() => undefined);
            await Promise.all([pg.stop(), redis.stop()]);
        }
    });

    it("never reports ready when it cannot open its ports", async () => {
        const pg = await startPostgres();
        const p = await ports();
        const blocker = (await import("node:net")).createServer();
        await new Promise<void>((resolve) => blocker.listen(p.port, resolve));
        try {
            const config = readConfig(environment(pg, await freePort(10000), "x", p));
            await assert.rejects(startApi(config), /EADDRINUSE/);
            await assert.rejects(fetch(`http://127.0.0.1:${p.health}/readyz`), "the health port is closed again");
        } finally {
            blocker.close();
            await pg.stop();
        }
    });
});

describe("the container's entry point", () => {
    const main = path.join(__dirname, "..", "src", "main.js");

    it("exits with status 2 and names what is missing", async () => {
        const child = spawn(process.execPath, [main], { env: { PATH: process.env.PATH }, stdio: ["ignore", "pipe", "inherit"] });
        let out = "";
        child.stdout.on("data", (d) => (out += d));
        const code = await new Promise((resolve) => child.on("exit", resolve));
        assert.equal(code, 2);
        assert.match(out, /DATABASE_HOST is not set/);
        assert.match(out, /REDIS_CLUSTER_NODES is not set/);
    });

    it("serves and stops cleanly on SIGTERM", async () => {
        const [pg, redis] = await Promise.all([startPostgres(), startRedis()]);
        const p = await ports();
        const child = spawn(process.execPath, [main], { env: { PATH: process.env.PATH, ...environment(pg, redis.port, redis.password, p), DRAIN_MS: "200" }, stdio: "ignore" });
        try {
            await waitFor(async () => (await get(p.health, "/readyz")).status === 200, "the entry point to become ready");
            const exited = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
            child.kill("SIGTERM");
            assert.equal(await exited, 0);
        } finally {
            child.kill("SIGKILL");
            await Promise.all([pg.stop(), redis.stop()]);
        }
    });
});
