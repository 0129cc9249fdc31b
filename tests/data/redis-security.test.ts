import * as assert from "assert";
import { spawnSync } from "child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import * as tls from "tls";
import { redisScripts, redisUsers } from "../../components/redisCluster";
import { names } from "../../lib/names";
import {
    clusterInfo,
    issueNodeCertificate,
    PodCluster,
    probe,
    RedisNode,
    redisCli,
    redisCliAs,
    runAsset,
    shippedRedisConfig,
    startRedisNodes,
    stopRedisNodes,
    testPasswords,
    testTls,
} from "../support/redis";

/** The serial number of the certificate a node presents to a new TLS connection. */
function servedSerial(host: string, port: number, ca: string): Promise<string> {
    return new Promise((resolve, reject) => {
        const socket = tls.connect({ host, port, ca: readFileSync(ca), servername: names.redis.tlsServerName }, () => {
            const serial = socket.getPeerCertificate().serialNumber;
            socket.destroy();
            resolve(serial);
        });
        socket.once("error", reject);
    });
}

/** The serial number of a PEM certificate file. */
function fileSerial(file: string): string {
    return spawnSync("openssl", ["x509", "-in", file, "-noout", "-serial"], { encoding: "utf8" }).stdout.trim().replace(/^serial=/, "").toUpperCase();
}

/**
 * The ACL users and TLS of components/redisCluster.ts on a real redis-server (the shipped redis.conf
 * lines, the test CA and node certificate): what each user may and may not run, that the default user
 * and plain text are refused, and that a renewed certificate is served without a restart.
 */
