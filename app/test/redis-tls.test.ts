import assert from "node:assert/strict";
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { readConfig } from "../src/config";
import { Store } from "../src/store";
import { freePort } from "./support/services";
import { baseEnv, problems } from "./support/config";
import { createCa, issueServerCertificate, KeyPair } from "./support/tls";

/**
 * The ACL rules the Pulumi program gives the API's user (components/redisCluster.ts, `redisUsers.api`),
 * read from its source: this package does not depend on the program, but must work under its rules.
 */
function shippedApiUser(): { name: string; rules: string } {
    const source = readFileSync(path.join(__dirname, "..", "..", "..", "components", "redisCluster.ts"), "utf8");
    const match = /api: \{\s*name: "([^"]+)",\s*rules: "([^"]+)"/.exec(source);
    assert.ok(match, "redisUsers.api in components/redisCluster.ts");
    return { name: match[1], rules: match[2] };
}

describe("REDIS_USERNAME, REDIS_TLS_CA_FILE and REDIS_TLS_SERVERNAME", () => {
    let dir: string;
    let caFile: string;
    before(() => {
        dir = mkdtempSync(path.join(tmpdir(), "standin-redis-tls-config-"));
        caFile = path.join(dir, "ca.crt");
        writeFileSync(caFile, createCa("redis-config-test-ca").cert);
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it("without them: plain TCP as the default user (a Redis without ACL users)", () => {
        const config = readConfig(baseEnv);
        assert.equal(config.redis.tls, undefined);
        assert.equal(config.redis.username, undefined);
    });

    it("reads the user, and the CA file once at start, with the name to verify", () => {
        const config = readConfig({ ...baseEnv, REDIS_USERNAME: "healthcare-api", REDIS_PASSWORD: "pw", REDIS_TLS_CA_FILE: caFile, REDIS_TLS_SERVERNAME: "redis-cluster" });
        assert.equal(config.redis.username, "healthcare-api");
        assert.equal(config.redis.tls?.serverName, "redis-cluster");
        assert.match(config.redis.tls?.ca ?? "", /BEGIN CERTIFICATE/);
    });

    it("rejects a half setting and an unreadable or non-PEM CA file, naming each variable", () => {
        assert.deepEqual(problems({ ...baseEnv, REDIS_TLS_CA_FILE: caFile }), [
            "REDIS_TLS_SERVERNAME is not set (REDIS_TLS_CA_FILE is: the client must know which name the nodes' certificate carries)",
        ]);
        assert.deepEqual(problems({ ...baseEnv, REDIS_TLS_SERVERNAME: "redis-cluster" }), [
            'REDIS_TLS_SERVERNAME = "redis-cluster" is set without REDIS_TLS_CA_FILE: TLS to Redis needs the CA certificate',
        ]);
        assert.match(problems({ ...baseEnv, REDIS_TLS_CA_FILE: path.join(dir, "missing.crt"), REDIS_TLS_SERVERNAME: "r" })[0], /REDIS_TLS_CA_FILE = ".*missing\.crt" is not a readable file \(ENOENT\)/);
        writeFileSync(path.join(dir, "not.crt"), "not a certificate");
        assert.match(problems({ ...baseEnv, REDIS_TLS_CA_FILE: path.join(dir, "not.crt"), REDIS_TLS_SERVERNAME: "r" })[0], /is not a PEM certificate/);
    });
});

describe("the Store against a real Redis Cluster node with TLS only and the shipped ACL users", () => {
    let dir: string;
    let server: ChildProcess | undefined;
    let port: number;
    const password = "test-api-password";
    const caFiles = { right: "", other: "" };
    const user = shippedApiUser();

    before(async () => {
        if (spawnSync("sh", ["-c", "command -v redis-server"]).status !== 0) {
            throw new Error("redis-server is not installed: these tests run a real Redis. Run .ci/run, or: apt-get install redis-server");
        }
        dir = mkdtempSync(path.join(tmpdir(), "standin-redis-tls-"));
        const ca: KeyPair = createCa("test-redis-ca");
        // As cert-manager issues the nodes' certificate: the fixed name clients verify, no IP address for pods.
        const node = issueServerCertificate(ca, "DNS:redis-cluster,DNS:*.redis-cluster-headless.test.svc.cluster.local");
        caFiles.right = path.join(dir, "ca.crt");
        caFiles.other = path.join(dir, "other-ca.crt");
        writeFileSync(caFiles.right, ca.cert);
        writeFileSync(caFiles.other, createCa("some-other-ca").cert);
        writeFileSync(path.join(dir, "tls.crt"), node.cert);
        writeFileSync(path.join(dir, "tls.key"), node.key, { mode: 0o600 });
        port = await freePort(10000);
        writeFileSync(
            path.join(dir, "redis.conf"),
            [
                "port 0", `tls-port ${port}`, "bind 127.0.0.1", `dir ${dir}`, 'save ""', "appendonly no",
                `tls-cert-file ${dir}/tls.crt`, `tls-key-file ${dir}/tls.key`, `tls-ca-cert-file ${dir}/ca.crt`, "tls-auth-clients optional", "tls-cluster yes",
                "cluster-enabled yes", "cluster-config-file nodes.conf", "cluster-announce-ip 127.0.0.1",
                "user default off resetpass -@all",
                `user ${user.name} on >${password} ${user.rules}`,
                "user test-admin on >test-admin-password ~* &* +@all",
                "",
            ].join("\n"),
            { mode: 0o600 },
        );
        server = spawn("redis-server", [path.join(dir, "redis.conf")], { stdio: "ignore" });
        const admin = (...args: string[]) =>
            spawnSync("redis-cli", ["--tls", "--cacert", caFiles.right, "--user", "test-admin", "-p", String(port), ...args], { env: { PATH: process.env.PATH, REDISCLI_AUTH: "test-admin-password" }, encoding: "utf8" }).stdout.trim();
        for (let i = 0; admin("PING") !== "PONG"; i++) {
            assert.ok(i < 100, "redis-server answers over TLS");
            await new Promise((r) => setTimeout(r, 50));
        }
        assert.equal(admin("CLUSTER", "ADDSLOTSRANGE", "0", "16383"), "OK");
        for (let i = 0; !admin("CLUSTER", "INFO").includes("cluster_state:ok"); i++) {
            assert.ok(i < 100, "cluster_state:ok");
            await new Promise((r) => setTimeout(r, 50));
        }
    });
    after(() => {
        server?.kill("SIGKILL");
        rmSync(dir, { recursive: true, force: true });
    });

    const store = (overrides: NodeJS.ProcessEnv = {}) =>
        new Store(
            readConfig({
                ...baseEnv,
                REDIS_CLUSTER_NODES: `127.0.0.1:${port}`,
                REDIS_USERNAME: user.name,
                REDIS_PASSWORD: password,
                REDIS_TLS_CA_FILE: caFiles.right,
                REDIS_TLS_SERVERNAME: "redis-cluster",
                CHECK_TIMEOUT_MS: "3000",
                ...overrides,
            }),
        );

    it("as the API's user over TLS: readiness (CLUSTER INFO), the queue and the cache work", async () => {
        const s = store();
        try {
            // The client connects in the background (no offline queue): readiness turns ok once it has.
            let check = await s.checkRedis();
            for (let i = 0; !check.ok && i < 100; i++) {
                await new Promise((r) => setTimeout(r, 50));
                check = await s.checkRedis();
            }
            assert.deepEqual(check, { ok: true, detail: "ok" });
            await s.redis.lpush("queue:appointment-reminders", "{}");
            assert.equal(await s.queueDepth(), 1);
            assert.equal(await s.redis.set("appointment:1", "{}", "EX", 60), "OK");
            assert.equal(await s.redis.get("appointment:1"), "{}");
            assert.equal(await s.redis.del("appointment:1"), 1);
            await assert.rejects(s.redis.flushall(), /NOPERM/, "nothing @dangerous");
        } finally {
            await s.close();
        }
    });

    it("refuses a node certificate another CA signed, a wrong name, and a wrong password", async () => {
        for (const overrides of [{ REDIS_TLS_CA_FILE: caFiles.other }, { REDIS_TLS_SERVERNAME: "not-redis" }, { REDIS_PASSWORD: "wrong" }]) {
            const s = store(overrides);
            try {
                // Given the time the good client needs to connect, still not ready.
                await new Promise((r) => setTimeout(r, 1000));
                const result = await s.checkRedis();
                assert.equal(result.ok, false, JSON.stringify(overrides));
            } finally {
                await s.close();
            }
        }
    });
});
