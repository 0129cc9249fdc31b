import * as assert from "assert";
import { ChildProcess, execFileSync, spawn, spawnSync, SpawnSyncReturns } from "child_process";
import { createHash } from "crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "fs";
import * as net from "net";
import { tmpdir } from "os";
import * as path from "path";
import { redisAclLines, redisConfig, redisPasswordVariable, redisScripts, redisTlsDir, redisTlsLines, RedisUser, redisUsers } from "../../components/redisCluster";
import { names } from "../../lib/names";
import { parseSettings } from "../../config";
import { projectRoot, stackConfig } from "../../harness/stackConfig";
import { stopProcess } from "./processes";

/** One real redis-server process in cluster mode on loopback. */
export interface RedisNode {
    port: number;
    /** host:port, as the scripts take it. */
    address: string;
    process: ChildProcess;
    dir: string;
    /** The StatefulSet ordinal the node stands for (its announced hostname is redis-cluster-<ordinal>). */
    ordinal: number;
}

/** Each shipped ACL user's password on the test nodes. */
export const testPasswords: Readonly<Record<RedisUser, string>> = {
    api: "test-api-password",
    exporter: "test-exporter-password",
    maintenance: "test-maintenance-password",
    node: "test-node-password",
    replication: "test-replication-password",
};

/**
 * A user of the TESTS ONLY, with every right: the tests' own checks and the failures they stage
 * (CONFIG SET, DEBUG, CLIENT KILL) use it. Never shipped: the scripts under test log in as the shipped users.
 */
export const testAdmin = { name: "test-admin", password: "test-admin-password" } as const;

/** The shipped users' passwords as the StatefulSet gives them to the redis container (REDIS_<USER>_PASSWORD). */
export function passwordEnv(): Record<string, string> {
    return Object.fromEntries((Object.keys(testPasswords) as RedisUser[]).map((u) => [redisPasswordVariable(u), testPasswords[u]]));
}

/** The test run's certificates: a CA and one node certificate, as cert-manager issues the pods' (same SANs). */
export interface TestTls {
    /** Holds tls.crt, tls.key and ca.crt, as the pods' mounted Secret does. */
    dir: string;
    ca: string;
}

let tlsFiles: TestTls | undefined;

