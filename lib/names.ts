import { createHash } from "crypto";

/**
 * The stable `metadata.name` of every object the program creates. Other components, the
 * operations scripts and the docs refer to objects by these names, so they live in one place.
 */
export const names = {
    api: {
        deployment: "healthcare-api",
        container: "api",
        service: "healthcare-api",
        serviceAccount: "healthcare-api",
        /** Base of the content-named ConfigMap (`contentName`). */
        configMap: "healthcare-api-config",
        ingress: "healthcare-api",
        /** The API's route on the Gateway (`apiExposure: gateway`). */
        httpRoute: "healthcare-api",
    },
    // A Gateway the stack creates itself (components/gateway.ts); its name is the gatewayName setting.
    gateway: {
        /** Listener names: clients' HTTPS, and plain HTTP (ACME HTTP-01 challenges, and a redirect to HTTPS when TLS is on). */
        httpsListener: "https",
        httpListener: "http",
        /** The HTTPRoute on the http listener that sends clients to HTTPS. */
        httpsRedirect: "healthcare-api-https-redirect",
    },
    postgres: {
        statefulSet: "postgres",
        container: "postgres",
        service: "postgres",
        headlessService: "postgres-headless",
        serviceAccount: "postgres",
        /** The API role's credentials (username, password, database). */
        secret: "postgres-credentials",
        /** The superuser's: the server's bootstrap user, the roles sidecar and restores only. */
        superuserSecret: "postgres-superuser",
        /** The exporter role's (pg_monitor). */
        exporterSecret: "postgres-exporter-credentials",
        /** The backup role's (pg_read_all_data). */
        backupSecret: "postgres-backup-credentials",
        /** The sidecar that keeps the roles as they should be (postgres-roles.sh). */
        rolesContainer: "roles",
        volumeClaim: "data",
        /** Base of the content-named ConfigMap with the pod's scripts (the start-up guard's, the roles sidecar's). */
        scriptsConfigMap: "postgres-scripts",
    },
    // PostgreSQL on CloudNativePG (components/postgres/cloudNativePg.ts); the operator names its Services
    // and Secrets after the Cluster (postgres-rw, postgres-ca, ...).
    cloudNativePg: {
        cluster: "postgres",
        appSecret: "postgres-app-credentials",
        objectStore: "postgres-backups",
        /**
         * A Cluster's Pooler and ScheduledBackup are named for it (postgres-pooler, postgres-backup): their
         * spec.cluster is immutable, so the API's switch to a recovered Cluster creates new ones beside the
         * old, which go at the end of the deployment.
         */
        poolerOf: (cluster: string) => `${cluster}-pooler`,
        scheduledBackupOf: (cluster: string) => `${cluster}-backup`,
    },
    // Scheduled backups (components/postgresBackup.ts); npm run ops -- backup/backups/restore use these.
    postgresBackup: {
        cronJob: "postgres-backup",
        serviceAccount: "postgres-backup",
        configMap: "postgres-backup-scripts",
        volumeClaim: "postgres-backups",
        /** The pg_dump/pg_restore container (postgres image) and the S3 client container (rclone image). */
        dumpContainer: "dump",
        uploadContainer: "upload",
    },
    redis: {
        statefulSet: "redis-cluster",
        container: "redis",
        headlessService: "redis-cluster-headless",
        serviceAccount: "redis-cluster",
        /** The ACL users' passwords (one key per user, `<user>-password`). */
        secret: "redis-credentials",
        /** redisTls: the stack's own self-signed Issuer, which signs only the CA below. */
        selfSignedIssuer: "redis-selfsigned",
        /** redisTls: the CA Certificate, and its Secret (the CA Issuer's key pair). */
        caCertificate: "redis-ca",
        /** redisTls: the Issuer that signs the nodes' certificate with that CA. */
        caIssuer: "redis-ca",
        /** redisTls: the nodes' Certificate and its Secret (tls.crt, tls.key, ca.crt), shared by every node. */
        certificate: "redis-cluster-tls",
        /**
         * The name every client verifies in the nodes' certificate: MOVED redirects point at pod IPs,
         * which no certificate names, so clients check this fixed SAN instead (TLS servername).
         */
        tlsServerName: "redis-cluster",
        /** What the pods run: redis.conf, the start and probe scripts. */
        configMap: "redis-cluster-config",
        /** What the maintenance Jobs run: a change here re-runs the Jobs without restarting a node. */
        jobScriptsConfigMap: "redis-cluster-job-scripts",
        /** Forms the cluster or brings it to the desired shape, after the StatefulSet update. */
        reconcileJob: "redis-cluster-reconcile",
        reconcileCronJob: "redis-cluster-reconcile-periodic",
        /** Drains the nodes a smaller cluster leaves out, before the StatefulSet update. */
        scaleInJob: "redis-cluster-scale-in",
        volumeClaim: "data",
    },
    networkPolicy: {
        defaultDeny: "default-deny-all",
        api: "allow-healthcare-api",
        postgres: "allow-postgres",
        postgresPooler: "allow-postgres-pooler",
        redis: "allow-redis-cluster",
        redisMaintenance: "allow-redis-cluster-maintenance",
        /** cert-manager's HTTP-01 solver pods, when the stack's issuer uses them. */
        acmeHttp01Solver: "allow-acme-http01-solver",
        postgresBackup: "allow-postgres-backup",
        /** The statefulset engine's server while a Cluster imports its database (postgresMigration: import). */
        postgresImportSource: "allow-postgres-import-source",
    },
    // Autoscaling and availability (components/autoscaling.ts).
    autoscaling: {
        apiHpa: "healthcare-api",
        apiVpa: "healthcare-api",
        postgresVpa: "postgres",
        redisVpa: "redis-cluster",
        apiPdb: "healthcare-api",
        redisPdb: "redis-cluster",
        postgresPdb: "postgres",
    },
    // Read-only access for a CI preview (components/previewerAccess.ts); docs/delivery.md makes its kubeconfig.
    previewer: {
        serviceAccount: "healthcare-previewer",
        role: "healthcare-previewer",
        roleBinding: "healthcare-previewer",
    },
    // Monitoring (components/monitoring.ts): a metrics Service and ServiceMonitor per workload, one rule set.
    monitoring: {
        apiMetricsService: "healthcare-api-metrics",
        postgresMetricsService: "postgres-metrics",
        redisMetricsService: "redis-cluster-metrics",
        apiServiceMonitor: "healthcare-api",
        postgresServiceMonitor: "postgres",
        redisServiceMonitor: "redis-cluster",
        prometheusRule: "healthcare-backend",
    },
} as const;

