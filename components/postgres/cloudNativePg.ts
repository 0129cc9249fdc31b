import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { BackupObjectStoreSettings, PostgresBackupSettings, PostgresSettings } from "../../config";
import { customResourceOptions, dataOptions } from "../../lib/args";
import { tcp, WorkloadEndpoints } from "../../lib/endpoints";
import { standardLabels, WorkloadIdentity } from "../../lib/labels";
import { names, serviceHost } from "../../lib/names";
import { PostgresEngineOutputs, postgresPort } from "./connection";
import type { PostgresArgs } from "./index";
import { postgresRoles } from "./statefulSet";

/** CloudNativePG's API and the Barman Cloud plugin's (pinned CRDs: cli/checks/setup.sh). */
export const cloudNativePgApi = { cluster: "postgresql.cnpg.io/v1", objectStore: "barmancloud.cnpg.io/v1" } as const;

/** The plugin that archives WAL and takes base backups to object storage (the in-core barmanObjectStore is deprecated). */
export const barmanCloudPlugin = "barman-cloud.cloudnative-pg.io";

/** Labels the operator puts on the pods it runs (pkg/utils/labels_annotations.go). */
export const cloudNativePgLabels = {
    cluster: "cnpg.io/cluster",
    pooler: "cnpg.io/poolerName",
    podRole: "cnpg.io/podRole",
    /** On the operator's Job pods (initdb, join, major-upgrade, import), which carry no podRole (pkg/specs/jobs.go of 1.30.1). */
    jobRole: "cnpg.io/jobRole",
} as const;

/** The instance manager's status port (the operator asks it for each instance's state) and the metrics port. */
const statusPort = tcp("status", 8000);
const metricsPort = tcp("metrics", 9187);

/** Secrets the operator creates for a Cluster: the CA its server certificates are signed by. */
const caSecret = (cluster: string) => ({ name: `${cluster}-ca`, key: "ca.crt" });

/** Services the operator creates: the primary's. */
const primaryService = (cluster: string) => `${cluster}-rw`;

/** The external cluster a recovery reads from (a name inside the recovered Cluster's spec only). */
const recoverySourceName = "recovery-source";
/** The external cluster an import reads from: the statefulset engine's server. */
const importSourceName = "statefulset";

/**
 * With two standbys or more, a commit always waits for one (`required`): one standby restarting (a
 * roll, a drain) leaves another to acknowledge. With a single standby, `required` would stop every
 * write while it restarts, on every routine roll: `preferred` waits for it whenever it is there.
 */
export function synchronousDurability(instances: number): "required" | "preferred" {
    return instances >= 3 ? "required" : "preferred";
}

/** Whole days kept in object storage: `retention` backups at the schedule's longest gap. */
export function retentionWindow(backup: PostgresBackupSettings): string {
    return `${Math.max(1, Math.ceil((backup.retention * backup.longestGapSeconds) / 86400))}d`;
}

/** The operator's schedules carry a seconds field first. */
export function operatorSchedule(cron: string): string {
    return `0 ${cron}`;
}

/** s3://bucket/prefix: where base backups and WAL go. */
export function destinationPath(store: BackupObjectStoreSettings): string {
    return `s3://${store.bucket}/${store.prefix}`.replace(/\/+$/, "");
}

/** The Clusters the stack holds: the serving one, and while a recovery is under way its source and the recovered one. */
export function clusterNames(s: Pick<PostgresSettings, "cluster" | "recovery">): string[] {
    return [...new Set([s.cluster, ...(s.recovery ? [s.recovery.source, s.recovery.cluster] : [])])];
}

/**
 * PostgreSQL as a CloudNativePG Cluster: a primary and synchronous standbys placed on different
 * hosts and spread over zones, failover by the operator, TLS with the operator's CA, the API's own
 * role (the database owner, not a superuser; the superuser has no remote login), PgBouncer in front
 * (a Pooler, transaction mode), and continuous backup (WAL archive and base backups) to object
 * storage through the Barman Cloud plugin. The operator and the plugin are the platform's (or the
 * local stack's add-ons); their CRDs are checked before anything is created.
 */