/** The CA and node certificate, made with openssl once per test process in a temporary folder. */
export function testTls(): TestTls {
    // A worker thread (the roll's load client) has its own module state: it uses its parent's files.
    const inherited = process.env.REDIS_TEST_TLS_DIR;
    if (!tlsFiles && inherited) {
        tlsFiles = { dir: inherited, ca: path.join(inherited, "ca.crt") };
    }
    if (!tlsFiles) {
        requireBinary("openssl");
        const dir = mkdtempSync(path.join(tmpdir(), "redis-tls-"));
        const key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        const run = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
        run("req", "-x509", ...key, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=redis-cluster CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
        issueNodeCertificate(dir, "node-1");
        process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
        tlsFiles = { dir, ca: path.join(dir, "ca.crt") };
        process.env.REDIS_TEST_TLS_DIR = dir;
    }
    return tlsFiles;
}

/**
 * Issues (or renews) the node certificate in `dir` (tls.crt, tls.key) with the test CA there, named
 * as components/redisCluster.ts names the pods' certificate; `commonName` tells one issue from the next.
 */
export function issueNodeCertificate(dir: string, commonName: string): void {
    const run = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
    writeFileSync(
        path.join(dir, "node.ext"),
        [
            `subjectAltName=DNS:${names.redis.tlsServerName},DNS:${names.redis.headlessService},DNS:*.${PodCluster.domain},IP:127.0.0.1`,
            "extendedKeyUsage=serverAuth,clientAuth",
            "keyUsage=critical,digitalSignature,keyEncipherment",
            "",
        ].join("\n"),
    );
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "next.key", "-out", "next.csr", "-subj", `/CN=${commonName}`);
    run("x509", "-req", "-in", "next.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "next.crt", "-days", "2", "-extfile", "node.ext");
    // As the kubelet swaps a Secret volume's files: each replaced whole, never half-written.
    execFileSync("sh", ["-c", "mv next.crt tls.crt && mv next.key tls.key"], { cwd: dir });
}

/** The environment a script's redis-cli logs in with (redis-client.sh): `user` and its password, TLS verified with the test CA. */
export function clientEnv(user: RedisUser): Record<string, string> {
    return { REDIS_USER: redisUsers[user].name, REDISCLI_AUTH: testPasswords[user], REDIS_TLS: "1", REDIS_TLS_CA_FILE: testTls().ca };
}

/** `#{REDIS_<USER>_PASSWORD}` replaced by the SHA-256 of the test password, as the start script does. */
function resolvePasswords(line: string): string {
    return line.replace(/#\{([A-Z0-9_]+)\}/g, (_, variable: string) => `#${createHash("sha256").update(passwordEnv()[variable]).digest("hex")}`);
}

/**
 * What makes a test node's redis.conf secured as a pod's: the shipped ACL users (with the test
 * passwords) and the test admin, then TLS on `port` (data, replication, bus) with the test certificate.
 */
export function securedConfigLines(port: number): string[] {
    return [
        ...redisAclLines().map(resolvePasswords),
        `masterauth "${testPasswords.replication}"`,
        `user ${testAdmin.name} on >${testAdmin.password} ~* &* +@all`,
        ...redisTlsLines().map((l) => l.replace(redisTlsDir, testTls().dir)),
        `tls-port ${port}`,
    ];
}

/** Writes a redis.conf for a test node in `dir`, bound to `host`, TLS on `port`, with `extra` lines; returns its path. */
export function writeTestConfig(dir: string, host: string, port: number, extra: string[] = []): string {
    const file = path.join(dir, "redis-test.conf");
    writeFileSync(file, [`bind ${host}`, `dir ${dir}`, 'save ""', "appendonly no", ...securedConfigLines(port), ...extra, ""].join("\n"), { mode: 0o600 });
    return file;
}

function requireBinary(name: string): void {
    if (spawnSync("sh", ["-c", `command -v ${name}`]).status !== 0) {
        throw new Error(`${name} is not installed: these tests run real Redis processes. Run .ci/run, or: apt-get install redis-server`);
    }
}

function isFree(port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const server = net.createServer();
        server.once("error", () => resolve(false));
        server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
    });
}

const taken = new Set<number>();

/** A free port whose cluster-bus port (+10000) is free as well. */
async function freePort(): Promise<number> {
    for (let attempt = 0; attempt < 200; attempt++) {
        const port = 20000 + Math.floor(Math.random() * 35000);
        if (!taken.has(port) && !taken.has(port + 10000) && (await isFree(port)) && (await isFree(port + 10000))) {
            taken.add(port);
            taken.add(port + 10000);
            return port;
        }
    }
    throw new Error("no free port pair found for redis-server");
}

/** redis-cli's `-h <host> -p <port>` for a node or a host:port address. */
function cliTarget(node: RedisNode | string): string[] {
    const address = typeof node === "string" ? node : node.address;
    const colon = address.lastIndexOf(":");
    return ["-h", address.slice(0, colon), "-p", address.slice(colon + 1)];
}

/** redis-cli's TLS and login options, as `user` (a shipped one) or the test admin. */
function cliLogin(user?: RedisUser): { args: string[]; env: Record<string, string> } {
    const login = user ? { name: redisUsers[user].name, password: testPasswords[user] } : testAdmin;
    return { args: ["--tls", "--cacert", testTls().ca, "--user", login.name], env: { REDISCLI_AUTH: login.password } };
}

/** Runs redis-cli against a node over TLS, as the test admin (its password through REDISCLI_AUTH). */
export function redisCli(node: RedisNode | string, ...args: string[]): string {
    return redisCliAs(undefined, node, ...args);
}

