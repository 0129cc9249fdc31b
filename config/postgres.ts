import { longestGapSeconds, parseCron } from "../lib/cron";
import { ApiSettings } from "./api";
import { ComputeResources, Environment, StorageSettings } from "./common";
import { ExternalDestination, readExternalEgress } from "./network";
import { scalarSettings } from "./declarations";
import { dnsSubdomain, imageRepository, Reader, sqlIdentifier } from "./reader";

const scalarDefault = (key: "postgresCluster") => scalarSettings[key].default;

/** PostgreSQL's settings and its scheduled backups'. */

/** Which engine runs PostgreSQL (components/postgres/). */
export type PostgresEngine = "statefulset" | "cloudnative-pg";

export const postgresEngines: readonly PostgresEngine[] = ["statefulset", "cloudnative-pg"];

/** A statefulset stack's move to cloudnative-pg: "" none, "import" the Cluster imports the StatefulSet's database. */
export const postgresMigrations = ["", "import"] as const;

/** PgBouncer between the API and PostgreSQL (cloudnative-pg's Pooler, transaction mode). */
export interface PoolerSettings {
    /** PgBouncer pods. */
    readonly instances: number;
    /** Client connections each PgBouncer accepts: every API pod's pool at the HPA's ceiling. */
    readonly maxClientConnections: number;
    /** Server connections each PgBouncer opens to the primary. */
    readonly serverPoolSize: number;
}

export interface PostgresSettings {
    readonly engine: PostgresEngine;
    /** PostgreSQL servers: 1 on the statefulset engine; a primary and its standbys on cloudnative-pg. */
    readonly instances: number;
    /** The engine's image: repository:tag, with @sha256:... when postgresImageDigest pins it. */
    readonly image: string;
    /** postgresImageDigest, when set. */
    readonly imageDigest?: string;
    /** Exact server version (`17.6`), also the image tag. */
    readonly version: string;
    readonly majorVersion: number;
    readonly database: string;
    readonly user: string;
    readonly storage: StorageSettings;
    /** A WAL volume of its own (cloudnative-pg); undefined keeps WAL on the data volume. */
    readonly walStorage?: StorageSettings;
    readonly resources: ComputeResources;
    /** The server's max_connections, sized from the stack (see `sizeConnections`). */
    readonly maxConnections: number;
    /** The API's pooler; undefined: the API connects to PostgreSQL directly. */
    readonly pooler?: PoolerSettings;
    /** cloudnative-pg: the Cluster the API uses (its pooler, backups and CA follow it). */
    readonly cluster: string;
    /** cloudnative-pg: a Cluster recovered to a moment beside the serving one; undefined: none. */
    readonly recovery?: PointInTimeRecovery;
    /**
     * cloudnative-pg: the statefulset engine's server, kept as it was while the Cluster imports its
     * database (`postgresMigration: import`); undefined: no migration under way.
     */
    readonly importSource?: PostgresSettings;
}

/** A Cluster bootstrapped from another's base backups and WAL archive, up to a moment (`ops restore --to`). */
export interface PointInTimeRecovery {
    /** The Cluster the recovery creates (a new name: its own WAL archive starts empty). */
    readonly cluster: string;
    /** The Cluster whose base backups and WAL archive it reads. */
    readonly source: string;
    /** The moment recovered to, RFC 3339 with a zone. */
    readonly targetTime: string;
}

/** A CloudNativePG Cluster name: a DNS-1035 label short enough for the names the operator derives (<cluster>-<n>-initdb, ...). */
// Not ending in -pooler: a Cluster's Pooler is <cluster>-pooler, and CloudNativePG forbids a Pooler named like a Cluster.
export const clusterNamePattern = /^(?!.*-pooler$)[a-z]([-a-z0-9]{0,48}[a-z0-9])?$/;
const clusterNameExpected = "a Cluster name: lower-case letters, digits and '-', starting with a letter, at most 50 characters, not ending in -pooler";

/** RFC 3339 with seconds and a zone: what the operator's recoveryTarget.targetTime takes unambiguously. */
export const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$/;