export function cloudNativePgPostgres(parent: pulumi.ComponentResource, args: PostgresArgs, importSource?: PostgresEngineOutputs): PostgresEngineOutputs {
    const s = args.settings;
    const n = names.cloudNativePg;
    const crdInstallers = args.crdInstallers ?? [];
    const identity: WorkloadIdentity = { name: "postgres", component: "database", instance: args.instance, version: s.version };
    const labels = standardLabels(identity);
    const meta = (metadataName: string) => ({ name: metadataName, namespace: args.namespace, labels });
    const custom = customResourceOptions(parent, args.deletion);

    // The API's role: owner of its database, no SUPERUSER, CREATEROLE or CREATEDB. Generated once and kept.
    const password = new random.RandomPassword("postgres-app-password", { length: 32, special: false }, { ...dataOptions(parent, args.protectData), additionalSecretOutputs: ["result"] });
    const appSecret = new k8s.core.v1.Secret(
        n.appSecret,
        { metadata: meta(n.appSecret), type: "kubernetes.io/basic-auth", stringData: { username: s.user, password: password.result } },
        dataOptions(parent, args.protectData, args.deletion),
    );

    const backup = args.backup;
    const store = backup?.objectStore;
    const objectStore =
        store &&
        new k8s.apiextensions.CustomResource(
            n.objectStore,
            {
                apiVersion: cloudNativePgApi.objectStore,
                kind: "ObjectStore",
                metadata: meta(n.objectStore),
                spec: {
                    // Base backups older than the window are deleted, with the WAL only they needed.
                    retentionPolicy: retentionWindow(backup!),
                    configuration: {
                        destinationPath: destinationPath(store),
                        endpointURL: store.endpoint,
                        s3Credentials: {
                            accessKeyId: { name: store.credentialsSecret, key: "AWS_ACCESS_KEY_ID" },
                            secretAccessKey: { name: store.credentialsSecret, key: "AWS_SECRET_ACCESS_KEY" },
                        },
                        wal: { compression: "gzip", maxParallel: 2 },
                        data: { compression: "gzip", jobs: 2 },
                    },
                },
            },
            { ...custom, dependsOn: crdInstallers },
        );

    const serving = s.cluster;
    const poolerName = n.poolerOf(serving);
    const poolerHost = (ns: string) => serviceHost(poolerName, ns);
    const recovery = s.recovery;
    const archive = (serverName?: string) => ({ barmanObjectName: objectStore!.metadata.name, ...(serverName ? { serverName } : {}) });
    // Each Cluster archives its WAL under its own name in the ObjectStore (the plugin's default
    // serverName); a recovered one reads its source's archive as an external cluster.
    const bootstrapOf = (name: string) =>
        recovery && name === recovery.cluster
            ? {
                  bootstrap: {
                      recovery: {
                          source: recoverySourceName,
                          database: s.database,
                          owner: s.user,
                          secret: { name: appSecret.metadata.name },
                          recoveryTarget: { targetTime: recovery.targetTime },
                      },
                  },
                  externalClusters: [{ name: recoverySourceName, plugin: { name: barmanCloudPlugin, parameters: archive(recovery.source) } }],
              }
            : importSource && name === serving
              ? {
                    // The statefulset engine's database, dumped by its backup role (pg_read_all_data) and restored
                    // as the owner's: a one-time copy while the API's writes to the old server are fenced.
                    bootstrap: {
                        initdb: {
                            database: s.database,
                            owner: s.user,
                            secret: { name: appSecret.metadata.name },
                            import: { type: "microservice", databases: [s.database], source: { externalCluster: importSourceName } },
                        },
                    },
                    externalClusters: [
                        {
                            name: importSourceName,
                            connectionParameters: importSource.connection.host.apply((host) => ({
                                host,
                                port: String(importSource.connection.port),
                                user: postgresRoles.backup,
                                dbname: s.database,
                                // The statefulset engine serves no TLS; the copy stays inside the namespace, under its policies.
                                sslmode: "disable",
                            })),
                            password: { name: importSource.backupSecretName!, key: "password" },
                        },
                    ],
                }
              : { bootstrap: { initdb: { database: s.database, owner: s.user, secret: { name: appSecret.metadata.name } } } };
    const clusterObject = (clusterName: string) =>
        new k8s.apiextensions.CustomResource(
            clusterName,
            {
                apiVersion: cloudNativePgApi.cluster,
                kind: "Cluster",
                metadata: meta(clusterName),
                spec: {
                    instances: s.instances,
                    imageName: s.image,
                    // Changes roll one standby at a time, then a switchover: the primary restarts last.
                    primaryUpdateStrategy: "unsupervised",
                    primaryUpdateMethod: "switchover",
                    postgresql: {
                        parameters: { max_connections: String(s.maxConnections) },
                        // A commit returns once a standby has it too: a lost primary loses no acknowledged write.
                        ...(s.instances > 1 ? { synchronous: { method: "any", number: 1, dataDurability: synchronousDurability(s.instances) } } : {}),
                    },
                    // The superuser has no password and no remote login; the operator reaches it locally.
                    enableSuperuserAccess: false,
                    ...bootstrapOf(clusterName),
                    storage: { size: s.storage.size, storageClass: s.storage.className },
                    ...(s.walStorage ? { walStorage: { size: s.walStorage.size, storageClass: s.walStorage.className } } : {}),
                    resources: s.resources,
                    priorityClassName: args.priorityClassName,
                    // Never two instances on one host; spread over zones where the nodes have them.
                    affinity: { enablePodAntiAffinity: true, podAntiAffinityType: "required", topologyKey: "kubernetes.io/hostname" },
                    topologySpreadConstraints: [
                        {
                            maxSkew: 1,
                            topologyKey: "topology.kubernetes.io/zone",
                            whenUnsatisfiable: "ScheduleAnyway",
                            labelSelector: { matchLabels: { [cloudNativePgLabels.cluster]: clusterName, [cloudNativePgLabels.podRole]: "instance" } },
                        },
                    ],
                    // The API verifies its Pooler's name against the server certificate (sslmode=verify-full).
                    certificates: {
                        serverAltDNSNames: args.namespace.apply((ns) => {
                            const own = n.poolerOf(clusterName);
                            return [own, `${own}.${ns}`, `${own}.${ns}.svc`, serviceHost(own, ns)];
                        }),
                    },
                    ...(objectStore ? { plugins: [{ name: barmanCloudPlugin, isWALArchiver: true, parameters: archive() }] } : {}),
                },
            },
            {
                // The Cluster holds the data: protected, and kept in the cluster if it leaves the program.
                ...dataOptions(parent, args.protectData),
                ...custom,
                dependsOn: [...crdInstallers, ...(objectStore ? [objectStore] : [])],
                // How a Cluster was bootstrapped matters once, at creation (the operator ignores it after):
                // a recovered Cluster keeps serving when the recovery settings are cleared.
                ignoreChanges: ["spec.bootstrap", "spec.externalClusters"],
            },
        );
    const clusters = new Map(clusterNames(s).map((name) => [name, clusterObject(name)]));
    const cluster = clusters.get(serving)!;

    if (backup && objectStore) {
        new k8s.apiextensions.CustomResource(
            n.scheduledBackupOf(serving),
            {
                apiVersion: cloudNativePgApi.cluster,
                kind: "ScheduledBackup",
                metadata: meta(n.scheduledBackupOf(serving)),
                spec: {
                    schedule: operatorSchedule(backup.schedule),
                    cluster: { name: cluster.metadata.name },
                    method: "plugin",
                    pluginConfiguration: { name: barmanCloudPlugin },
                    // The first base backup right away: point-in-time recovery starts from one.
                    immediate: true,
                    backupOwnerReference: "self",
                },
            },
            { ...custom, dependsOn: crdInstallers },
        );
    }

    const pooler = s.pooler;
    const poolerObject =
        pooler &&
        new k8s.apiextensions.CustomResource(
            poolerName,
            {
                apiVersion: cloudNativePgApi.cluster,
                kind: "Pooler",
                metadata: meta(poolerName),
                spec: {
                    cluster: { name: cluster.metadata.name },
                    instances: pooler.instances,
                    type: "rw",
                    pgbouncer: {
                        poolMode: "transaction",
                        parameters: { max_client_conn: String(pooler.maxClientConnections), default_pool_size: String(pooler.serverPoolSize) },
                    },
                    template: {
                        // Its own name: the statefulset engine's Service and policies select name=postgres, and an
                        // import from that server must never reach PgBouncer instead.
                        metadata: { labels: standardLabels({ ...identity, name: n.poolerOf(n.cluster) }) },
                        spec: {
                            containers: [],
                            affinity: {
                                podAntiAffinity: {
                                    preferredDuringSchedulingIgnoredDuringExecution: [
                                        { weight: 100, podAffinityTerm: { topologyKey: "kubernetes.io/hostname", labelSelector: { matchLabels: { [cloudNativePgLabels.pooler]: poolerName } } } },
                                    ],
                                },
                            },
                        },
                    },
                },
            },
            { ...custom, dependsOn: crdInstallers },
        );

    const servers: WorkloadEndpoints = {
        // Every Cluster's instances in the namespace: a recovered Cluster beside the serving one gets
        // the same policies (they are all this stack's).
        podSelector: { [cloudNativePgLabels.podRole]: "instance" },
        serving: [tcp("postgres", postgresPort)],
        // Streaming replication from the primary, and the status port the instances ask each other.
        peer: [tcp("postgres", postgresPort), statusPort],
        metrics: [metricsPort],
        health: [],
    };
    const poolerEndpoints: WorkloadEndpoints | undefined = pooler && {
        // Every Pooler's pods: during a switch the old Pooler serves the API's old pods until they are gone.
        podSelector: { [cloudNativePgLabels.podRole]: "pooler" },
        serving: [tcp("pgbouncer", postgresPort)],
        peer: [],
        metrics: [tcp("metrics", 9127)],
        health: [],
    };
    const ca = caSecret(serving);
    return {
        connection: {
            // Through the Pooler's object: the API rolls onto a new Pooler only once it exists.
            host: poolerObject ? pulumi.all([args.namespace, poolerObject.metadata]).apply(([ns]) => poolerHost(ns)) : args.namespace.apply((ns) => serviceHost(primaryService(serving), ns)),
            port: postgresPort,
            database: s.database,
            secretName: appSecret.metadata.name,
            tls: { caSecretName: cluster.metadata.apply(() => ca.name), caKey: ca.key },
        },
        topology: {
            servers,
            clients: poolerEndpoints ?? servers,
            pooler: poolerEndpoints,
            operatorManaged: true,
            operatorPorts: [statusPort],
            importSource: importSource?.topology.servers,
            operatorJobs: { podSelector: {}, labelKeys: [cloudNativePgLabels.cluster, cloudNativePgLabels.jobRole], readObjectStore: recovery !== undefined },
        },
        scaleTarget: {
            apiVersion: cloudNativePgApi.cluster,
            kind: "Cluster",
            name: cluster.metadata.name,
            container: "postgres",
            podSelector: servers.podSelector,
            replicas: { min: s.instances, max: s.instances },
            operatorManaged: true,
        },
        workloadName: cluster.metadata.name,
    };
}