/** Runs redis-cli against a node over TLS as shipped user `user` (the test admin when undefined). */
export function redisCliAs(user: RedisUser | undefined, node: RedisNode | string, ...args: string[]): string {
    const login = cliLogin(user);
    const result = spawnSync("redis-cli", [...login.args, ...cliTarget(node), ...args], {
        env: { ...process.env, ...login.env },
        encoding: "utf8",
    });
    return (result.stdout ?? "").replace(/\r/g, "").trim();
}

/**
 * Runs `commands` through one `redis-cli -c` (following MOVED redirects) that reads them from
 * stdin: one process for many keys instead of one each. Returns each command's one-line reply, in
 * order. Arguments must not contain spaces or quotes.
 */
export function redisCliCluster(node: RedisNode | string, commands: string[][]): string[] {
    const login = cliLogin();
    const result = spawnSync("redis-cli", [...login.args, ...cliTarget(node), "-c"], {
        env: { ...process.env, ...login.env },
        input: commands.map((c) => c.join(" ")).join("\n") + "\n",
        encoding: "utf8",
    });
    const replies = (result.stdout ?? "")
        .replace(/\r/g, "")
        .split("\n")
        .filter((line) => line !== "" && !line.startsWith("-> Redirected"));
    if (replies.length !== commands.length) {
        throw new Error(`redis-cli answered ${replies.length} of ${commands.length} commands: ${result.stderr}${replies.slice(-3).join(" / ")}`);
    }
    return replies;
}

/** CLUSTER INFO of a node as a map. */
export function clusterInfo(node: RedisNode): Record<string, string> {
    return Object.fromEntries(
        redisCli(node, "CLUSTER", "INFO")
            .split("\n")
            .filter((line) => line.includes(":"))
            .map((line) => line.split(":", 2) as [string, string]),
    );
}

/** One line of CLUSTER NODES, reduced to what defines the topology. */
export interface ClusterNodeView {
    id: string;
    address: string;
    role: "master" | "replica";
    masterId?: string;
    slots: number;
}

/** The cluster's topology as a node sees it. */
export function clusterNodes(node: RedisNode): ClusterNodeView[] {
    return redisCli(node, "CLUSTER", "NODES")
        .split("\n")
        .filter(Boolean)
        .map((line) => {
            const [id, address, flags, master, , , , , ...slotRanges] = line.split(" ");
            const slots = slotRanges
                .filter((r) => !r.startsWith("["))
                .reduce((sum, r) => {
                    const [from, to] = r.split("-").map(Number);
                    return sum + (to === undefined ? 1 : to - from + 1);
                }, 0);
            return {
                id,
                address: address.split("@")[0],
                role: flags.includes("master") ? "master" : "replica",
                masterId: master === "-" ? undefined : master,
                slots,
            };
        });
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 10000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
        if (Date.now() > deadline) {
            throw new Error(`timed out waiting for ${what}`);
        }
        await new Promise((r) => setTimeout(r, 100));
    }
}

/**
 * Starts `count` empty cluster-mode nodes on loopback; stop them with `stopRedisNodes`. Each announces
 * the pod name the StatefulSet would give it (`redis-cluster-<ordinal>`, from `firstOrdinal` on), as
 * the pods do, so that the maintenance scripts can tell the nodes' ordinals.
 */
export async function startRedisNodes(count: number, firstOrdinal = 0): Promise<RedisNode[]> {
    requireBinary("redis-server");
    requireBinary("redis-cli");
    const nodes: RedisNode[] = [];
    for (let i = 0; i < count; i++) {
        const port = await freePort();
        const dir = mkdtempSync(path.join(tmpdir(), `redis-${port}-`));
        // The pods' users and TLS (a config file: no password in argv here either).
        const config = writeTestConfig(dir, "127.0.0.1", port);
        const child = spawn(
            "redis-server",
            [
                config,
                "--cluster-enabled", "yes",
                // As the start script announces the pod IP: CLUSTER SLOTS then names an address clients can use.
                "--cluster-announce-ip", "127.0.0.1",
                "--cluster-config-file", "nodes.conf",
                "--cluster-announce-hostname", `redis-cluster-${firstOrdinal + i}`,
                // As redisConfig() sets it for the pods: the scripts own the replica layout.
                "--cluster-allow-replica-migration", "no",
                "--cluster-node-timeout", "3000",
                "--dir", dir,
                // Replicas sync at once instead of after the default 5 s batching delay: faster tests, same protocol.
                "--repl-diskless-sync-delay", "0",
            ],
            { stdio: "ignore" },
        );
        nodes.push({ port, address: `127.0.0.1:${port}`, process: child, dir, ordinal: firstOrdinal + i });
    }
    for (const node of nodes) {
        await waitFor(() => redisCli(node, "PING") === "PONG", `redis-server on ${node.address}`);
    }
    return nodes;
}