/** S3-compatible object storage the backups are copied to. */
export interface BackupObjectStoreSettings {
    /** Endpoint URL (https://host[:port]). */
    readonly endpoint: string;
    readonly bucket: string;
    /** Key prefix inside the bucket, without leading or trailing slash; may be empty. */
    readonly prefix: string;
    /** Signing region (us-east-1 for most S3-compatible servers). */
    readonly region: string;
    /** Secret in the namespace with keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (created outside the program). */
    readonly credentialsSecret: string;
    /** Where the endpoint's addresses are: the backup pods' only way out besides PostgreSQL and DNS. */
    readonly egress: readonly ExternalDestination[];
    /** The S3 client image (rclone), pinned. */
    readonly clientImage: string;
}

/** Scheduled logical backups of PostgreSQL (components/postgresBackup.ts). */
export interface PostgresBackupSettings {
    /** Cron schedule, UTC. */
    readonly schedule: string;
    /** Longest time between two scheduled runs, in seconds: the missing-backup alert fires after 1.5 times this. */
    readonly longestGapSeconds: number;
    /** Complete backups kept, on the volume and in object storage each. */
    readonly retention: number;
    /** The backup volume. */
    readonly storage: StorageSettings;
    /** Copies in object storage; undefined keeps backups on the volume only. */
    readonly objectStore?: BackupObjectStoreSettings;
}

/** Connections a server keeps beyond the API's: superusers, the operator, the exporter, backups. */
export const reservedConnections = 20;
/** Past this many backends PostgreSQL spends its memory and CPU on connections: a pooler is needed. */
export const directConnectionCeiling = 1000;
/** Server connections one PgBouncer opens: transaction pooling serves the API's clients with these. */
const poolerServerPoolSize = 50;

export function readPostgres(r: Reader, environment: Environment | undefined, api: Partial<ApiSettings>): Partial<PostgresSettings> {
    const engine = r.oneOf("postgresEngine", postgresEngines);
    const repository = r.matching("postgresImageRepository", imageRepository, "an image repository without tag, e.g. postgres");
    const version = r.matching(
        "postgresVersion",
        /^\d+\.\d+(-[a-z0-9.]+)?$/,
        "an exact PostgreSQL version such as 17.6 (a bare major like 17 moves under a running database)",
    );
    const instances = r.integer("postgresInstances", 1, 9);
    if (engine === "statefulset" && instances !== undefined && instances !== 1) {
        r.problem("postgresInstances", instances, "1 with postgresEngine statefulset (a single server; standbys need postgresEngine cloudnative-pg)");
    }
    if (engine === "cloudnative-pg" && environment === "production" && instances !== undefined && instances < 3) {
        r.problem("postgresInstances", instances, "3 or more in production: a primary and two standbys, so that one synchronous standby remains while another is down");
    }
    const walSize = r.string("postgresWalStorageSize");
    let walStorage: StorageSettings | undefined;
    if (walSize !== "") {
        walStorage = r.storage("postgresWalStorageSize", "postgresStorageClass");
        if (engine === "statefulset") {
            r.problem("postgresWalStorageSize", walSize, "empty with postgresEngine statefulset (a WAL volume of its own needs cloudnative-pg)");
        }
    }
    const poolerInstances = r.integer("postgresPoolerInstances", 0, 10);
    if (engine === "statefulset" && poolerInstances !== undefined && poolerInstances > 0) {
        r.problem("postgresPoolerInstances", poolerInstances, "0 with postgresEngine statefulset (the pooler is cloudnative-pg's)");
    }
    const sized =
        engine && api.replicas?.max !== undefined && api.databasePoolSize !== undefined && poolerInstances !== undefined
            ? sizeConnections(r, { engine, apiMaxReplicas: api.replicas.max, apiPoolSize: api.databasePoolSize, poolerInstances })
            : undefined;
    const cluster = r.matching("postgresCluster", clusterNamePattern, clusterNameExpected);
    if (engine === "statefulset" && cluster !== undefined && cluster !== scalarDefault("postgresCluster")) {
        r.problem("postgresCluster", cluster, `${scalarDefault("postgresCluster")} (the default) with postgresEngine statefulset: Clusters are cloudnative-pg's`);
    }
    const recovery = readRecovery(r, engine, cluster);
    const database = r.matching("postgresDatabase", sqlIdentifier, "a lower-case SQL identifier ([a-z_][a-z0-9_]*)");
    const user = r.matching("postgresUser", sqlIdentifier, "a lower-case SQL identifier ([a-z_][a-z0-9_]*)");
    const storage = r.storage("postgresStorageSize", "postgresStorageClass");
    const resources = r.resources("postgresResources");
    const migration = r.oneOf("postgresMigration", postgresMigrations);
    if (migration === "import" && engine !== "cloudnative-pg") {
        r.problem("postgresMigration", migration, "empty unless postgresEngine is cloudnative-pg (the import moves a statefulset stack's database into a Cluster: npm run ops -- migrate)");
    }
    if (migration === "import" && recovery) {
        r.problem("postgresMigration", migration, "empty while a point-in-time recovery is under way (one change to the data at a time)");
    }
    const operandRepository = r.matching("cloudNativePgImageRepository", imageRepository, "an image repository without tag, e.g. ghcr.io/cloudnative-pg/postgresql");
    const operandSuffix = r.matching("cloudNativePgImageSuffix", /^(-[a-z0-9.]+)*$/, "empty or a tag suffix such as -standard-trixie");
    // One digest for the image the stack's engine runs: a stack runs one engine, and the digest travels with postgresVersion.
    const digest = r.digest("postgresImageDigest");
    const tagged = engine === "cloudnative-pg" ? `${operandRepository}:${version}${operandSuffix}` : `${repository}:${version}`;
    return {
        engine,
        instances,
        image: digest ? `${tagged}@${digest}` : tagged,
        imageDigest: digest,
        version,
        majorVersion: version ? Number.parseInt(version, 10) : undefined,
        database,
        user,
        storage,
        walStorage,
        resources,
        maxConnections: sized?.maxConnections,
        pooler: sized?.pooler,
        cluster,
        recovery,
        // The server as the statefulset engine ran it (its own image; no pooler, so every API connection).
        importSource:
            migration === "import" && version
                ? ({
                      engine: "statefulset",
                      instances: 1,
                      image: `${repository}:${version}`,
                      version,
                      majorVersion: Number.parseInt(version, 10),
                      database,
                      user,
                      storage,
                      resources,
                      maxConnections: (api.replicas?.max ?? 0) * (api.databasePoolSize ?? 0) + reservedConnections,
                      cluster,
                  } as PostgresSettings)
                : undefined,
    };
}

