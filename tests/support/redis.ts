import { ChildProcess, spawn, spawnSync, SpawnSyncReturns } from "child_process";
import { mkdtempSync, rmSync } from "fs";
import * as net from "net";
import { tmpdir } from "os";
import * as path from "path";
import { projectRoot } from "../../tools/stackConfig";

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

/** The password the test nodes require, for clients and replication alike. */
export const testPassword = "test-cluster-password";

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

/** Runs redis-cli against a node, authenticated through REDISCLI_AUTH. */
export function redisCli(node: RedisNode | string, ...args: string[]): string {
    const address = typeof node === "string" ? node : node.address;
    const [host, port] = [address.slice(0, address.lastIndexOf(":")), address.slice(address.lastIndexOf(":") + 1)];
    const result = spawnSync("redis-cli", ["-h", host, "-p", port, ...args], {
        env: { ...process.env, REDISCLI_AUTH: testPassword },
        encoding: "utf8",
    });
    return (result.stdout ?? "").replace(/\r/g, "").trim();
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
        const child = spawn(
            "redis-server",
            [
                "--port", String(port),
                "--bind", "127.0.0.1",
                "--cluster-enabled", "yes",
                "--cluster-config-file", "nodes.conf",
                "--cluster-announce-hostname", `redis-cluster-${firstOrdinal + i}`,
                // As redisConfig() sets it for the pods: the scripts own the replica layout.
                "--cluster-allow-replica-migration", "no",
                "--cluster-node-timeout", "3000",
                "--dir", dir,
                "--requirepass", testPassword,
                "--masterauth", testPassword,
                "--save", "",
                "--appendonly", "no",
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
        nodes.map(
            (node) =>
                new Promise<void>((resolve) => {
                    if (node.process.exitCode !== null) {
                        return resolve();
                    }
                    node.process.once("exit", () => resolve());
                    node.process.kill("SIGKILL");
                }),
        ),
    );
    for (const node of nodes) {
        rmSync(node.dir, { recursive: true, force: true });
        taken.delete(node.port);
        taken.delete(node.port + 10000);
    }
}

/** Runs one of the shipped scripts (components/assets) with `sh`, as the pods do. */
export function runAsset(script: string, env: Record<string, string>, timeoutMs = 120000): SpawnSyncReturns<string> {
    return spawnSync("sh", [path.join(projectRoot, "components", "assets", script)], {
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", REDISCLI_AUTH: testPassword, ...env },
        encoding: "utf8",
        timeout: timeoutMs,
    });
}