/** Stops the nodes and removes their data. */
export async function stopRedisNodes(nodes: RedisNode[]): Promise<void> {
    await Promise.all(
        nodes.map((node) => stopProcess(node.process, "SIGKILL")),
    );
    for (const node of nodes) {
        rmSync(node.dir, { recursive: true, force: true });
        taken.delete(node.port);
        taken.delete(node.port + 10000);
    }
}

/** Env every script run gets in tests: waits check ten times a second (a Job checks each second). */
export const scriptEnv = () => ({ PATH: process.env.PATH ?? "/usr/bin:/bin", POLL_SECONDS: "0.1" });

/** Runs one of the shipped scripts (components/assets) with `sh`, as the pods do. */
export function runAsset(script: string, env: Record<string, string>, timeoutMs = 120000): SpawnSyncReturns<string> {
    return spawnSync("sh", [path.join(projectRoot, "components", "assets", script)], {
        env: { ...scriptEnv(), ...clientEnv("maintenance"), ...env },
        encoding: "utf8",
        timeout: timeoutMs,
    });
}

/** Runs one of the shipped scripts with `sh` in the background, as a pod runs its command. */
export function spawnAsset(script: string, env: Record<string, string>): ChildProcess {
    return spawn("sh", [path.join(projectRoot, "components", "assets", script)], {
        env: { ...scriptEnv(), ...env },
        stdio: ["ignore", "pipe", "pipe"],
    });
}

/** One Redis node run the way a pod runs it: the shipped start script, on a loopback address of its own. */
export interface PodNode {
    /** StatefulSet ordinal: the pod is redis-cluster-<ordinal>. */
    ordinal: number;
    /** The pod's current IP (a new one each time the test "reschedules" it). */
    ip: string;
    /** ip:port. */
    address: string;
    /** The node's volume (/data in the pod). */
    dir: string;
    /** The node's zone (the pod's topology.kubernetes.io/zone label); undefined: unknown. */
    zone?: string;
    /** The running start script (then redis-server, which it execs), if any. */
    process?: ChildProcess;
    /** What the start script and redis-server printed, over every start. */
    output: string;
}

/**
 * A StatefulSet's worth of Redis nodes on loopback, each started by the shipped start script
 * (components/assets/redis-start.sh) with the shipped redis.conf, on an address of its own
 * (127.<a>.<b>.<n>): the tests restart them on new addresses, as rescheduled pods get new IPs. The
 * cluster DNS is a stand-in: a hosts file (STANDIN_HOSTS_FILE_FOR_TESTS) that maps each running
 * node's stable name, redis-cluster-<ordinal>.<domain>, to its current address, plus the DNS canary.
 */
export class PodCluster {
    /** The headless Service's domain in the stand-in DNS. */
    static readonly domain = "redis-cluster-headless.test.svc.cluster.local";
    /** The canary name the scripts check the DNS with. */
    static readonly canary = "kubernetes.default.svc.cluster.local";
    readonly nodes: PodNode[] = [];
    readonly hostsFile: string;
    /** Names left out of the stand-in DNS (pods whose record is not published yet). */
    readonly unpublished = new Set<number>();
    /** The DNS canary answers. */
    dnsAnswers = true;
    private nextHost = 1;

    private constructor(
        readonly root: string,
        private readonly prefix: string,
        readonly port: number,
        private readonly template: string,
        private readonly nodeTimeoutMs: number | undefined,
    ) {
        this.hostsFile = path.join(root, "hosts");
    }