const recoveryKeys = ["postgresRecoveryCluster", "postgresRecoverySource", "postgresRecoveryTargetTime"] as const;

/**
 * A point-in-time recovery under way: all three settings or none. The serving Cluster is the source
 * (recovered, not yet switched to) or the recovered one (switched; the source is kept until released).
 */
function readRecovery(r: Reader, engine: PostgresEngine | undefined, serving: string | undefined): PointInTimeRecovery | undefined {
    const values = recoveryKeys.map((key) => r.string(key));
    if (values.every((v) => v === "")) {
        return undefined;
    }
    if (engine === "statefulset") {
        r.problem(recoveryKeys[0], values[0], "empty with postgresEngine statefulset (point-in-time recovery is cloudnative-pg's; the statefulset engine restores dumps: npm run ops -- restore)");
        return undefined;
    }
    recoveryKeys.forEach((key, i) => {
        if (values[i] === "") {
            r.problem(key, "", `set together with ${recoveryKeys.filter((k) => k !== key).join(" and ")} (npm run ops -- restore --to <time> sets all three)`);
        }
    });
    const [cluster, source, targetTime] = values;
    for (const [key, name] of [[recoveryKeys[0], cluster], [recoveryKeys[1], source]] as const) {
        if (name !== "" && !clusterNamePattern.test(name)) {
            r.problem(key, name, clusterNameExpected);
        }
    }
    if (targetTime !== "" && (!rfc3339.test(targetTime) || Number.isNaN(Date.parse(targetTime)))) {
        r.problem(recoveryKeys[2], targetTime, "a moment in RFC 3339 with a zone, e.g. 2026-12-03T10:15:00Z");
    }
    if (cluster !== "" && cluster === source) {
        r.problem(recoveryKeys[0], cluster, `a new Cluster name, not the source's (${source}): the recovered Cluster archives its own WAL beside the source's`);
    }
    if (serving !== undefined && cluster !== "" && source !== "" && serving !== cluster && serving !== source) {
        r.problem("postgresCluster", serving, `${source} (the recovery's source, until it is switched) or ${cluster} (the recovered Cluster, once switched)`);
    }
    return { cluster, source, targetTime };
}

