import { Cluster } from "ioredis";
import { Pool, PoolConfig } from "pg";
import { ConnectionOptions } from "tls";
import { Config, DatabaseSsl, RedisTls } from "./config";
import { log } from "./log";

/** An appointment as the API returns it. */
export interface Appointment {
    id: string;
    patient: string;
    scheduledAt: string;
    status: "active" | "completed";
}

/** Redis list the API pushes reminder jobs to; its length is the `healthcare_queue_depth` metric. */
export const reminderQueue = "queue:appointment-reminders";

/** How long a cached appointment lives in Redis, in seconds. */
const cacheTtlSeconds = 60;

/** The outcome of one dependency check, for the readiness endpoint (never carries credentials). */
export interface CheckResult {
    ok: boolean;
    detail: string;
}

/** Rejects with `what timed out` when `promise` takes longer than `ms`. */
function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * node-postgres's `ssl` option for DATABASE_SSL_MODE. Only `ca` is trusted (it replaces node's
 * public roots). verify-full keeps node's checkServerIdentity: the certificate must name the host
 * connected to (a DNS name, or an IP address SAN when connecting by address); verify-ca skips that
 * check but still verifies the chain. `false` (not undefined) for disable, so a PGSSLMODE in the
 * environment cannot turn TLS on behind the setting's back.
 */
export function databaseTls(ssl: DatabaseSsl): false | ConnectionOptions {
    switch (ssl.mode) {
        case "disable":
            return false;
        case "verify-ca":
            return { ca: ssl.ca, rejectUnauthorized: true, checkServerIdentity: () => undefined };
        case "verify-full":
            return { ca: ssl.ca, rejectUnauthorized: true };
    }
}

/**
 * ioredis's `tls` option for the Redis nodes: only `ca` is trusted, and the certificate must carry
 * `serverName` (checked instead of the address: the cluster's MOVED redirects name pod IPs, which no
 * certificate lists). Undefined: plain TCP.
 */
export function redisTlsOptions(tls: RedisTls | undefined): ConnectionOptions | undefined {
    return tls && { ca: tls.ca, servername: tls.serverName, rejectUnauthorized: true };
}

/** The PostgreSQL pool's settings: server, credentials, size, TLS and timeouts. */
export function poolConfig(config: Config): PoolConfig {
    const db = config.database;
    return {
        host: db.host,
        port: db.port,
        database: db.name,
        user: db.user,
        password: db.password,
        ssl: databaseTls(db.ssl),
        max: db.poolMax,
        connectionTimeoutMillis: config.checkTimeoutMs,
        idleTimeoutMillis: 30000,
    };
}

/** PostgreSQL (appointments) and the Redis Cluster (cache and reminder queue). */
export class Store {
    readonly pool: Pool;
    readonly redis: Cluster;
    private schema?: Promise<void>;
    private lastRedisError = "";

    constructor(private readonly config: Config) {
        this.pool = new Pool(poolConfig(config));
        // An idle client that loses its server emits here; without a listener the process would exit.
        this.pool.on("error", (error) => log("warn", "postgres connection lost", { error: error.message }));

        this.redis = new Cluster(
            config.redis.nodes.map((n) => ({ host: n.host, port: n.port })),
            {
                redisOptions: {
                    username: config.redis.username,
                    password: config.redis.password,
                    tls: redisTlsOptions(config.redis.tls),
                    connectTimeout: config.checkTimeoutMs,
                    // Its INFO is not the API user's to run (@dangerous); checkRedis() reads CLUSTER INFO instead.
                    enableReadyCheck: false,
                },
                // Fail fast while the cluster is unreachable: readiness must say so instead of queueing forever.
                enableOfflineQueue: false,
                // ioredis's own ready check cannot run without the offline queue; checkRedis() does it.
                enableReadyCheck: false,
                clusterRetryStrategy: (attempt) => Math.min(200 * attempt, 2000),
                slotsRefreshTimeout: config.checkTimeoutMs,
            },
        );
        this.redis.on("error", (error: Error) => {
            // ioredis repeats the same error on every retry; log each distinct one once.
            if (error.message !== this.lastRedisError) {
                this.lastRedisError = error.message;
                log("warn", "redis cluster error", { error: error.message });
            }
        });
        this.redis.once("ready", () => log("info", "redis cluster connected"));
    }

