/**
 * A rolling restart of a PodCluster under load, as the StatefulSet controller rolls the pods (highest
 * ordinal first, one at a time, the next only once the last is Ready), with the shipped preStop hook
 * before each SIGTERM, while a client writes and reads every shard continuously. Used by
 * tests/data/redis-roll.test.ts and `npm run bench:redis-roll`.
 *
 * The client is the strictest reasonable cluster client: it follows MOVED and ASK (what every
 * cluster client does; on MOVED it moves every slot of the old owner to the new one, as clients
 * refresh their slot map) and counts everything else as a failed operation, with no retry: a refused
 * or reset connection, -CLUSTERDOWN, -TRYAGAIN, -LOADING, a reply that is not what was written, or no
 * reply within 10 s. Real clients also retry after a connection error; this one does not. It connects
 * as the API does: over TLS, verifying the nodes' fixed name, logged in as the API's ACL user.
 */
import { spawn } from "child_process";
import { readFileSync } from "fs";
import * as tls from "tls";
import * as path from "path";
import { Worker } from "worker_threads";
import { redisScripts } from "../../components/redisCluster";
import { projectRoot } from "../../harness/stackConfig";
import { names } from "../../lib/names";
import { redisUsers } from "../../components/redisCluster";
import { clientEnv, PodCluster, probe, redisCli, scriptEnv, testPasswords, testTls } from "./redis";

/** CRC16/XMODEM, Redis Cluster's key hash. */
function crc16(text: string): number {
    let crc = 0;
    for (const byte of Buffer.from(text)) {
        crc ^= byte << 8;
        for (let i = 0; i < 8; i++) {
            crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
        }
    }
    return crc;
}

/** The slot of a key (its {hash tag} when it has one). */
export function slotOf(key: string): number {
    const open = key.indexOf("{");
    const close = open >= 0 ? key.indexOf("}", open + 1) : -1;
    return crc16(close > open + 1 ? key.slice(open + 1, close) : key) % 16384;
}

type Reply = { ok: true; value: string | null } | { ok: false; error: string };

/** One RESP connection: commands in order, replies in order. */
class Connection {
    private readonly socket: tls.TLSSocket;
    private buffer = Buffer.alloc(0);
    private readonly waiting: Array<(reply: Reply) => void> = [];
    private closed?: string;

    constructor(readonly address: string) {
        const colon = address.lastIndexOf(":");
        this.socket = tls.connect({
            host: address.slice(0, colon),
            port: Number(address.slice(colon + 1)),
            ca: readFileSync(testTls().ca),
            servername: names.redis.tlsServerName,
        });
        this.socket.on("data", (d) => this.receive(d));
        const fail = (why: string) => {
            this.closed ??= why;
            for (const w of this.waiting.splice(0)) {
                w({ ok: false, error: `connection to ${address}: ${why}` });
            }
        };
        this.socket.on("error", (e) => fail(e.message));
        this.socket.on("close", () => fail("closed"));
    }

    get usable(): boolean {
        return this.closed === undefined;
    }