/**
 * max_connections from the stack: every API pod's pool at the HPA's ceiling plus a reserve, or, behind
 * PgBouncer (transaction mode), each pooler's server pool plus the reserve. A stack whose API could
 * open more than `directConnectionCeiling` connections needs the pooler.
 */
function sizeConnections(
    r: Reader,
    s: { engine: PostgresEngine; apiMaxReplicas: number; apiPoolSize: number; poolerInstances: number },
): { maxConnections: number; pooler?: PoolerSettings } {
    const apiConnections = s.apiMaxReplicas * s.apiPoolSize;
    if (s.engine === "cloudnative-pg" && s.poolerInstances > 0) {
        const serverPoolSize = Math.min(apiConnections, poolerServerPoolSize);
        return {
            maxConnections: s.poolerInstances * serverPoolSize + reservedConnections,
            pooler: { instances: s.poolerInstances, maxClientConnections: apiConnections, serverPoolSize },
        };
    }
    if (apiConnections + reservedConnections > directConnectionCeiling) {
        r.problem(
            s.engine === "statefulset" ? "postgresEngine" : "postgresPoolerInstances",
            s.engine === "statefulset" ? s.engine : s.poolerInstances,
            `a connection pooler: apiMaxReplicas x apiDatabasePoolSize = ${s.apiMaxReplicas} x ${s.apiPoolSize} = ${apiConnections} connections at the HPA's ceiling, ` +
                `plus ${reservedConnections} reserved = ${apiConnections + reservedConnections}, more than PostgreSQL should serve directly (${directConnectionCeiling}); ` +
                `use postgresEngine cloudnative-pg with postgresPoolerInstances >= 1, or lower those two`,
        );
    }
    return { maxConnections: apiConnections + reservedConnections };
}

export function readPostgresBackup(r: Reader, environment: Environment | undefined, engine: PostgresEngine | undefined): PostgresBackupSettings | undefined {
    const schedule = r.string("postgresBackupSchedule");
    const retention = r.integer("postgresBackupRetention", 1, 1000);
    const storage = r.storage("postgresBackupStorageSize", "postgresBackupStorageClass");
    const objectStore = readBackupObjectStore(r, environment);
    const inClusterOnly = r.boolean("postgresBackupInClusterOnly");
    // cloudnative-pg backs up to object storage only: a schedule without a bucket is refused below,
    // and postgresBackupInClusterOnly (the statefulset engine's volume) would not help it.
    const operatorBackups = engine === "cloudnative-pg" && schedule !== "";
    // Backups beside the data go with the namespace, the cluster or the account that holds both.
    if (!objectStore && (environment === "staging" || environment === "production") && inClusterOnly === false && !operatorBackups) {
        r.problem(
            "postgresBackupS3Bucket",
            "",
            `an off-cluster backup target in ${environment} (postgresBackupS3Bucket with its endpoint, credentials Secret and egress), ` +
                "or postgresBackupInClusterOnly: true to accept backups that are lost with the cluster",
        );
    }
    if (!objectStore && operatorBackups) {
        r.problem(
            "postgresBackupS3Bucket",
            "",
            "a bucket with postgresEngine cloudnative-pg: its base backups and WAL archive go to object storage (Barman Cloud)" +
                (environment === "production" ? "" : "; or postgresBackupSchedule empty for none"),
        );
    }
    if (schedule === "") {
        if (environment === "production") {
            r.problem("postgresBackupSchedule", "", "a cron schedule in production, such as 0 2 * * * (daily at 02:00 UTC): without backups no moment of the data can be recovered");
        }
        if (objectStore) {
            r.problem("postgresBackupS3Bucket", objectStore.bucket, "empty while postgresBackupSchedule is empty: without a schedule there is no backup to upload anything");
        }
        return undefined;
    }
    const parsed = parseCron(schedule);
    const gap = "schedule" in parsed ? longestGapSeconds(parsed.schedule) : undefined;
    if ("problem" in parsed) {
        r.problem("postgresBackupSchedule", schedule, `a cron schedule (minute hour day-of-month month day-of-week, UTC) such as 0 2 * * *, or empty for no backups (${parsed.problem})`);
    } else if (gap === undefined) {
        r.problem("postgresBackupSchedule", schedule, "a schedule that runs at least twice in two years");
    }
    return { schedule, longestGapSeconds: gap!, retention: retention!, storage, objectStore };
}

