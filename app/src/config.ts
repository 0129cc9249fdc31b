import { X509Certificate } from "crypto";
import { readFileSync } from "fs";

/**
 * The stand-in's settings, read from the environment the Pulumi program gives the container
 * (components/api.ts). Every problem is reported at once, secrets never echoed.
 *
 * ConfigMap:
 * - PORT, METRICS_PORT, HEALTH_PORT (required); HEALTH_PATH (default /healthz), READY_PATH (default /readyz)
 * - DATABASE_HOST, DATABASE_NAME (required); DATABASE_PORT (default 5432); DATABASE_POOL_MAX (default 10)
 * - DATABASE_SSL_MODE: disable (default), verify-ca or verify-full, as libpq's sslmode; the
 *   Pulumi program sets verify-full when the database serves TLS (the CloudNativePG engine)
 * - DATABASE_SSL_ROOT_CERT: the CA certificate file (PEM) the server's certificate must chain to;
 *   required with verify-ca and verify-full (mounted from the database's CA Secret)
 * - REDIS_CLUSTER_NODES (required, host:port,...)
 * - REDIS_USERNAME: the API's Redis ACL user (the nodes' default user is off); unset logs in as default
 * - REDIS_TLS_CA_FILE: the CA certificate file (PEM) the nodes' certificate must chain to; set, the
 *   client speaks TLS to every node (the Pulumi program sets it with redisTls, mounted from the nodes'
 *   certificate Secret). REDIS_TLS_SERVERNAME (required with it): the name verified in the nodes'
 *   certificate instead of the address connected to, since MOVED redirects name pod IPs
 * - CHECK_TIMEOUT_MS (default 2000), DRAIN_MS (default 5000)
 *
 * Secrets: DATABASE_USER, DATABASE_PASSWORD (required), REDIS_PASSWORD (the REDIS_USERNAME user's).
 */

export interface RedisNodeAddress {
    readonly host: string;
    readonly port: number;
}

/** The TLS modes accepted in DATABASE_SSL_MODE; the names and meanings are libpq's sslmode. */
export const databaseSslModes = ["disable", "verify-ca", "verify-full"] as const;

/**
 * TLS to PostgreSQL. `disable`: plain TCP. `verify-ca`: TLS, the server's certificate must chain
 * to `ca`. `verify-full`: that, and the certificate must name the host connected to.
 */
export type DatabaseSsl =
    | { readonly mode: "disable" }
    | {
          readonly mode: "verify-ca" | "verify-full";
          /** DATABASE_SSL_ROOT_CERT, for messages. */
          readonly rootCertPath: string;
          /** The file's content (PEM), read once at start. */
          readonly ca: string;
      };

/** TLS to the Redis nodes: the CA their certificate must chain to, and the name it must carry. */
export interface RedisTls {
    /** REDIS_TLS_CA_FILE, for messages. */
    readonly caPath: string;
    /** The file's content (PEM), read once at start. */
    readonly ca: string;
    /** REDIS_TLS_SERVERNAME. */
    readonly serverName: string;
}

export interface Config {
    /** HTTP API port. */
    readonly port: number;
    /** Port serving only /metrics. */
    readonly metricsPort: number;
    /** Port serving only the health and readiness paths. */
    readonly healthPort: number;
    readonly healthPath: string;
    readonly readyPath: string;
    readonly database: {
        readonly host: string;
        readonly port: number;
        readonly name: string;
        readonly user: string;
        readonly password: string;
        /** Most connections the pool opens (DATABASE_POOL_MAX, default 10). */
        readonly poolMax: number;
        /** DATABASE_SSL_MODE and DATABASE_SSL_ROOT_CERT. */
        readonly ssl: DatabaseSsl;
    };
    readonly redis: {
        /** Seed nodes; the client discovers the rest of the cluster from them. */
        readonly nodes: readonly RedisNodeAddress[];
        readonly username?: string;
        readonly password?: string;
        /** REDIS_TLS_CA_FILE and REDIS_TLS_SERVERNAME; undefined: plain TCP. */
        readonly tls?: RedisTls;
    };
    /** Longest a dependency check (healthcare_dependency_up) waits for PostgreSQL or Redis, in ms (CHECK_TIMEOUT_MS, default 2000). */
    readonly checkTimeoutMs: number;
    /** After SIGTERM, how long the pod reports not ready but keeps serving before it closes, in ms (DRAIN_MS, default 5000). */
    readonly drainMs: number;
}

