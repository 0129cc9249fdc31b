import { ChildProcess, execFileSync, spawn, spawnSync } from "child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "fs";
import Redis from "ioredis";
import * as net from "net";
import { tmpdir } from "os";
import * as path from "path";
import { Client } from "pg";

/**
 * Real PostgreSQL and Redis processes on loopback for the stand-in's tests. Debian's `postgresql`
 * and `redis-server` packages provide them; `.ci/run` installs both.
 */

export async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 20000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        if (await check().catch(() => false)) {
            return;
        }
        if (Date.now() > deadline) {
            throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
        }
        await new Promise((r) => setTimeout(r, 100));
    }
}

function portIsFree(port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const server = net.createServer();
        server.once("error", () => resolve(false));
        server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
    });
}

const handedOut = new Set<number>();

/** A free loopback port; with `plus`, `port + plus` is free too (the Redis cluster bus). */
export async function freePort(plus?: number): Promise<number> {
    for (let attempt = 0; attempt < 200; attempt++) {
        const port = 20000 + Math.floor(Math.random() * 35000);
        const ports = plus === undefined ? [port] : [port, port + plus];
        if (ports.every((p) => !handedOut.has(p)) && (await Promise.all(ports.map(portIsFree))).every(Boolean)) {
            ports.forEach((p) => handedOut.add(p));
            return port;
        }
    }
    throw new Error("no free port found");
}

function stop(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
    return new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) {
            return resolve();
        }
        child.once("exit", () => resolve());
        child.kill(signal);
    });
}

/** A PostgreSQL binary: on PATH, or in Debian's versioned folder (/usr/lib/postgresql/<major>/bin). */
function postgresBinary(name: "initdb" | "postgres"): string {
    const onPath = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).stdout.trim();
    if (onPath) {
        return onPath;
    }
    const root = "/usr/lib/postgresql";
    const majors = existsSync(root) ? readdirSync(root).filter((d) => /^\d+$/.test(d)).sort((a, b) => Number(b) - Number(a)) : [];
    for (const major of majors) {
        const candidate = path.join(root, major, "bin", name);
        if (existsSync(candidate)) {
            return candidate;
        }
    }
    throw new Error(`${name} is not installed: these tests run a real PostgreSQL server. Run .ci/run, or: apt-get install postgresql`);
}

/** PostgreSQL refuses to run as root: run it as the `postgres` user (Debian's package creates it), else nobody. */
function serverIdentity(): { uid: number; gid: number } | undefined {
    if (process.getuid?.() !== 0) {
        return undefined;
    }
    for (const user of ["postgres", "nobody"]) {
        const uid = spawnSync("id", ["-u", user], { encoding: "utf8" });
        const gid = spawnSync("id", ["-g", user], { encoding: "utf8" });
        if (uid.status === 0 && gid.status === 0) {
            return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
        }
    }
    throw new Error("running as root and neither a postgres nor a nobody user exists to run PostgreSQL");
}

/** A throwaway PostgreSQL server with the application's database and role (password authentication over TCP). */
export interface PostgresServer {
    port: number;
    database: string;
    user: string;
    password: string;
    stop(): Promise<void>;
}

export interface PostgresOptions {
    /**
     * Serve TLS with this certificate and key (PEM) and accept TCP connections only over TLS
     * (pg_hba `hostssl`, no `host` line): a client without TLS is refused.
     */
    tls?: { cert: string; key: string };
}