const s3Keys = ["postgresBackupS3Endpoint", "postgresBackupS3CredentialsSecret", "postgresBackupS3Egress"] as const;

/** Object storage for the backups: on when a bucket is named, and then complete (endpoint, credentials Secret, egress). */
export function readBackupObjectStore(r: Reader, environment: Environment | undefined): BackupObjectStoreSettings | undefined {
    const bucket = r.string("postgresBackupS3Bucket");
    const clientImage = r.pinnedImage("postgresBackupS3ClientImage");
    if (bucket === "") {
        for (const key of s3Keys) {
            if (r.string(key) !== "") {
                r.problem(key, r.string(key), "empty while postgresBackupS3Bucket is empty (object storage is off), or name the bucket too");
            }
        }
        return undefined;
    }
    // S3 bucket naming rules (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html).
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) || bucket.includes("..") || /^\d+\.\d+\.\d+\.\d+$/.test(bucket)) {
        r.problem("postgresBackupS3Bucket", bucket, "an S3 bucket name: 3-63 lower-case letters, digits, dots and hyphens");
    }
    const endpointText = r.string("postgresBackupS3Endpoint");
    let endpointPort: number | undefined;
    let endpoint: URL | undefined;
    try {
        endpoint = new URL(endpointText);
    } catch {
        endpoint = undefined;
    }
    // Patient data leaves the cluster here: plain HTTP only for a local stack.
    const schemes = environment === "local" ? ["https:", "http:"] : ["https:"];
    if (!endpoint || !schemes.includes(endpoint.protocol) || endpoint.pathname !== "/" || endpoint.search || endpoint.username || endpoint.password) {
        r.problem(
            "postgresBackupS3Endpoint",
            endpointText,
            `the object store's endpoint URL, ${environment === "local" ? "http(s)" : "https"}://host[:port] without a path, e.g. https://s3.eu-central-1.amazonaws.com`,
        );
    } else {
        endpointPort = endpoint.port ? Number(endpoint.port) : endpoint.protocol === "https:" ? 443 : 80;
    }
    const prefix = r.string("postgresBackupS3Prefix").replace(/^\/+|\/+$/g, "");
    if (!/^[A-Za-z0-9._/-]*$/.test(prefix) || prefix.split("/").some((part) => part === "." || part === "..")) {
        r.problem("postgresBackupS3Prefix", prefix, "a key prefix of letters, digits and . _ - / (e.g. healthcare/production), or empty");
    }
    const region = r.matching("postgresBackupS3Region", /^[a-z0-9-]{2,32}$/, "a region name such as us-east-1 (what S3-compatible servers other than AWS expect)");
    const credentialsSecret = r.string("postgresBackupS3CredentialsSecret");
    if (!dnsSubdomain.test(credentialsSecret)) {
        r.problem(
            "postgresBackupS3CredentialsSecret",
            credentialsSecret,
            "the name of a Secret in the stack's namespace with keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (never the keys themselves)",
        );
    }
    const egress = readExternalEgress(r, "postgresBackupS3Egress");
    if (egress.length === 0 && r.string("postgresBackupS3Egress") === "") {
        r.problem("postgresBackupS3Egress", "", "the object store's addresses as CIDR:port entries (the backup pods' NetworkPolicy opens only these), e.g. 203.0.113.0/24:443");
    } else if (endpointPort !== undefined && egress.length > 0 && !egress.some((d) => d.port === endpointPort)) {
        r.problem("postgresBackupS3Egress", r.string("postgresBackupS3Egress"), `at least one entry on port ${endpointPort}, the port of postgresBackupS3Endpoint`);
    }
    return { endpoint: endpointText.replace(/\/+$/, ""), bucket, prefix, region: region!, credentialsSecret, egress, clientImage: clientImage! };
}
