/**
 * Every setting the program reads. Scalar settings are declared (type, description, default) in
 * Pulumi.yaml; `scalarSettings` mirrors those declarations and a test keeps the two in step.
 * Structured settings (resources) cannot be declared there and live in each Pulumi.<stack>.yaml.
 */

export type ScalarSpec =
    | { readonly type: "string"; readonly default: string }
    | { readonly type: "integer"; readonly default: number }
    | { readonly type: "boolean"; readonly default: boolean };

/** Every scalar setting with its type and default, exactly as declared in Pulumi.yaml. */
export const scalarSettings = {
    environment: { type: "string", default: "production" },
    namespace: { type: "string", default: "healthcare-backend" },
    kubeContext: { type: "string", default: "" },
    kubeconfig: { type: "string", default: "" },
    protectData: { type: "boolean", default: true },
    previewerAccess: { type: "boolean", default: true },
    apiImageRepository: { type: "string", default: "" },
    apiImageTag: { type: "string", default: "" },
    apiImageDigest: { type: "string", default: "" },
    apiImagePullPolicy: { type: "string", default: "IfNotPresent" },
    apiPort: { type: "integer", default: 8080 },
    apiMetricsPort: { type: "integer", default: 9090 },
    apiHealthPort: { type: "integer", default: 8081 },
    apiHealthPath: { type: "string", default: "/healthz" },
    apiReadyPath: { type: "string", default: "/readyz" },
    apiMinReplicas: { type: "integer", default: 10 },
    apiMaxReplicas: { type: "integer", default: 100 },
    apiDatabasePoolSize: { type: "integer", default: 10 },
    postgresEngine: { type: "string", default: "cloudnative-pg" },
    postgresInstances: { type: "integer", default: 3 },
    postgresImageRepository: { type: "string", default: "postgres" },
    cloudNativePgImageRepository: { type: "string", default: "ghcr.io/cloudnative-pg/postgresql" },
    cloudNativePgImageSuffix: { type: "string", default: "-standard-trixie" },
    postgresVersion: { type: "string", default: "17.6" },
    postgresImageDigest: { type: "string", default: "" },
    postgresDatabase: { type: "string", default: "healthcare" },
    postgresUser: { type: "string", default: "healthcare" },
    postgresStorageSize: { type: "string", default: "100Gi" },
    postgresStorageClass: { type: "string", default: "" },
    postgresWalStorageSize: { type: "string", default: "" },
    postgresPoolerInstances: { type: "integer", default: 2 },
    postgresCluster: { type: "string", default: "postgres" },
    postgresRecoveryCluster: { type: "string", default: "" },
    postgresRecoverySource: { type: "string", default: "" },
    postgresRecoveryTargetTime: { type: "string", default: "" },
    postgresRelease: { type: "string", default: "" },
    postgresMigration: { type: "string", default: "" },
    cloudNativePgOperatorNamespace: { type: "string", default: "cnpg-system" },
    cloudNativePgOperatorPodSelector: { type: "string", default: "app.kubernetes.io/name=cloudnative-pg" },
    // PostgreSQL backups (components/postgresBackup.ts).
    postgresBackupSchedule: { type: "string", default: "0 2 * * *" },
    postgresBackupRetention: { type: "integer", default: 14 },
    postgresBackupStorageSize: { type: "string", default: "100Gi" },
    postgresBackupStorageClass: { type: "string", default: "" },
    postgresBackupInClusterOnly: { type: "boolean", default: false },
    postgresBackupVolumeRelease: { type: "boolean", default: false },
    postgresUpgradeFromMajor: { type: "integer", default: 0 },
    postgresBackupS3Endpoint: { type: "string", default: "" },
    postgresBackupS3Bucket: { type: "string", default: "" },
    postgresBackupS3Prefix: { type: "string", default: "" },
    postgresBackupS3Region: { type: "string", default: "us-east-1" },
    postgresBackupS3CredentialsSecret: { type: "string", default: "" },
    postgresBackupS3Egress: { type: "string", default: "" },
    postgresBackupS3ClientImage: { type: "string", default: "rclone/rclone:1.75.1" },
    redisImageRepository: { type: "string", default: "redis" },
    redisVersion: { type: "string", default: "8.2.3" },
    redisImageDigest: { type: "string", default: "" },
    redisNodes: { type: "integer", default: 6 },
    redisReplicasPerMaster: { type: "integer", default: 1 },
    redisStorageSize: { type: "string", default: "10Gi" },
    redisStorageClass: { type: "string", default: "" },
    redisTls: { type: "boolean", default: true },
    redisTransportSwitch: { type: "boolean", default: false },
    dataPriorityClassName: { type: "string", default: "" },
    ingressEnabled: { type: "boolean", default: true },
    apiExposure: { type: "string", default: "gateway" },
    ingressHost: { type: "string", default: "" },
    gatewayName: { type: "string", default: "" },
    gatewayNamespace: { type: "string", default: "" },
    gatewaySectionName: { type: "string", default: "" },
    gatewayClassName: { type: "string", default: "" },
    ingressClassName: { type: "string", default: "" },
    ingressTlsEnabled: { type: "boolean", default: true },
    ingressTlsSecretName: { type: "string", default: "healthcare-api-tls" },
    ingressClusterIssuer: { type: "string", default: "" },
    ingressAcmeChallenge: { type: "string", default: "http01" },
    ingressSkipAwait: { type: "boolean", default: false },
    // Network security
    gatewayPodNamespace: { type: "string", default: "envoy-gateway-system" },
    gatewayPodSelector: { type: "string", default: "app.kubernetes.io/name=envoy,app.kubernetes.io/component=proxy" },
    ingressControllerNamespace: { type: "string", default: "" },
    ingressControllerPodSelector: { type: "string", default: "" },
    prometheusNamespace: { type: "string", default: "monitoring" },
    prometheusPodSelector: { type: "string", default: "app.kubernetes.io/name=prometheus" },
    apiExternalEgress: { type: "string", default: "" },
    clusterDnsNamespace: { type: "string", default: "kube-system" },
    clusterDnsPodSelector: { type: "string", default: "k8s-app=kube-dns" },
    clusterDnsCidrs: { type: "string", default: "" },
    // Cluster add-ons (components/clusterAddons.ts): off unless the stack installs them.
    installMetricsServer: { type: "boolean", default: false },
    installVpa: { type: "boolean", default: false },
    installPrometheusStack: { type: "boolean", default: false },
    installEnvoyGateway: { type: "boolean", default: false },
    installCertManager: { type: "boolean", default: false },
    installCloudNativePg: { type: "boolean", default: false },
    selfSignedClusterIssuer: { type: "string", default: "" },
    // Autoscaling, availability and monitoring.
    apiHpaEnabled: { type: "boolean", default: true },
    apiHpaCustomMetrics: { type: "boolean", default: true },
    apiPdbMinAvailable: { type: "integer", default: 2 },
    vpaEnabled: { type: "boolean", default: true },
    vpaApiMode: { type: "string", default: "Off" },
    vpaPostgresMode: { type: "string", default: "Off" },
    vpaRedisMode: { type: "string", default: "Initial" },
    vpaEvictSingleReplica: { type: "boolean", default: false },
    monitoringEnabled: { type: "boolean", default: true },
    monitoringSelectorLabel: { type: "string", default: "" },
    monitoringRunbookUrl: { type: "string", default: "docs/runbooks.md" },
    monitoringCertificate: { type: "string", default: "" },
    monitoringDashboardLabel: { type: "string", default: "grafana_dashboard=1" },
    metricsExportersEnabled: { type: "boolean", default: true },
    postgresExporterImage: { type: "string", default: "quay.io/prometheuscommunity/postgres-exporter:v0.20.1" },
    redisExporterImage: { type: "string", default: "oliver006/redis_exporter:v1.91.1" },
} as const satisfies Record<string, ScalarSpec>;

export type ScalarKey = keyof typeof scalarSettings;

/** Settings the program no longer reads, and what replaces them: a stack file that still sets one is told so. */
export const retiredSettings: Readonly<Record<string, string>> = {
    installIngressNginx:
        "nothing: ingress-nginx is retired upstream (no releases or security fixes since March 2026). Publish the API through the Gateway API (apiExposure: gateway; installEnvoyGateway: true on a laptop cluster), or keep apiExposure: ingress with a maintained ingress controller the platform runs",
};

/** Structured settings, set in each stack file (Pulumi.yaml cannot declare objects). */
export const objectSettings = ["apiResources", "postgresResources", "redisResources"] as const;

export type ObjectKey = (typeof objectSettings)[number];