/** Thrown when the environment is incomplete or malformed; lists every problem. */
export class ConfigError extends Error {
    constructor(readonly problems: readonly string[]) {
        super(`invalid environment:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
        this.name = "ConfigError";
    }
}

/** Reads and validates the settings from `env`. */
export function readConfig(env: NodeJS.ProcessEnv): Config {
    const problems: string[] = [];
    const required = (name: string, secret = false): string => {
        const value = env[name];
        if (value === undefined || value === "") {
            problems.push(`${name} is not set${secret ? " (it comes from a Secret)" : ""}`);
            return "";
        }
        return value;
    };
    const port = (name: string, fallback?: number): number => {
        const raw = env[name];
        if ((raw === undefined || raw === "") && fallback !== undefined) {
            return fallback;
        }
        const n = Number(raw);
        if (!/^\d+$/.test(raw ?? "") || n < 1 || n > 65535) {
            problems.push(`${name} = ${JSON.stringify(raw ?? "")} is not a port number (1-65535)`);
        }
        return n;
    };
    const whole = (name: string, fallback: number, min: number): number => {
        const raw = env[name];
        if (raw === undefined || raw === "") {
            return fallback;
        }
        if (!/^\d+$/.test(raw) || Number(raw) < min) {
            problems.push(`${name} = ${JSON.stringify(raw)} is not a ${min === 0 ? "" : "positive "}whole number`);
        }
        return Number(raw);
    };
    const positive = (name: string, fallback: number) => whole(name, fallback, 1);
    const path = (name: string, fallback: string): string => {
        const value = env[name] || fallback;
        if (!value.startsWith("/")) {
            problems.push(`${name} = ${JSON.stringify(value)} is not an HTTP path starting with /`);
        }
        return value;
    };

    const databaseSsl = (): DatabaseSsl => {
        const raw = env.DATABASE_SSL_MODE;
        const mode = raw === undefined || raw === "" ? "disable" : raw;
        if (!(databaseSslModes as readonly string[]).includes(mode)) {
            problems.push(`DATABASE_SSL_MODE = ${JSON.stringify(raw)} is not one of ${databaseSslModes.join(", ")}`);
            return { mode: "disable" };
        }
        if (mode === "disable") {
            return { mode };
        }
        const verify = mode as "verify-ca" | "verify-full";
        const rootCertPath = env.DATABASE_SSL_ROOT_CERT ?? "";
        if (rootCertPath === "") {
            problems.push(`DATABASE_SSL_ROOT_CERT is not set (DATABASE_SSL_MODE = ${JSON.stringify(mode)} needs the CA certificate file)`);
            return { mode: verify, rootCertPath, ca: "" };
        }
        let ca: string;
        try {
            ca = readFileSync(rootCertPath, "utf8");
        } catch (error) {
            const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
            problems.push(`DATABASE_SSL_ROOT_CERT = ${JSON.stringify(rootCertPath)} is not a readable file (${code}); expected the CA certificate (PEM)`);
            return { mode: verify, rootCertPath, ca: "" };
        }
        try {
            // Parses the first certificate: a wrong file fails here, at start, not at every connection.
            new X509Certificate(ca);
        } catch {
            problems.push(`DATABASE_SSL_ROOT_CERT = ${JSON.stringify(rootCertPath)} is not a PEM certificate; expected the CA certificate`);
        }
        return { mode: verify, rootCertPath, ca };
    };

    /** Reads a CA certificate file (PEM) named by variable `name`, or records why it cannot. */
    const caFile = (name: string, caPath: string): string => {
        let ca: string;
        try {
            ca = readFileSync(caPath, "utf8");
        } catch (error) {
            const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
            problems.push(`${name} = ${JSON.stringify(caPath)} is not a readable file (${code}); expected the CA certificate (PEM)`);
            return "";
        }
        try {
            // Parses the first certificate: a wrong file fails here, at start, not at every connection.
            new X509Certificate(ca);
        } catch {
            problems.push(`${name} = ${JSON.stringify(caPath)} is not a PEM certificate; expected the CA certificate`);
        }
        return ca;
    };

    const redisTls = (): RedisTls | undefined => {
        const caPath = env.REDIS_TLS_CA_FILE ?? "";
        const serverName = env.REDIS_TLS_SERVERNAME ?? "";
        if (caPath === "") {
            if (serverName !== "") {
                problems.push(`REDIS_TLS_SERVERNAME = ${JSON.stringify(serverName)} is set without REDIS_TLS_CA_FILE: TLS to Redis needs the CA certificate`);
            }
            return undefined;
        }
        if (serverName === "") {
            problems.push(`REDIS_TLS_SERVERNAME is not set (REDIS_TLS_CA_FILE is: the client must know which name the nodes' certificate carries)`);
        }
        return { caPath, ca: caFile("REDIS_TLS_CA_FILE", caPath), serverName };
    };

    const nodesText = required("REDIS_CLUSTER_NODES");
    const nodes = nodesText
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean)
        .map((address) => {
            const colon = address.lastIndexOf(":");
            const host = colon > 0 ? address.slice(0, colon) : "";
            const nodePort = Number(address.slice(colon + 1));
            if (!host || !Number.isInteger(nodePort) || nodePort < 1 || nodePort > 65535) {
                problems.push(`REDIS_CLUSTER_NODES entry ${JSON.stringify(address)} is not host:port`);
            }
            return { host, port: nodePort };
        });

    const config: Config = {
        port: port("PORT"),
        metricsPort: port("METRICS_PORT"),
        healthPort: port("HEALTH_PORT"),
        healthPath: path("HEALTH_PATH", "/healthz"),
        readyPath: path("READY_PATH", "/readyz"),
        database: {
            host: required("DATABASE_HOST"),
            port: port("DATABASE_PORT", 5432),
            name: required("DATABASE_NAME"),
            user: required("DATABASE_USER", true),
            password: required("DATABASE_PASSWORD", true),
            poolMax: positive("DATABASE_POOL_MAX", 10),
            ssl: databaseSsl(),
        },
        redis: { nodes, username: env.REDIS_USERNAME || undefined, password: env.REDIS_PASSWORD || undefined, tls: redisTls() },
        checkTimeoutMs: positive("CHECK_TIMEOUT_MS", 2000),
        drainMs: whole("DRAIN_MS", 5000, 0),
    };
    const listenPorts = [config.port, config.metricsPort, config.healthPort];
    if (listenPorts.every(Number.isInteger) && new Set(listenPorts).size !== 3) {
        problems.push(`PORT, METRICS_PORT and HEALTH_PORT must differ (${config.port}, ${config.metricsPort}, ${config.healthPort})`);
    }
    if (config.healthPath === config.readyPath) {
        problems.push(`HEALTH_PATH and READY_PATH must differ (both ${config.healthPath})`);
    }
    if (problems.length > 0) {
        throw new ConfigError(problems);
    }
    return config;
}