    send(args: string[], timeoutMs = 10000): Promise<Reply> {
        if (this.closed) {
            return Promise.resolve({ ok: false, error: `connection to ${this.address}: ${this.closed}` });
        }
        return new Promise((resolve) => {
            const timer = setTimeout(() => {
                this.closed ??= "timed out";
                this.socket.destroy();
                resolve({ ok: false, error: `no reply from ${this.address} within ${timeoutMs} ms` });
            }, timeoutMs);
            this.waiting.push((reply) => {
                clearTimeout(timer);
                resolve(reply);
            });
            this.socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`);
        });
    }

    close(): void {
        this.closed ??= "closed by the client";
        this.socket.destroy();
    }

    private receive(data: Buffer): void {
        this.buffer = Buffer.concat([this.buffer, data]);
        for (;;) {
            const end = this.buffer.indexOf("\r\n");
            if (end < 0) {
                return;
            }
            const type = String.fromCharCode(this.buffer[0]);
            const line = this.buffer.subarray(1, end).toString();
            let reply: Reply;
            let consumed = end + 2;
            if (type === "$") {
                const length = Number(line);
                if (length < 0) {
                    reply = { ok: true, value: null };
                } else {
                    if (this.buffer.length < consumed + length + 2) {
                        return;
                    }
                    reply = { ok: true, value: this.buffer.subarray(consumed, consumed + length).toString() };
                    consumed += length + 2;
                }
            } else if (type === "-") {
                reply = { ok: false, error: line };
            } else {
                reply = { ok: true, value: line };
            }
            this.buffer = this.buffer.subarray(consumed);
            this.waiting.shift()?.(reply);
        }
    }
}

/** What the client saw for one shard (the slots one master held when the load started). */
export interface ShardFigures {
    /** The shard's master when the load started. */
    shard: string;
    writes: number;
    reads: number;
    failedWrites: number;
    failedReads: number;
    /** The longest a single operation took, redirects included (ms). */
    longestPauseMs: number;
    /** The first failures, for the test's message. */
    failures: string[];
}

/** A client writing and reading keys of every shard, one loop per shard, until stopped. */
export class ClusterLoad {
    private readonly connections = new Map<string, Connection>();
    private readonly slotOwner = new Map<number, string>();
    private running = true;
    private readonly loops: Promise<void>[] = [];
    readonly figures: ShardFigures[] = [];

    constructor(seed: string, keysPerShard = 20) {
        // The initial layout: each master's slot ranges, from CLUSTER NODES.
        for (const { address, slots } of this.mastersOf(seed)) {
            const keys: string[] = [];
            for (let i = 0; keys.length < keysPerShard; i++) {
                const key = `roll:{${i}}`;
                if (slots.some(([from, to]) => slotOf(key) >= from && slotOf(key) <= to)) {
                    keys.push(key);
                    this.slotOwner.set(slotOf(key), address);
                }
            }
            const figures: ShardFigures = { shard: address, writes: 0, reads: 0, failedWrites: 0, failedReads: 0, longestPauseMs: 0, failures: [] };
            this.figures.push(figures);
            this.loops.push(this.loop(keys, figures));
        }
    }

    /** The masters holding slots, with their ranges. */
    private mastersOf(seed: string): Array<{ address: string; slots: Array<[number, number]> }> {
        const byMaster = new Map<string, Array<[number, number]>>();
        for (const line of redisCli(seed, "CLUSTER", "NODES").split("\n").filter(Boolean)) {
            const [, address, flags, , , , , , ...ranges] = line.split(" ");
            if (!flags.includes("master")) {
                continue;
            }
            const slots = ranges.filter((r) => !r.startsWith("[")).map((r) => r.split("-").map(Number) as [number, number]).map(([a, b]) => [a, b ?? a] as [number, number]);
            if (slots.length > 0) {
                byMaster.set(address.split("@")[0], slots);
            }
        }
        return [...byMaster].map(([address, slots]) => ({ address, slots }));
    }

    private connection(address: string): Connection {
        let c = this.connections.get(address);
        if (!c || !c.usable) {
            c = new Connection(address);
            this.connections.set(address, c);
            // AUTH (as the API's user) is pipelined ahead of the first command on the connection.
            void c.send(["AUTH", redisUsers.api.name, testPasswords.api]);
        }
        return c;
    }

    /** Runs one command against the slot's master, following MOVED and ASK. */
    private async command(args: string[], slot: number): Promise<Reply> {
        let address = this.slotOwner.get(slot)!;
        let asking = false;
        for (let hop = 0; hop < 5; hop++) {
            const c = this.connection(address);
            if (asking) {
                void c.send(["ASKING"]);
            }
            const reply = await c.send(args);
            const redirect = !reply.ok && /^(MOVED|ASK) \d+ (\S+)$/.exec(reply.error);
            if (!redirect) {
                return reply;
            }
            asking = redirect[1] === "ASK";
            if (!asking) {
                // As cluster clients refresh their slot map on MOVED (ioredis, redis-py, go-redis): a
                // failover moves the whole shard, so every slot the old owner held goes to the new one
                // (a later MOVED corrects a slot that went elsewhere).
                for (const [known, owner] of this.slotOwner) {
                    if (owner === address) {
                        this.slotOwner.set(known, redirect[2]);
                    }
                }
                this.slotOwner.set(slot, redirect[2]);
            }
            address = redirect[2];
        }
        return { ok: false, error: "too many redirects" };
    }

    private async loop(keys: string[], figures: ShardFigures): Promise<void> {
        const fail = (what: string) => {
            if (figures.failures.length < 5) {
                figures.failures.push(what);
            }
        };
        for (let n = 0; this.running; n++) {
            const key = keys[n % keys.length];
            const value = `v${n}`;
            let started = Date.now();
            const written = await this.command(["SET", key, value], slotOf(key));
            figures.longestPauseMs = Math.max(figures.longestPauseMs, Date.now() - started);
            figures.writes++;
            if (!written.ok || written.value !== "OK") {
                figures.failedWrites++;
                fail(`SET ${key}: ${written.ok ? written.value : written.error}`);
                await new Promise((r) => setTimeout(r, 20));
                continue;
            }
            started = Date.now();
            const read = await this.command(["GET", key], slotOf(key));
            figures.longestPauseMs = Math.max(figures.longestPauseMs, Date.now() - started);
            figures.reads++;
            if (!read.ok || read.value !== value) {
                figures.failedReads++;
                fail(`GET ${key}: ${read.ok ? `${read.value}, expected ${value}` : read.error}`);
            }
        }
    }

    /** Stops the loops and closes the connections; returns the figures. */
    async stop(): Promise<ShardFigures[]> {
        this.running = false;
        await Promise.all(this.loops);
        for (const c of this.connections.values()) {
            c.close();
        }
        return this.figures;
    }
}

/**
 * Starts a ClusterLoad in a worker thread (tests/support/redisLoadWorker.ts), so that the roll's
 * synchronous calls on this thread never pause the client; resolves once the client has started.
 */
export async function startLoad(seed: string): Promise<{ stop(): Promise<ShardFigures[]> }> {
    const worker = new Worker(
        `require("ts-node").register({ transpileOnly: true }); require(${JSON.stringify(path.join(__dirname, "redisLoadWorker.ts"))});`,
        { eval: true, workerData: { seed } },
    );
    const next = () =>
        new Promise<any>((resolve, reject) => {
            worker.once("message", resolve);
            worker.once("error", reject);
        });
    await next();
    return {
        async stop() {
            const reply = next();
            worker.postMessage({ stop: true });
            const { figures } = await reply;
            await worker.terminate();
            return figures as ShardFigures[];
        },
    };
}

/** Runs the shipped preStop hook for a node, as the kubelet runs it before SIGTERM (without blocking the event loop). */
export function runPreStop(cluster: PodCluster, ordinal: number): Promise<{ status: number | null; output: string }> {
    const node = cluster.nodes[ordinal];
    return new Promise((resolve) => {
        const child = spawn("sh", [path.join(projectRoot, "components", "assets", redisScripts.preStop)], {
            env: { ...scriptEnv(), ...clientEnv("node"), REDIS_PORT: String(cluster.port), REDIS_PROBE_HOST: node.ip },
        });
        let output = "";
        child.stdout.on("data", (d) => (output += d));
        child.stderr.on("data", (d) => (output += d));
        child.on("exit", (status) => resolve({ status, output }));
    });
}

/** Waits until the shipped readiness probe passes for a node, as the StatefulSet controller waits before the next pod. */
export async function waitReady(cluster: PodCluster, ordinal: number, timeoutMs = 60000): Promise<void> {
    const node = cluster.nodes[ordinal];
    const deadline = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < deadline) {
        const result = probe("readiness", { REDIS_PROBE_HOST: node.ip, REDIS_PORT: String(cluster.port) });
        if (result.status === 0) {
            return;
        }
        last = result.stdout + result.stderr;
        await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`redis-cluster-${ordinal} was not ready within ${timeoutMs} ms: ${last}`);
}

/** One node's step of the roll, for the report. */
export interface RollStep {
    ordinal: number;
    preStop: string;
    wasMaster: boolean;
}

/**
 * Rolls every node, highest ordinal first: the preStop hook, SIGTERM, a new address (a new pod gets
 * a new IP), the shipped start script, then readiness. Returns what each preStop said. `preStop:
 * false` leaves the hook out (the benchmark's baseline).
 */
export async function rollCluster(cluster: PodCluster, options: { preStop: boolean } = { preStop: true }): Promise<RollStep[]> {
    const steps: RollStep[] = [];
    for (const node of [...cluster.nodes].sort((a, b) => b.ordinal - a.ordinal)) {
        const wasMaster = redisCli(node.address, "ROLE").startsWith("master");
        // Without the hook (the benchmark's baseline): SIGTERM straight away, as before this hook existed.
        const preStop = options.preStop ? await runPreStop(cluster, node.ordinal) : { output: "(no preStop hook)" };
        steps.push({ ordinal: node.ordinal, preStop: preStop.output.trim(), wasMaster });
        await cluster.stop(node);
        cluster.move(node);
        await cluster.start(node);
        await waitReady(cluster, node.ordinal);
    }
    return steps;
}