    /**
     * Creates `count` nodes (not started yet). `zones[i]` is node i's zone. `nodeTimeout` overrides
     * the shipped cluster-node-timeout, in ms (2000 by default: short, for fast tests); "shipped" keeps
     * the shipped one. (Not `undefined` for that: an argument passed as undefined takes the default.)
     */
    static async create(count: number, template: string, zones: (string | undefined)[] = [], nodeTimeout: number | "shipped" = 2000): Promise<PodCluster> {
        requireBinary("redis-server");
        requireBinary("redis-cli");
        assert.match(template, /^tls-cluster yes$/m, "the test nodes run the shipped config with TLS (redisTls)");
        const root = mkdtempSync(path.join(tmpdir(), "redis-pods-"));
        // A random 127.a.b.0/24 per cluster: no collision with other tests' loopback listeners.
        const prefix = `127.${10 + Math.floor(Math.random() * 240)}.${10 + Math.floor(Math.random() * 240)}.`;
        const cluster = new PodCluster(root, prefix, await freePort(), template, nodeTimeout === "shipped" ? undefined : nodeTimeout);
        for (let i = 0; i < count; i++) {
            const dir = path.join(root, `data-${i}`);
            mkdirSync(dir);
            const ip = cluster.newIp();
            cluster.nodes.push({ ordinal: i, ip, address: `${ip}:${cluster.port}`, dir, zone: zones[i], output: "" });
        }
        cluster.publish();
        return cluster;
    }

    /** A loopback address no node of this cluster has used yet. */
    newIp(): string {
        if (this.nextHost > 254) {
            throw new Error("out of loopback addresses for this cluster");
        }
        return `${this.prefix}${this.nextHost++}`;
    }

    /** Gives node `i` a new address, as a rescheduled pod gets a new IP (the node must be stopped). */
    move(node: PodNode): void {
        assert.ok(!node.process, `redis-cluster-${node.ordinal} is stopped before it moves`);
        node.ip = this.newIp();
        node.address = `${node.ip}:${this.port}`;
        this.publish();
    }

    /** Writes the stand-in DNS: every published node's stable name at its current address, and the canary. */
    publish(): void {
        const lines = this.nodes.filter((n) => !this.unpublished.has(n.ordinal)).map((n) => `${n.ip} redis-cluster-${n.ordinal}.${PodCluster.domain}`);
        if (this.dnsAnswers) {
            lines.push(`10.96.0.1 ${PodCluster.canary}`);
        }
        writeFileSync(this.hostsFile, lines.join("\n") + "\n");
    }

    /** The environment the StatefulSet gives the start script, with the stand-ins for the pod and the DNS. */
    podEnv(node: PodNode, extra: Record<string, string> = {}): Record<string, string> {
        const template = path.join(this.root, `redis-${node.ordinal}.conf`);
        // The shipped redis.conf with the node's own directory for /data, then what only loopback
        // tests need: an address per node, the cluster's port, short timeouts (a later line wins).
        writeFileSync(
            template,
            [
                this.template
                    .trimEnd()
                    .replace(/^dir \/data$/m, `dir ${node.dir}`)
                    .replace(/^cluster-config-file \/data\/nodes\.conf$/m, `cluster-config-file ${path.join(node.dir, "nodes.conf")}`)
                    .replaceAll(`${redisTlsDir}/`, `${testTls().dir}/`),
                `bind ${node.ip}`,
                // The shipped config's TLS lines name the pods' mount: the test certificate instead.
                `tls-port ${this.port}`,
                `user ${testAdmin.name} on >${testAdmin.password} ~* &* +@all`,
                ...(this.nodeTimeoutMs === undefined ? [] : [`cluster-node-timeout ${this.nodeTimeoutMs}`]),
                "repl-diskless-sync-delay 0",
                "",
            ].join("\n"),
        );
        const runDir = path.join(this.root, `run-${node.ordinal}`);
        mkdirSync(runDir, { recursive: true });
        return {
            ...passwordEnv(),
            ...clientEnv("node"),
            REDIS_TLS_DIR: testTls().dir,
            POD_IP: node.ip,
            POD_NAME: `redis-cluster-${node.ordinal}`,
            REDIS_ZONE: node.zone ?? "",
            REDIS_PEER_DOMAIN: PodCluster.domain,
            REDIS_PEER_WAIT_SECONDS: "5",
            REDIS_PORT: String(this.port),
            REDIS_DATA_DIR: node.dir,
            REDIS_RUN_DIR: runDir,
            REDIS_CONFIG_TEMPLATE: template,
            REDIS_DNS_CANARY: PodCluster.canary,
            STANDIN_HOSTS_FILE_FOR_TESTS: this.hostsFile,
            ...extra,
        };
    }