export async function startPostgres(options: PostgresOptions = {}): Promise<PostgresServer> {
    const identity = serverIdentity();
    const dir = mkdtempSync(path.join(tmpdir(), "standin-pg-"));
    const data = path.join(dir, "data");
    const superPassword = "test-superuser-password";
    /** Writes a file in `dir` the server's user owns (PostgreSQL refuses a key others can read). */
    const serverFile = (name: string, content: string, mode = 0o600): string => {
        const file = path.join(dir, name);
        writeFileSync(file, content, { mode });
        chmodSync(file, mode);
        if (identity) {
            chownSync(file, identity.uid, identity.gid);
        }
        return file;
    };
    if (identity) {
        chownSync(dir, identity.uid, identity.gid);
    }
    serverFile("pwfile", `${superPassword}\n`);
    execFileSync(
        postgresBinary("initdb"),
        ["-D", data, "-U", "postgres", "--pwfile", path.join(dir, "pwfile"), "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync"],
        { stdio: "pipe", ...identity },
    );
    const tlsSettings: string[] = [];
    if (options.tls) {
        const cert = serverFile("server.crt", options.tls.cert, 0o644);
        const key = serverFile("server.key", options.tls.key, 0o600);
        tlsSettings.push("-c", "ssl=on", "-c", `ssl_cert_file=${cert}`, "-c", `ssl_key_file=${key}`);
        // Replaces initdb's file: the Unix socket (the superuser's setup below) and TLS over TCP, nothing else.
        serverFile(
            path.join("data", "pg_hba.conf"),
            ["local all all trust", "hostssl all all 127.0.0.1/32 scram-sha-256", "hostssl all all ::1/128 scram-sha-256", ""].join("\n"),
        );
    }
    const port = await freePort();
    const server = spawn(
        postgresBinary("postgres"),
        ["-D", data, "-p", String(port), "-k", dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=50", ...tlsSettings],
        { stdio: "ignore", ...identity },
    );
    // Over TCP as the application connects; with TLS, over the Unix socket (trust), so setup does not depend on the TLS under test.
    const superuser = () =>
        options.tls
            ? new Client({ host: dir, port, user: "postgres", database: "postgres" })
            : new Client({ host: "127.0.0.1", port, user: "postgres", password: superPassword, database: "postgres" });
    await waitFor(async () => {
        const client = superuser();
        try {
            await client.connect();
            return true;
        } finally {
            await client.end().catch(() => undefined);
        }
    }, `postgres on port ${port}`);

    const database = "healthcare";
    const user = "healthcare";
    const password = "test-app-password";
    const admin = superuser();
    await admin.connect();
    await admin.query(`CREATE ROLE ${user} LOGIN PASSWORD '${password}'`);
    await admin.query(`CREATE DATABASE ${database} OWNER ${user}`);
    await admin.end();

    return {
        port,
        database,
        user,
        password,
        async stop() {
            await stop(server, "SIGINT");
            rmSync(dir, { recursive: true, force: true });
        },
    };
}

/** One cluster-mode redis-server on loopback; `assignSlots` gives it all 16384 slots (as the local stack does). */
export interface RedisNode {
    port: number;
    password: string;
    /** Gives the node every slot and waits for cluster_state:ok. */
    assignSlots(): Promise<void>;
    stop(): Promise<void>;
}

/** Starts redis-server on `port` (a free one by default); the cluster bus uses port + 10000. */
export async function startRedis(options: { port?: number; assignSlots?: boolean } = {}): Promise<RedisNode> {
    if (spawnSync("sh", ["-c", "command -v redis-server"]).status !== 0) {
        throw new Error("redis-server is not installed: these tests run a real Redis. Run .ci/run, or: apt-get install redis-server");
    }
    const port = options.port ?? (await freePort(10000));
    const password = "test-redis-password";
    const dir = mkdtempSync(path.join(tmpdir(), "standin-redis-"));
    const server = spawn(
        "redis-server",
        [
            "--port", String(port),
            "--bind", "127.0.0.1",
            "--cluster-enabled", "yes",
            // As components/assets/redis-start.sh does with the pod IP: a node that never met a peer
            // does not know its own address and reports an empty host in CLUSTER SLOTS.
            "--cluster-announce-ip", "127.0.0.1",
            "--cluster-config-file", "nodes.conf",
            "--dir", dir,
            "--requirepass", password,
            "--save", "",
            "--appendonly", "no",
        ],
        { stdio: "ignore" },
    );
    const client = () => new Redis({ host: "127.0.0.1", port, password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    const command = async (...args: string[]): Promise<unknown> => {
        const c = client();
        c.on("error", () => undefined); // refused while the server starts: the caller retries
        try {
            await c.connect();
            return await c.call(args[0], ...args.slice(1));
        } finally {
            c.disconnect();
        }
    };
    await waitFor(async () => (await command("PING")) === "PONG", `redis-server on port ${port}`);
    const node: RedisNode = {
        port,
        password,
        async assignSlots() {
            await command("CLUSTER", "ADDSLOTSRANGE", "0", "16383");
            await waitFor(async () => String(await command("CLUSTER", "INFO")).includes("cluster_state:ok"), "cluster_state:ok");
        },
        async stop() {
            await stop(server, "SIGKILL");
            rmSync(dir, { recursive: true, force: true });
        },
    };
    if (options.assignSlots ?? true) {
        await node.assignSlots();
    }
    return node;
}