    /** Creates the table once per process; retried after a failure. */
    ensureSchema(): Promise<void> {
        if (!this.schema) {
            this.schema = this.pool
                .query(
                    `CREATE TABLE IF NOT EXISTS appointments (
                        id BIGSERIAL PRIMARY KEY,
                        patient TEXT NOT NULL,
                        scheduled_at TIMESTAMPTZ NOT NULL,
                        status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'completed')),
                        created_at TIMESTAMPTZ NOT NULL DEFAULT now()
                    )`,
                )
                .then(() => undefined)
                .catch((error: Error) => {
                    this.schema = undefined;
                    throw error;
                });
        }
        return this.schema;
    }

    /** Stores an active appointment and queues its reminder. */
    async createAppointment(patient: string, scheduledAt: Date): Promise<Appointment> {
        await this.ensureSchema();
        const { rows } = await this.pool.query(
            "INSERT INTO appointments (patient, scheduled_at) VALUES ($1, $2) RETURNING id, patient, scheduled_at, status",
            [patient, scheduledAt.toISOString()],
        );
        const appointment = toAppointment(rows[0]);
        await this.redis.lpush(reminderQueue, JSON.stringify({ appointmentId: appointment.id, at: appointment.scheduledAt }));
        return appointment;
    }

    /** Reads through the Redis cache; `cached` says where the answer came from. */
    async getAppointment(id: string): Promise<{ appointment?: Appointment; cached: boolean }> {
        const key = cacheKey(id);
        const hit = await this.redis.get(key);
        if (hit) {
            return { appointment: JSON.parse(hit) as Appointment, cached: true };
        }
        await this.ensureSchema();
        const { rows } = await this.pool.query("SELECT id, patient, scheduled_at, status FROM appointments WHERE id = $1", [id]);
        if (rows.length === 0) {
            return { cached: false };
        }
        const appointment = toAppointment(rows[0]);
        await this.redis.set(key, JSON.stringify(appointment), "EX", cacheTtlSeconds);
        return { appointment, cached: false };
    }

    /** Marks an appointment completed and drops its cache entry. */
    async completeAppointment(id: string): Promise<Appointment | undefined> {
        await this.ensureSchema();
        const { rows } = await this.pool.query(
            "UPDATE appointments SET status = 'completed' WHERE id = $1 RETURNING id, patient, scheduled_at, status",
            [id],
        );
        await this.redis.del(cacheKey(id));
        return rows.length > 0 ? toAppointment(rows[0]) : undefined;
    }

    /** Appointments still active, cluster-wide (every pod reports the same number). */
    async activeAppointments(): Promise<number> {
        await this.ensureSchema();
        const { rows } = await this.pool.query("SELECT count(*)::int AS n FROM appointments WHERE status = 'active'");
        return rows[0].n as number;
    }

    /** Reminder jobs waiting in Redis. */
    queueDepth(): Promise<number> {
        return this.redis.llen(reminderQueue);
    }

    /** The connection pool's state: configured size, connections in use, idle ones, clients waiting for one. */
    poolStats(): { size: number; active: number; idle: number; waiting: number } {
        return {
            size: this.config.database.poolMax,
            active: this.pool.totalCount - this.pool.idleCount,
            idle: this.pool.idleCount,
            waiting: this.pool.waitingCount,
        };
    }

    /** PostgreSQL answers a query (and the schema exists). */
    async checkDatabase(): Promise<CheckResult> {
        try {
            await withTimeout(
                this.ensureSchema().then(() => this.pool.query("SELECT 1")),
                this.config.checkTimeoutMs,
                "postgres",
            );
            return { ok: true, detail: "ok" };
        } catch (error) {
            return { ok: false, detail: (error as Error).message };
        }
    }

    /** The Redis Cluster answers and reports every slot served (`cluster_state:ok`). */
    async checkRedis(): Promise<CheckResult> {
        try {
            const info = (await withTimeout(this.redis.cluster("INFO"), this.config.checkTimeoutMs, "redis")) as string;
            const state = /cluster_state:(\w+)/.exec(info)?.[1] ?? "unknown";
            return state === "ok" ? { ok: true, detail: "ok" } : { ok: false, detail: `cluster_state:${state}` };
        } catch (error) {
            return { ok: false, detail: (error as Error).message };
        }
    }

    async close(): Promise<void> {
        this.redis.disconnect();
        await this.pool.end();
    }
}

function cacheKey(id: string): string {
    return `appointment:${id}`;
}

function toAppointment(row: { id: string | number; patient: string; scheduled_at: Date; status: Appointment["status"] }): Appointment {
    return { id: String(row.id), patient: row.patient, scheduledAt: new Date(row.scheduled_at).toISOString(), status: row.status };
}