describe("Redis ACL users and TLS, against real redis-server processes", function () {
    this.timeout(120000);
    let node: RedisNode;

    before(async () => {
        [node] = await startRedisNodes(1);
        // A single-node cluster owning every slot, formed by the maintenance user (reconcile script).
        const formed = runAsset(redisScripts.reconcile, { REDIS_NODES: node.address, REDIS_REPLICAS: "0", WAIT_SECONDS: "30" });
        assert.strictEqual(formed.status, 0, formed.stderr + formed.stdout);
        assert.strictEqual(clusterInfo(node).cluster_state, "ok");
    });
    after(async () => stopRedisNodes([node]));

    it("the API's user runs what the API runs (app/src/store.ts and ioredis's cluster discovery), and nothing @admin or @dangerous", () => {
        const api = (...args: string[]) => redisCliAs("api", node, ...args);
        // What Store does: the reminder queue, the read-through cache, readiness (CLUSTER INFO).
        assert.strictEqual(api("LPUSH", "queue:appointment-reminders", '{"appointmentId":"1"}'), "1");
        assert.strictEqual(api("LLEN", "queue:appointment-reminders"), "1");
        assert.strictEqual(api("SET", "appointment:1", "{}", "EX", "60"), "OK");
        assert.strictEqual(api("GET", "appointment:1"), "{}");
        assert.strictEqual(api("DEL", "appointment:1"), "1");
        assert.match(api("CLUSTER", "INFO"), /^cluster_state:ok/);
        // What ioredis's Cluster sends on each connection: the slot map, its connection name (and CLIENT SETINFO on Redis >= 7.2).
        assert.match(api("CLUSTER", "SLOTS"), /^0\n16383\n/);
        assert.doesNotMatch(api("CLUSTER", "SHARDS"), /NOPERM/);
        assert.strictEqual(api("CLIENT", "SETNAME", "ioredis-cluster(refresher)"), "OK");
        assert.strictEqual(api("PING"), "PONG");
        for (const command of [["FLUSHALL"], ["FLUSHDB"], ["CONFIG", "SET", "maxmemory", "1"], ["CONFIG", "GET", "masterauth"], ["KEYS", "*"], ["INFO"], ["SHUTDOWN"], ["BGREWRITEAOF"], ["CLUSTER", "RESET"], ["CLIENT", "KILL", "TYPE", "normal"], ["MIGRATE", "127.0.0.1", "1", "k", "0", "1"], ["ACL", "LIST"], ["MONITOR"], ["SUBSCRIBE", "x"]]) {
            assert.match(api(...command), /NOPERM/, `${command.join(" ")} is refused to the API's user`);
        }
    });

    it("the exporter's user reads INFO, CLUSTER INFO, SLOWLOG and LATENCY, and no key, no config, no admin command", () => {
        const exporter = (...args: string[]) => redisCliAs("exporter", node, ...args);
        assert.match(exporter("INFO", "ALL"), /^# Server/);
        assert.match(exporter("CLUSTER", "INFO"), /^cluster_state:ok/);
        assert.doesNotMatch(exporter("CLUSTER", "NODES"), /NOPERM/);
        assert.match(exporter("SLOWLOG", "LEN"), /^\d+$/);
        assert.doesNotMatch(exporter("LATENCY", "LATEST"), /NOPERM/);
        assert.strictEqual(exporter("CLIENT", "SETNAME", "redis_exporter"), "OK");
        for (const command of [["GET", "appointment:1"], ["SET", "k", "v"], ["CONFIG", "GET", "*"], ["CONFIG", "SET", "maxmemory", "1"], ["FLUSHALL"], ["CLIENT", "LIST"], ["SLOWLOG", "RESET"]]) {
            assert.match(exporter(...command), /NOPERM/, `${command.join(" ")} is refused to the exporter's user`);
        }
    });

    it("the maintenance, node and replication users may not flush, reconfigure or shut down what they do not own", () => {
        for (const command of [["FLUSHALL"], ["CONFIG", "SET", "maxmemory", "1"], ["CONFIG", "GET", "masterauth"], ["SHUTDOWN"], ["ACL", "SETUSER", "x", "on"], ["BGREWRITEAOF"], ["KEYS", "*"]]) {
            assert.match(redisCliAs("maintenance", node, ...command), /NOPERM/, `${command.join(" ")} is refused to the maintenance user`);
        }
        // The node's own user: its probes, its preStop handover and the certificate reload, no key.
        assert.match(redisCliAs("node", node, "INFO", "replication"), /^# Replication/);
        assert.match(redisCliAs("node", node, "GET", "appointment:1"), /NOPERM/);
        assert.match(redisCliAs("node", node, "FLUSHALL"), /NOPERM/);
        assert.match(redisCliAs("node", node, "CONFIG", "GET", "masterauth"), /NOPERM/);
        // Replicas' login to their master: the replication stream only.
        assert.strictEqual(redisCliAs("replication", node, "PING"), "PONG");
        for (const command of [["GET", "k"], ["INFO"], ["CLUSTER", "NODES"], ["CONFIG", "GET", "*"]]) {
            assert.match(redisCliAs("replication", node, ...command), /NOPERM/, `${command.join(" ")} is refused to the replication user`);
        }
    });

    it("refuses the default user and a wrong password", () => {
        const run = (args: string[], env: Record<string, string> = {}) =>
            spawnSync("redis-cli", ["--tls", "--cacert", testTls().ca, "-h", "127.0.0.1", "-p", String(node.port), ...args], { env: { PATH: process.env.PATH, ...env }, encoding: "utf8" });
        assert.match(run(["PING"]).stdout, /NOAUTH Authentication required/, "no login: the default user is off");
        assert.match(run(["--user", "default", "PING"], { REDISCLI_AUTH: "anything" }).stdout + run(["--user", "default", "PING"], { REDISCLI_AUTH: "anything" }).stderr, /WRONGPASS/);
        assert.match(run(["--user", redisUsers.api.name, "PING"], { REDISCLI_AUTH: "wrong" }).stdout + run(["--user", redisUsers.api.name, "PING"], { REDISCLI_AUTH: "wrong" }).stderr, /WRONGPASS/);
    });

    it("refuses plain text: the data port speaks TLS only (port 0), and a client must trust the stack's CA", () => {
        const plain = spawnSync("redis-cli", ["--user", redisUsers.api.name, "-h", "127.0.0.1", "-p", String(node.port), "PING"], {
            env: { PATH: process.env.PATH, REDISCLI_AUTH: testPasswords.api },
            encoding: "utf8",
            timeout: 10000,
        });
        assert.notStrictEqual((plain.stdout ?? "").trim(), "PONG", "no reply over plain text");
        assert.match(plain.stdout + plain.stderr, /Connection reset by peer|I\/O error|Error/);
        // A CA of its own: the node's certificate does not verify.
        const otherCa = mkdtempSync(path.join(tmpdir(), "other-ca-"));
        try {
            spawnSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=other"], { cwd: otherCa });
            const untrusted = spawnSync("redis-cli", ["--tls", "--cacert", path.join(otherCa, "ca.crt"), "--user", redisUsers.api.name, "-h", "127.0.0.1", "-p", String(node.port), "PING"], {
                env: { PATH: process.env.PATH, REDISCLI_AUTH: testPasswords.api },
                encoding: "utf8",
            });
            assert.match(untrusted.stdout + untrusted.stderr, /certificate verify failed|SSL/i);
        } finally {
            rmSync(otherCa, { recursive: true, force: true });
        }
    });
});

describe("Redis certificate renewal: the liveness probe reloads it, without a restart", function () {
    this.timeout(120000);
    let cluster: PodCluster;
    let tlsDir: string;

    before(async () => {
        // The node's own copy of the test CA and certificate: this test renews it.
        tlsDir = mkdtempSync(path.join(tmpdir(), "redis-renewal-"));
        for (const file of ["ca.crt", "ca.key", "tls.crt", "tls.key"]) {
            copyFileSync(path.join(testTls().dir, file), path.join(tlsDir, file));
        }
        cluster = await PodCluster.create(1, shippedRedisConfig("local").replaceAll("/etc/redis/tls/", `${tlsDir}/`));
        await cluster.start(cluster.nodes[0], { REDIS_TLS_DIR: tlsDir, REDIS_TLS_CA_FILE: path.join(tlsDir, "ca.crt") });
    });
    after(async () => {
        await cluster.destroy();
        rmSync(tlsDir, { recursive: true, force: true });
    });

    it("replaced certificate files: the next liveness probe has redis-server read them (CONFIG SET), the new one is served, same process", async () => {
        const node = cluster.nodes[0];
        const env = { REDIS_PROBE_HOST: node.ip, REDIS_PORT: String(cluster.port), REDIS_TLS_DIR: tlsDir, REDIS_TLS_CA_FILE: path.join(tlsDir, "ca.crt"), REDIS_RUN_DIR: path.join(cluster.root, "run-0") };
        const pid = node.process!.pid;
        const before = await servedSerial(node.ip, cluster.port, path.join(tlsDir, "ca.crt"));
        assert.strictEqual(before.toUpperCase(), fileSerial(path.join(tlsDir, "tls.crt")));
        const unchanged = probe("liveness", env);
        assert.strictEqual(unchanged.status, 0, unchanged.stdout);
        assert.doesNotMatch(unchanged.stdout, /reload/, "nothing to reload while the files are the ones loaded at start");

        // cert-manager renews: a new key and certificate; the kubelet swaps the files in place.
        issueNodeCertificate(tlsDir, "renewed");
        const renewed = fileSerial(path.join(tlsDir, "tls.crt"));
        assert.notStrictEqual(renewed, before.toUpperCase());
        const reload = probe("liveness", env);
        assert.strictEqual(reload.status, 0, reload.stdout);
        assert.match(reload.stdout, /liveness: reloaded the TLS certificate/);
        assert.strictEqual((await servedSerial(node.ip, cluster.port, path.join(tlsDir, "ca.crt"))).toUpperCase(), renewed, "new connections get the renewed certificate");
        assert.strictEqual(node.process?.pid, pid, "the same redis-server process");
        assert.match(redisCli(node.address, "INFO", "server"), new RegExp(`process_id:${pid}\\b`));
        assert.doesNotMatch(probe("liveness", env).stdout, /reload/, "reloaded once");

        // A broken renewal (a key that does not match the certificate): logged, retried, never fails the probe; the node keeps serving.
        copyFileSync(path.join(tlsDir, "ca.key"), path.join(tlsDir, "tls.key"));
        const broken = probe("liveness", env);
        assert.strictEqual(broken.status, 0, broken.stdout);
        assert.match(broken.stdout, /changed but could not be reloaded/);
        assert.strictEqual((await servedSerial(node.ip, cluster.port, path.join(tlsDir, "ca.crt"))).toUpperCase(), renewed);
        assert.strictEqual(probe("readiness", env).status, 0);
    });
});