/**
 * `<base>-<hash of content>`: the name of an immutable ConfigMap. A content change gives a new
 * name, so Pulumi creates the new ConfigMap before deleting the old one and the pods that refer
 * to it roll in place; a fixed name would be replaced delete-before-create and take every
 * Deployment or StatefulSet that refers to it down with it.
 */
export function contentName(base: string, content: Readonly<Record<string, string>>): string {
    const hash = createHash("sha256");
    for (const key of Object.keys(content).sort()) {
        hash.update(key).update("\0").update(content[key]).update("\0");
    }
    return `${base}-${hash.digest("hex").slice(0, 10)}`;
}

/** The previewer's ClusterRole and ClusterRoleBinding: cluster-scoped, so named after the stack's namespace. */
export function previewerClusterRoleName(namespace: string): string {
    return `${namespace}-previewer`;
}

/** The in-cluster DNS name of a Service. */
export function serviceHost(service: string, namespace: string): string {
    return `${service}.${namespace}.svc.cluster.local`;
}

/** The stable DNS name of one StatefulSet pod behind its headless Service. */
export function statefulPodHost(statefulSet: string, ordinal: number, headlessService: string, namespace: string): string {
    return `${statefulSet}-${ordinal}.${headlessService}.${namespace}.svc.cluster.local`;
}