    /**
     * Starts node `node` with the start script and waits until redis-server answers, or fails with
     * what the script printed when it exits first.
     */
    async start(node: PodNode, extra: Record<string, string> = {}): Promise<void> {
        assert.ok(!node.process, `redis-cluster-${node.ordinal} is not running yet`);
        const child = spawnAsset(redisScripts.start, this.podEnv(node, extra));
        node.process = child;
        const collect = (d: Buffer) => (node.output += d.toString());
        child.stdout!.on("data", collect);
        child.stderr!.on("data", collect);
        let exited: number | null | undefined;
        child.once("exit", (code) => {
            exited = code;
            node.process = undefined;
        });
        const deadline = Date.now() + 30000;
        while (Date.now() < deadline) {
            if (exited !== undefined) {
                throw new StartFailed(node, exited);
            }
            const reply = redisCli(node.address, "PING");
            if (reply !== "" && !reply.startsWith("Could not connect")) {
                return;
            }
            await new Promise((r) => setTimeout(r, 50));
        }
        throw new Error(`redis-cluster-${node.ordinal} did not answer within 30 s:\n${node.output}`);
    }

    /** Runs the start script for `node` to its end (it fails before exec'ing redis-server). */
    async startExpectingFailure(node: PodNode, extra: Record<string, string> = {}): Promise<{ status: number | null; output: string }> {
        try {
            await this.start(node, extra);
        } catch (error) {
            if (error instanceof StartFailed) {
                return { status: error.status, output: error.output };
            }
            throw error;
        }
        await this.stop(node);
        throw new Error(`redis-cluster-${node.ordinal} started, but was expected to refuse:\n${node.output}`);
    }

    /** Stops a node: SIGTERM, as the kubelet stops a pod (redis-server saves and exits). */
    async stop(node: PodNode, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
        const child = node.process;
        if (!child) {
            return;
        }
        await new Promise<void>((resolve) => {
            child.once("exit", () => resolve());
            child.kill(signal);
        });
        node.process = undefined;
    }

    /** Stops every node at once. */
    async stopAll(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
        await Promise.all(this.nodes.map((n) => this.stop(n, signal)));
    }

    /** Stops everything and removes the nodes' data. */
    async destroy(): Promise<void> {
        await this.stopAll("SIGKILL");
        rmSync(this.root, { recursive: true, force: true });
        taken.delete(this.port);
        taken.delete(this.port + 10000);
    }

    /** The reconcile/scale-in environment for these nodes (addresses, as the Job resolves names first). */
    jobEnv(replicas: number, extra: Record<string, string> = {}): Record<string, string> {
        return {
            REDIS_NODES: this.nodes.map((n) => n.address).join(" "),
            REDIS_REPLICAS: String(replicas),
            WAIT_SECONDS: "60",
            REDIS_DNS_CANARY: PodCluster.canary,
            STANDIN_HOSTS_FILE_FOR_TESTS: this.hostsFile,
            ...clientEnv("maintenance"),
            ...extra,
        };
    }

    /** What is still wrong with the cluster (every node sees state ok, all slots ok, every node, replicas linked), or nothing. */
    problems(): string[] {
        const problems: string[] = [];
        for (const node of this.nodes) {
            const info = Object.fromEntries(
                redisCli(node.address, "CLUSTER", "INFO")
                    .split("\n")
                    .filter((l) => l.includes(":"))
                    .map((l) => l.split(":", 2) as [string, string]),
            );
            if (info.cluster_state !== "ok" || info.cluster_slots_ok !== "16384" || info.cluster_known_nodes !== String(this.nodes.length)) {
                problems.push(`redis-cluster-${node.ordinal}: state ${info.cluster_state}, ${info.cluster_slots_ok} slots ok, ${info.cluster_known_nodes} nodes known`);
            }
            const replication = redisCli(node.address, "INFO", "replication");
            if (replication.includes("role:slave") && !replication.includes("master_link_status:up")) {
                problems.push(`redis-cluster-${node.ordinal}: replica not linked to its master`);
            }
        }
        return problems;
    }

    /** Polls until `problems()` is empty; returns the milliseconds it took, or throws after `timeoutMs`. */
    async waitHealthy(timeoutMs: number, since = Date.now()): Promise<number> {
        let last: string[] = [];
        while (Date.now() - since < timeoutMs) {
            last = this.problems();
            if (last.length === 0) {
                return Date.now() - since;
            }
            await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error(`the cluster was not healthy within ${timeoutMs} ms:\n${last.join("\n")}`);
    }
}

/** The start script exited instead of exec'ing a serving redis-server. */
export class StartFailed extends Error {
    readonly output: string;
    constructor(
        node: PodNode,
        readonly status: number | null,
    ) {
        super(`the start script of redis-cluster-${node.ordinal} exited with ${status}:\n${node.output.split("\n").slice(-30).join("\n")}`);
        this.output = node.output;
    }
}

/**
 * Stops every node of a formed cluster at once, moves each to a new address, starts them all
 * again together and returns how long, from the first start, until every node sees the cluster ok
 * with all 16384 slots served and every replica linked; fails after `timeoutMs`.
 */
export async function restartAllAtOnce(cluster: PodCluster, timeoutMs: number): Promise<number> {
    await cluster.stopAll();
    for (const node of cluster.nodes) {
        cluster.move(node);
    }
    const started = Date.now();
    await Promise.all(cluster.nodes.map((n) => cluster.start(n)));
    return cluster.waitHealthy(timeoutMs, started);
}

/** The redis.conf a shipped stack gives its nodes (components/redisCluster.ts redisConfig). */
export function shippedRedisConfig(stack: string): string {
    const values = Object.fromEntries(Object.entries(stackConfig(stack)).map(([k, v]) => [k.replace(/^healthcare-backend:/, ""), v]));
    return redisConfig(parseSettings({ project: "healthcare-backend", stack, get: (k) => values[k], keys: () => Object.keys(values) }).redis);
}

/**
 * A stand-in cluster DNS for the scripts (STANDIN_HOSTS_FILE_FOR_TESTS): a hosts file with `names`
 * (name -> address) and, when `answers`, the canary name the scripts check the DNS with.
 * Returns the environment that points the scripts at it.
 */
export function standinDns(names: Record<string, string> = {}, answers = true): Record<string, string> {
    const dir = mkdtempSync(path.join(tmpdir(), "standin-dns-"));
    const file = path.join(dir, "hosts");
    const lines = Object.entries(names).map(([name, address]) => `${address} ${name}`);
    if (answers) {
        lines.push(`10.96.0.1 ${PodCluster.canary}`);
    }
    writeFileSync(file, lines.join("\n") + "\n");
    return { STANDIN_HOSTS_FILE_FOR_TESTS: file, REDIS_DNS_CANARY: PodCluster.canary };
}

/** Runs the shipped probe script (components/assets/redis-probe.sh) in `mode`, as the kubelet does. */
export function probe(mode: "startup" | "liveness" | "readiness", env: Record<string, string>): SpawnSyncReturns<string> {
    return spawnSync("sh", [path.join(projectRoot, "components", "assets", redisScripts.probe), mode], {
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...clientEnv("node"), ...env },
        encoding: "utf8",
        timeout: 10000,
    });
}
