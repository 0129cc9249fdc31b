import * as pulumi from "@pulumi/pulumi";
import { canonicalCidr, isCanonical, parseCidr } from "./lib/cidr";
import { longestGapSeconds, parseCron } from "./lib/cron";
import { parseLabelSelector } from "./lib/labels";
import { bytesExpectation, bytesHint, cpuExpectation, parseBytes, parseCpu } from "./lib/quantity";

/**
 * The stack's configuration, read once and validated as a whole. Components receive the typed,
 * read-only `Settings` as args and never read `pulumi.Config` themselves.
 *
 * Scalar settings are declared (type, description, default) in Pulumi.yaml; `scalarSettings` below
 * mirrors those declarations and a test keeps the two in step. Structured settings (resources)
 * cannot be declared there and live in each Pulumi.<stack>.yaml.
 */

export type Environment = "local" | "staging" | "production";
export const environments: readonly Environment[] = ["local", "staging", "production"];

export type PullPolicy = "Always" | "IfNotPresent" | "Never";
const pullPolicies: readonly PullPolicy[] = ["Always", "IfNotPresent", "Never"];

/** CPU and memory for one side (requests or limits) of a container's resources (a type, not an interface, so it fits Kubernetes' string maps). */
export type ComputeQuantities = {
    readonly cpu: string;
    readonly memory: string;
};

/** A container's requests and limits, as Kubernetes quantities. */
export interface ComputeResources {
    readonly requests: ComputeQuantities;
    readonly limits: ComputeQuantities;
}

/** A container image, split so that validation can reason about tag and digest. */
export interface ImageSettings {
    /** Registry and repository, without tag or digest. */
    readonly repository: string;
    /** Tag, when set. */
    readonly tag?: string;
    /** `sha256:` digest, when set; it wins over the tag at pull time. */
    readonly digest?: string;
    /** The full reference given to Kubernetes. */
    readonly ref: string;
    readonly pullPolicy: PullPolicy;
}

/** A persistent volume per pod. */
export interface StorageSettings {
    readonly size: string;
    /** StorageClass name; undefined uses the cluster's default class. */
    readonly className?: string;
}

export interface ApiSettings {
    readonly image: ImageSettings;
    readonly port: number;
    readonly metricsPort: number;
    /** Port serving only the health and readiness paths, open to any source. */
    readonly healthPort: number;
    /** Liveness and startup: the process serves (a restart would not bring a dependency back). */
    readonly healthPath: string;
    /** Readiness: the pod has started and is not draining. Never tied to PostgreSQL or Redis: an outage of either must not empty the Service. */
    readonly readyPath: string;
    readonly replicas: { readonly min: number; readonly max: number };
    readonly resources: ComputeResources;
}

export interface PostgresSettings {
    readonly image: string;
    /** Exact server version (`17.6`), also the image tag. */
    readonly version: string;
    readonly majorVersion: number;
    readonly database: string;
    readonly user: string;
    readonly storage: StorageSettings;
    readonly resources: ComputeResources;
}

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

export interface RedisSettings {
    readonly image: string;
    readonly version: string;
    /** Total nodes (pods) in the cluster. */
    readonly nodes: number;
    readonly replicasPerMaster: number;
    /** Derived: nodes / (1 + replicasPerMaster). */
    readonly masters: number;
    readonly storage: StorageSettings;
    readonly resources: ComputeResources;
}

/** How an ACME issuer has cert-manager prove the domain: solver pods answering HTTP, or a DNS record. */
export type AcmeChallenge = "http01" | "dns01";
export const acmeChallenges: readonly AcmeChallenge[] = ["http01", "dns01"];

export interface IngressSettings {
    readonly enabled: boolean;
    readonly host: string;
    readonly className: string;
    readonly tls: {
        readonly enabled: boolean;
        /** Secret holding the certificate; cert-manager writes it when `clusterIssuer` is set. */
        readonly secretName: string;
        readonly clusterIssuer?: string;
        readonly acmeChallenge: AcmeChallenge;
        /**
         * cert-manager answers the issuer's HTTP-01 challenges from solver pods in the stack's namespace
         * (TLS on, a cluster issuer that is not this stack's self-signed one, challenge http01).
         */
        readonly http01Solvers: boolean;
    };
    /** Do not wait for the ingress controller to publish an address (kind without a controller would wait forever). */
    readonly skipAwait: boolean;
}

// --- Network security settings (NetworkSecurity component) ---

/** Pods in another namespace that a NetworkPolicy admits: the namespace by name, the pods by labels. */
export interface PeerSelector {
    readonly namespace: string;
    /** `matchLabels`; empty selects every pod of the namespace. */
    readonly podLabels: Readonly<Record<string, string>>;
}

/** Where the pods that resolve names send their DNS queries (UDP and TCP 53). */
export interface DnsPeers {
    /** The cluster DNS pods; undefined when DNS is reached by address only. */
    readonly pods?: PeerSelector;
    /** Canonical CIDR blocks of DNS servers no pod selector matches (NodeLocal DNSCache's 169.254.20.10/32). */
    readonly cidrs: readonly string[];
}

/** A destination outside the cluster that the API may reach over TCP. */
export interface ExternalDestination {
    /** Canonical CIDR block. */
    readonly cidr: string;
    readonly port: number;
}

export interface NetworkSettings {
    /** The ingress controller's pods: the only source of the API's http port. */
    readonly ingressController: PeerSelector;
    /** Prometheus' pods: the only source of the workloads' metrics ports. */
    readonly prometheus: PeerSelector;
    /** The DNS servers of every egress policy whose pods resolve names. */
    readonly dns: DnsPeers;
    /** Where the API may connect outside the cluster, besides PostgreSQL, Redis and DNS. */
    readonly apiExternalEgress: readonly ExternalDestination[];
}

export interface ClusterSettings {
    /** kubeconfig context; undefined uses the kubeconfig's current context (local only). */
    readonly context?: string;
    /** kubeconfig path or contents; undefined uses $KUBECONFIG or ~/.kube/config. */
    readonly kubeconfig?: pulumi.Output<string>;
}

/** Cluster add-ons the stack installs from their Helm charts (components/clusterAddons.ts). */
export interface AddonSettings {
    readonly metricsServer: boolean;
    readonly vpa: boolean;
    /** kube-prometheus-stack (Prometheus operator, Prometheus, Alertmanager) and prometheus-adapter. */
    readonly prometheusStack: boolean;
    readonly ingressNginx: boolean;
    readonly certManager: boolean;
    /** Name of a self-signed cert-manager ClusterIssuer to create (local TLS); undefined creates none. */
    readonly selfSignedIssuer?: string;
}

// ---- Autoscaling, availability and monitoring (issue 3) --------------------------------------------

/** VPA update modes this program accepts (`Auto` is deprecated upstream: an alias of `Recreate`). */
export type VpaMode = "Off" | "Initial" | "Recreate" | "InPlaceOrRecreate";
export const vpaModes: readonly VpaMode[] = ["Off", "Initial", "Recreate", "InPlaceOrRecreate"];
/** The modes in which the VPA updater evicts running pods to resize them. */
export const evictingVpaModes: readonly VpaMode[] = ["Recreate", "InPlaceOrRecreate"];

export interface AutoscalingSettings {
    /** HorizontalPodAutoscaler on the API; when on, the Deployment leaves `replicas` to it. */
    readonly hpa: {
        readonly enabled: boolean;
        /** The cluster serves custom.metrics.k8s.io (prometheus-adapter): add the two business metrics. */
        readonly customMetrics: boolean;
    };
    /** The API's PodDisruptionBudget `minAvailable`; 0 creates none. Always below the API's fewest replicas. */
    readonly apiPdbMinAvailable: number;
    /** VerticalPodAutoscalers (CRD autoscaling.k8s.io/v1) for the API, PostgreSQL and Redis. */
    readonly vpa: {
        readonly enabled: boolean;
        readonly modes: { readonly api: VpaMode; readonly postgres: VpaMode; readonly redis: VpaMode };
        /** The stack accepts that the VPA evicts a workload that runs a single pod (downtime on each resize). */
        readonly evictSingleReplica: boolean;
    };
}

export interface MonitoringSettings {
    /** ServiceMonitors and the PrometheusRule (CRDs monitoring.coreos.com/v1 of the Prometheus Operator). */
    readonly enabled: boolean;
    /** Labels the cluster's Prometheus selects ServiceMonitors and PrometheusRules by. */
    readonly selectorLabels: Readonly<Record<string, string>>;
    /** Exporter sidecars for PostgreSQL and Redis; undefined when off. */
    readonly exporters?: { readonly postgresImage: string; readonly redisImage: string };
}

export interface Settings {
    readonly project: string;
    readonly stack: string;
    readonly environment: Environment;
    readonly namespace: string;
    readonly cluster: ClusterSettings;
    /** Protect stateful resources from deletion and replacement, and keep them when removed from the program. */
    readonly protectData: boolean;
    readonly api: ApiSettings;
    readonly postgres: PostgresSettings;
    /** Scheduled PostgreSQL backups; undefined when postgresBackupSchedule is empty. */
    readonly postgresBackup?: PostgresBackupSettings;
    readonly redis: RedisSettings;
    /** PriorityClass created for PostgreSQL and Redis (cluster-scoped: unique on the cluster); undefined: none. */
    readonly dataPriorityClassName?: string;
    readonly ingress: IngressSettings;
    readonly network: NetworkSettings;
    /** Cluster add-ons installed by this stack; off where the platform provides them. */
    readonly addons: AddonSettings;
    readonly autoscaling: AutoscalingSettings;
    readonly monitoring: MonitoringSettings;
}

type ScalarSpec =
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
    postgresImageRepository: { type: "string", default: "postgres" },
    postgresVersion: { type: "string", default: "17.6" },
    postgresDatabase: { type: "string", default: "healthcare" },
    postgresUser: { type: "string", default: "healthcare" },
    postgresStorageSize: { type: "string", default: "100Gi" },
    postgresStorageClass: { type: "string", default: "" },
    // PostgreSQL backups (components/postgresBackup.ts).
    postgresBackupSchedule: { type: "string", default: "0 2 * * *" },
    postgresBackupRetention: { type: "integer", default: 14 },
    postgresBackupStorageSize: { type: "string", default: "100Gi" },
    postgresBackupStorageClass: { type: "string", default: "" },
    postgresBackupS3Endpoint: { type: "string", default: "" },
    postgresBackupS3Bucket: { type: "string", default: "" },
    postgresBackupS3Prefix: { type: "string", default: "" },
    postgresBackupS3Region: { type: "string", default: "us-east-1" },
    postgresBackupS3CredentialsSecret: { type: "string", default: "" },
    postgresBackupS3Egress: { type: "string", default: "" },
    postgresBackupS3ClientImage: { type: "string", default: "rclone/rclone:1.75.1" },
    redisImageRepository: { type: "string", default: "redis" },
    redisVersion: { type: "string", default: "8.2.3" },
    redisNodes: { type: "integer", default: 6 },
    redisReplicasPerMaster: { type: "integer", default: 1 },
    redisStorageSize: { type: "string", default: "10Gi" },
    redisStorageClass: { type: "string", default: "" },
    dataPriorityClassName: { type: "string", default: "" },
    ingressEnabled: { type: "boolean", default: true },
    ingressHost: { type: "string", default: "" },
    ingressClassName: { type: "string", default: "nginx" },
    ingressTlsEnabled: { type: "boolean", default: true },
    ingressTlsSecretName: { type: "string", default: "healthcare-api-tls" },
    ingressClusterIssuer: { type: "string", default: "" },
    ingressAcmeChallenge: { type: "string", default: "http01" },
    ingressSkipAwait: { type: "boolean", default: false },
    // Network security
    ingressControllerNamespace: { type: "string", default: "ingress-nginx" },
    ingressControllerPodSelector: { type: "string", default: "app.kubernetes.io/name=ingress-nginx,app.kubernetes.io/component=controller" },
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
    installIngressNginx: { type: "boolean", default: false },
    installCertManager: { type: "boolean", default: false },
    selfSignedClusterIssuer: { type: "string", default: "" },
    // Autoscaling, availability and monitoring.
    apiHpaEnabled: { type: "boolean", default: true },
    apiHpaCustomMetrics: { type: "boolean", default: true },
    apiPdbMinAvailable: { type: "integer", default: 2 },
    vpaEnabled: { type: "boolean", default: true },
    vpaApiMode: { type: "string", default: "Off" },
    vpaPostgresMode: { type: "string", default: "Initial" },
    vpaRedisMode: { type: "string", default: "Initial" },
    vpaEvictSingleReplica: { type: "boolean", default: false },
    monitoringEnabled: { type: "boolean", default: true },
    monitoringSelectorLabel: { type: "string", default: "" },
    metricsExportersEnabled: { type: "boolean", default: true },
    postgresExporterImage: { type: "string", default: "quay.io/prometheuscommunity/postgres-exporter:v0.20.1" },
    redisExporterImage: { type: "string", default: "oliver006/redis_exporter:v1.91.1" },
} as const satisfies Record<string, ScalarSpec>;

type ScalarKey = keyof typeof scalarSettings;

/** Structured settings, set in each stack file (Pulumi.yaml cannot declare objects). */
export const objectSettings = ["apiResources", "postgresResources", "redisResources"] as const;
type ObjectKey = (typeof objectSettings)[number];

/** Where settings come from: `pulumi.Config` in a real run, a plain map in unit tests. */
export interface ConfigSource {
    readonly project: string;
    readonly stack: string;
    /** The raw string value of `<project>:<key>`, or undefined when unset. */
    get(key: string): string | undefined;
    /** Every `<project>:<key>` key the stack sets, without the project prefix. */
    keys(): string[];
}

/** Thrown when the stack's settings are invalid; lists every problem at once. */
export class SettingsError extends pulumi.RunError {
    constructor(
        readonly stack: string,
        readonly problems: readonly string[],
    ) {
        super(
            `Stack "${stack}" has ${problems.length} configuration problem${problems.length === 1 ? "" : "s"}; ` +
                `nothing was deployed:\n${problems.map((p) => `  - ${p}`).join("\n")}`,
        );
        this.name = "SettingsError";
    }
}

/** Reads and validates the running stack's configuration. */
export function loadSettings(): Settings {
    const config = new pulumi.Config();
    const project = pulumi.getProject();
    const prefix = `${project}:`;
    return parseSettings({
        project,
        stack: pulumi.getStack(),
        get: (key) => config.get(key),
        keys: () =>
            Object.keys(pulumi.runtime.allConfig())
                .filter((k) => k.startsWith(prefix))
                .map((k) => k.slice(prefix.length)),
    });
}

const dnsLabel = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const dnsSubdomain = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const imageRepository = /^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-]{1,2}[a-z0-9]+)*)*$/;
const imageTag = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const imageDigest = /^sha256:[a-f0-9]{64}$/;
const sqlIdentifier = /^[a-z_][a-z0-9_]{0,62}$/;

/** Validates raw settings from `source`; throws a `SettingsError` listing every problem. */
export function parseSettings(source: ConfigSource): Settings {
    const r = new Reader(source);

    const environment = r.oneOf("environment", environments);
    if (environment && environments.includes(source.stack as Environment) && environment !== source.stack) {
        r.problem("environment", environment, `"${source.stack}" for the stack named ${source.stack}, or a stack of another name`);
    }
    const deployed = environment === "staging" || environment === "production";

    const namespace = r.matching("namespace", dnsLabel, "a DNS label (lower-case letters, digits and '-', at most 63)");
    const kubeContext = r.string("kubeContext") || undefined;
    if (!kubeContext && deployed) {
        r.problem("kubeContext", "", `the kubeconfig context of the ${environment} cluster: a ${environment} stack never uses whatever context is current`);
    }
    const kubeconfigText = r.string("kubeconfig");

    const api = readApi(r, environment);
    const postgres = readPostgres(r);
    const postgresBackup = readPostgresBackup(r, environment);
    const redis = readRedis(r, environment);
    const dataPriorityClassName = readDataPriorityClass(r);
    const ingress = readIngress(r, deployed);
    const network = readNetwork(r);
    const addons = readAddons(r, ingress);
    const tls = ingress.tls!;
    // This stack's own self-signed issuer is not ACME: it starts no solver pod.
    const acmeIssuer = tls.clusterIssuer !== undefined && tls.clusterIssuer !== addons.selfSignedIssuer;
    const http01Solvers = !!(ingress.enabled && tls.enabled && acmeIssuer && tls.acmeChallenge === "http01");
    const monitoring = readMonitoring(r);
    const autoscaling = readAutoscaling(r, api, redis, monitoring);

    for (const key of source.keys()) {
        if (!(key in scalarSettings) && !(objectSettings as readonly string[]).includes(key)) {
            const known = [...Object.keys(scalarSettings), ...objectSettings];
            r.problem(key, source.get(key) ?? "", `a known setting${suggestion(key, known)}`, "is not a setting of this program");
        }
    }

    if (r.problems.length > 0) {
        throw new SettingsError(source.stack, r.problems);
    }
    return deepFreeze({
        project: source.project,
        stack: source.stack,
        environment: environment!,
        namespace: namespace!,
        cluster: {
            context: kubeContext,
            kubeconfig: kubeconfigText ? pulumi.secret(kubeconfigText) : undefined,
        },
        protectData: r.boolean("protectData")!,
        api: api as ApiSettings,
        postgres: postgres as PostgresSettings,
        postgresBackup,
        redis: redis as RedisSettings,
        dataPriorityClassName,
        ingress: { ...ingress, tls: { ...tls, http01Solvers } } as IngressSettings,
        network,
        addons,
        autoscaling,
        monitoring,
    });
}

function readApi(r: Reader, environment: Environment | undefined): Partial<ApiSettings> {
    const repository = r.string("apiImageRepository");
    const tag = r.string("apiImageTag") || undefined;
    const digest = r.string("apiImageDigest") || undefined;
    if (!repository) {
        r.problem("apiImageRepository", "", "the API image's registry and repository, e.g. ghcr.io/acme/healthcare-api");
    } else if (!imageRepository.test(repository)) {
        const hint = /:[^/]*$/.test(repository) && !/:[0-9]+$/.test(repository) ? " (put the tag in apiImageTag)" : "";
        r.problem("apiImageRepository", repository, `an image repository without tag or digest${hint}`);
    }
    if (tag !== undefined && !imageTag.test(tag)) {
        r.problem("apiImageTag", tag, "an image tag ([A-Za-z0-9_.-], at most 128 characters)");
    }
    if (digest !== undefined && !imageDigest.test(digest)) {
        r.problem("apiImageDigest", digest, "a digest of the form sha256:<64 hex digits>");
    }
    if (environment === "production" && digest === undefined && (tag === undefined || tag === "latest")) {
        r.problem(
            "apiImageTag",
            tag ?? "",
            "an immutable version in production: set apiImageDigest (preferred) or a version tag; 'latest' or no tag can change under a running Deployment",
        );
    }
    const pullPolicy = r.oneOf("apiImagePullPolicy", pullPolicies);

    const port = r.port("apiPort");
    const metricsPort = r.port("apiMetricsPort");
    const healthPort = r.port("apiHealthPort");
    if (port !== undefined && port === metricsPort) {
        r.problem("apiMetricsPort", metricsPort, "a port other than apiPort: the metrics port is opened to Prometheus only");
    }
    if (healthPort !== undefined && (healthPort === port || healthPort === metricsPort)) {
        r.problem("apiHealthPort", healthPort, "a port other than apiPort and apiMetricsPort: the health port is open to every source");
    }
    const min = r.integer("apiMinReplicas", 1);
    const max = r.integer("apiMaxReplicas", 1);
    if (min !== undefined && max !== undefined && min > max) {
        r.problem("apiMinReplicas", min, `at most apiMaxReplicas (${max})`);
    }
    return {
        image: {
            repository,
            tag,
            digest,
            ref: `${repository}${tag ? `:${tag}` : ""}${digest ? `@${digest}` : ""}`,
            pullPolicy: pullPolicy!,
        },
        port,
        metricsPort,
        healthPort,
        healthPath: r.path("apiHealthPath"),
        readyPath: r.path("apiReadyPath"),
        replicas: { min: min!, max: max! },
        resources: r.resources("apiResources"),
    };
}

function readPostgres(r: Reader): Partial<PostgresSettings> {
    const repository = r.matching("postgresImageRepository", imageRepository, "an image repository without tag, e.g. postgres");
    const version = r.matching(
        "postgresVersion",
        /^\d+\.\d+(-[a-z0-9.]+)?$/,
        "an exact PostgreSQL version such as 17.6 (a bare major like 17 moves under a running database)",
    );
    return {
        image: `${repository}:${version}`,
        version,
        majorVersion: version ? Number.parseInt(version, 10) : undefined,
        database: r.matching("postgresDatabase", sqlIdentifier, "a lower-case SQL identifier ([a-z_][a-z0-9_]*)"),
        user: r.matching("postgresUser", sqlIdentifier, "a lower-case SQL identifier ([a-z_][a-z0-9_]*)"),
        storage: r.storage("postgresStorageSize", "postgresStorageClass"),
        resources: r.resources("postgresResources"),
    };
}

function readPostgresBackup(r: Reader, environment: Environment | undefined): PostgresBackupSettings | undefined {
    const schedule = r.string("postgresBackupSchedule");
    const retention = r.integer("postgresBackupRetention", 1, 1000);
    const storage = r.storage("postgresBackupStorageSize", "postgresBackupStorageClass");
    const objectStore = readBackupObjectStore(r, environment);
    if (schedule === "") {
        if (environment === "production") {
            r.problem("postgresBackupSchedule", "", "a cron schedule in production, such as 0 2 * * * (daily at 02:00 UTC): the database is one instance and its volume its only copy");
        }
        if (objectStore) {
            r.problem("postgresBackupS3Bucket", objectStore.bucket, "empty while postgresBackupSchedule is empty: without a schedule there is no backup Job to upload anything");
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
function readBackupObjectStore(r: Reader, environment: Environment | undefined): BackupObjectStoreSettings | undefined {
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

/** The data stores' PriorityClass name: a DNS subdomain outside the reserved system- prefix; empty is none. */
function readDataPriorityClass(r: Reader): string | undefined {
    const name = r.string("dataPriorityClassName");
    if (!name) {
        return undefined;
    }
    if (!dnsSubdomain.test(name)) {
        r.problem("dataPriorityClassName", name, "a DNS subdomain name (lower-case letters, digits, '-' and '.'), or empty for none");
    } else if (name.startsWith("system-")) {
        r.problem("dataPriorityClassName", name, "a name that does not start with system- (Kubernetes reserves that prefix)");
    }
    return name;
}

function readRedis(r: Reader, environment: Environment | undefined): Partial<RedisSettings> {
    const repository = r.matching("redisImageRepository", imageRepository, "an image repository without tag, e.g. redis");
    const version = r.matching(
        "redisVersion",
        /^([7-9]|[1-9]\d+)\.\d+\.\d+(-[a-z0-9.]+)?$/,
        "an exact Redis version 7.0.0 or later, such as 8.2.3 (the cluster scripts rely on cluster-announce-hostname)",
    );
    const nodes = r.integer("redisNodes", 1);
    const replicas = r.integer("redisReplicasPerMaster", 0);
    let masters: number | undefined;
    if (nodes !== undefined && replicas !== undefined) {
        const perShard = 1 + replicas;
        const single = nodes === 1 && replicas === 0;
        if (!single && (nodes % perShard !== 0 || nodes / perShard < 3)) {
            r.problem(
                "redisNodes",
                nodes,
                `a node count that forms a Redis Cluster with redisReplicasPerMaster=${replicas}: ` +
                    `1 node (single master, no replicas) or masters × ${perShard} nodes with at least 3 masters (${3 * perShard}, ${4 * perShard}, ...)`,
            );
        } else {
            masters = nodes / perShard;
        }
        if (environment === "production" && replicas < 1) {
            r.problem("redisReplicasPerMaster", replicas, "at least 1 in production: a master without a replica loses its slots with its node");
        }
    }
    return {
        image: `${repository}:${version}`,
        version,
        nodes,
        replicasPerMaster: replicas,
        masters,
        storage: r.storage("redisStorageSize", "redisStorageClass"),
        resources: r.resources("redisResources"),
    };
}

function readIngress(r: Reader, deployed: boolean): Partial<IngressSettings> {
    const enabled = r.boolean("ingressEnabled");
    const host = r.string("ingressHost");
    if (enabled && !dnsSubdomain.test(host)) {
        r.problem("ingressHost", host, "the public DNS name of the API, e.g. api.clinic.example.com (ingressEnabled is true)");
    }
    const tlsEnabled = r.boolean("ingressTlsEnabled");
    if (enabled && deployed && tlsEnabled === false) {
        r.problem("ingressTlsEnabled", false, "true in staging and production: patient data never crosses the network in clear text");
    }
    const clusterIssuer = r.string("ingressClusterIssuer") || undefined;
    if (clusterIssuer !== undefined && !dnsSubdomain.test(clusterIssuer)) {
        r.problem("ingressClusterIssuer", clusterIssuer, "the name of a cert-manager ClusterIssuer, or empty");
    }
    return {
        enabled,
        host,
        className: r.matching("ingressClassName", dnsSubdomain, "an IngressClass name such as nginx"),
        tls: {
            enabled: tlsEnabled!,
            secretName: r.matching("ingressTlsSecretName", dnsSubdomain, "a Secret name (DNS subdomain)")!,
            clusterIssuer,
            acmeChallenge: r.oneOf("ingressAcmeChallenge", acmeChallenges)!,
            // Decided once the add-on settings are known (parseSettings).
            http01Solvers: false,
        },
        skipAwait: r.boolean("ingressSkipAwait"),
    };
}

function readNetwork(r: Reader): NetworkSettings {
    const peer = (namespaceKey: ScalarKey, selectorKey: ScalarKey, orEmpty = ""): PeerSelector => {
        const namespace = r.matching(namespaceKey, dnsLabel, `a namespace name (a DNS label)${orEmpty}`);
        const text = r.string(selectorKey);
        const parsed = parseLabelSelector(text);
        if ("problem" in parsed) {
            r.problem(selectorKey, text, `a pod selector of comma-separated key=value labels, e.g. app.kubernetes.io/name=prometheus (${parsed.problem})`);
        }
        return { namespace: namespace!, podLabels: "labels" in parsed ? parsed.labels : {} };
    };
    return {
        ingressController: peer("ingressControllerNamespace", "ingressControllerPodSelector"),
        prometheus: peer("prometheusNamespace", "prometheusPodSelector"),
        dns: readDns(r, peer),
        apiExternalEgress: readExternalEgress(r, "apiExternalEgress"),
    };
}

/** The cluster DNS pods (unless clusterDnsNamespace is empty) and the DNS addresses in clusterDnsCidrs; at least one. */
function readDns(r: Reader, peer: (namespaceKey: ScalarKey, selectorKey: ScalarKey, orEmpty?: string) => PeerSelector): DnsPeers {
    const byPods = r.string("clusterDnsNamespace") !== "";
    const pods = byPods ? peer("clusterDnsNamespace", "clusterDnsPodSelector", ", or empty to reach DNS by clusterDnsCidrs only") : undefined;
    const cidrs: string[] = [];
    const text = r.string("clusterDnsCidrs");
    for (const entry of text.split(/[\s,]+/).filter((e) => e !== "")) {
        const block = parseCidr(entry);
        if (!block) {
            r.problem("clusterDnsCidrs", entry, "CIDR blocks separated by commas, e.g. 169.254.20.10/32 (NodeLocal DNSCache)");
        } else if (!isCanonical(block)) {
            r.problem("clusterDnsCidrs", entry, `a CIDR block without host bits (did you mean ${canonicalCidr(block)}?)`);
        } else if (cidrs.includes(block.text)) {
            r.problem("clusterDnsCidrs", entry, "each block once", "is listed twice");
        } else {
            cidrs.push(block.text);
        }
    }
    if (!byPods && text === "") {
        r.problem(
            "clusterDnsCidrs",
            "",
            "the DNS servers' addresses (e.g. 169.254.20.10/32) while clusterDnsNamespace is empty: with neither, the API and the Redis Jobs could resolve no name",
            "is empty",
        );
    }
    return { pods, cidrs };
}

/** `CIDR:port` entries separated by commas or spaces (`203.0.113.0/24:443, 2001:db8::/32:443`). */
function readExternalEgress(r: Reader, key: ScalarKey): ExternalDestination[] {
    const destinations: ExternalDestination[] = [];
    const expected = "CIDR:port entries separated by commas, e.g. 203.0.113.0/24:443";
    for (const entry of r.string(key).split(/[\s,]+/).filter((e) => e !== "")) {
        const match = /^(.+\/\d{1,3}):(\d{1,5})$/.exec(entry);
        const block = match ? parseCidr(match[1]) : undefined;
        const port = match ? Number(match[2]) : NaN;
        if (!match || !block) {
            r.problem(key, entry, expected);
        } else if (!isCanonical(block)) {
            r.problem(key, entry, `a CIDR block without host bits (did you mean ${canonicalCidr(block)}:${port}?)`);
        } else if (!(port >= 1 && port <= 65535)) {
            r.problem(key, entry, "a port from 1 to 65535 after the CIDR block");
        } else if (destinations.some((d) => d.cidr === block.text && d.port === port)) {
            r.problem(key, entry, "each destination once", "is listed twice");
        } else {
            destinations.push({ cidr: block.text, port });
        }
    }
    return destinations;
}

function readAddons(r: Reader, ingress: Partial<IngressSettings>): AddonSettings {
    const ingressNginx = r.boolean("installIngressNginx")!;
    const certManager = r.boolean("installCertManager")!;
    const selfSignedIssuer = r.string("selfSignedClusterIssuer") || undefined;
    if (selfSignedIssuer !== undefined && !dnsSubdomain.test(selfSignedIssuer)) {
        r.problem("selfSignedClusterIssuer", selfSignedIssuer, "a ClusterIssuer name (DNS subdomain), or empty");
    } else if (selfSignedIssuer !== undefined && certManager === false) {
        r.problem("selfSignedClusterIssuer", selfSignedIssuer, "empty unless installCertManager is true: a ClusterIssuer needs cert-manager's CRDs");
    }
    if (ingressNginx && ingress.enabled && ingress.className !== undefined && ingress.className !== "nginx") {
        r.problem("ingressClassName", ingress.className, "nginx, the IngressClass of the ingress-nginx this stack installs (installIngressNginx is true)");
    }
    return {
        metricsServer: r.boolean("installMetricsServer")!,
        vpa: r.boolean("installVpa")!,
        prometheusStack: r.boolean("installPrometheusStack")!,
        ingressNginx,
        certManager,
        selfSignedIssuer,
    };
}

function readMonitoring(r: Reader): MonitoringSettings {
    const enabled = r.boolean("monitoringEnabled");
    const label = r.string("monitoringSelectorLabel");
    // The same key=value grammar as the network selectors, limited to one label.
    const parsed = parseLabelSelector(label);
    const selectorLabels = "labels" in parsed ? parsed.labels : {};
    if ("problem" in parsed || Object.keys(selectorLabels).length > 1) {
        r.problem(
            "monitoringSelectorLabel",
            label,
            "empty, or one label as key=value that the cluster's Prometheus selects rules and monitors by (kube-prometheus-stack: release=<its release name>)",
        );
    }
    const exporters = r.boolean("metricsExportersEnabled");
    const postgresImage = r.pinnedImage("postgresExporterImage");
    const redisImage = r.pinnedImage("redisExporterImage");
    return {
        enabled: enabled!,
        selectorLabels,
        exporters: exporters ? { postgresImage: postgresImage!, redisImage: redisImage! } : undefined,
    };
}

function readAutoscaling(r: Reader, api: Partial<ApiSettings>, redis: Partial<RedisSettings>, monitoring: MonitoringSettings): AutoscalingSettings {
    const hpaEnabled = r.boolean("apiHpaEnabled");
    const customMetrics = r.boolean("apiHpaCustomMetrics");
    if (hpaEnabled && customMetrics && monitoring.enabled === false) {
        r.problem(
            "apiHpaCustomMetrics",
            true,
            "false while monitoringEnabled is false: the HPA's custom metrics are recorded by this stack's PrometheusRule, and an HPA whose metrics never arrive does not scale down",
        );
    }

    // A budget at or above the fewest pods the API runs blocks every voluntary eviction: node drains never finish.
    const minAvailable = r.integer("apiPdbMinAvailable", 0);
    const fewest = api.replicas?.min;
    if (minAvailable !== undefined && minAvailable > 0 && fewest !== undefined && minAvailable >= fewest) {
        r.problem(
            "apiPdbMinAvailable",
            minAvailable,
            `less than apiMinReplicas (${fewest}), or 0 for no budget: with ${fewest} pod${fewest === 1 ? "" : "s"} a budget of ${minAvailable} blocks every voluntary eviction, so node drains never finish`,
        );
    }

    const vpaEnabled = r.boolean("vpaEnabled");
    const evictSingleReplica = r.boolean("vpaEvictSingleReplica");
    const modes = { api: r.vpaMode("vpaApiMode"), postgres: r.vpaMode("vpaPostgresMode"), redis: r.vpaMode("vpaRedisMode") };
    if (vpaEnabled) {
        if (hpaEnabled && modes.api !== undefined && modes.api !== "Off") {
            r.problem(
                "vpaApiMode",
                modes.api,
                `"Off" (recommendations only) while apiHpaEnabled is true: the HPA scales healthcare-api on CPU and memory, and a VPA acting on the same resources fights it`,
            );
        }
        const singles: Array<[ScalarKey, VpaMode | undefined, string]> = [
            ["vpaPostgresMode", modes.postgres, "PostgreSQL runs a single pod"],
            ...(redis.nodes === 1 ? [["vpaRedisMode", modes.redis, "the Redis Cluster has a single node (redisNodes = 1)"] as [ScalarKey, VpaMode | undefined, string]] : []),
        ];
        for (const [key, mode, why] of singles) {
            if (mode !== undefined && evictingVpaModes.includes(mode) && evictSingleReplica === false) {
                r.problem(key, mode, `Off or Initial: ${why} and ${mode} evicts it to resize (downtime); set vpaEvictSingleReplica = true to accept that`);
            }
        }
    }
    return {
        hpa: { enabled: hpaEnabled!, customMetrics: customMetrics! },
        apiPdbMinAvailable: minAvailable!,
        vpa: { enabled: vpaEnabled!, modes: modes as AutoscalingSettings["vpa"]["modes"], evictSingleReplica: evictSingleReplica! },
    };
}

/** Reads raw values and collects every problem instead of stopping at the first. */
class Reader {
    readonly problems: string[] = [];

    constructor(private readonly source: ConfigSource) {}

    /** Records a problem: the full key, the bad value and what is expected. */
    problem(key: string, value: unknown, expected: string, verdict = "is invalid"): void {
        const shown = value === undefined ? "" : ` = ${JSON.stringify(value) ?? String(value)}`;
        this.problems.push(`${this.source.project}:${key}${shown} ${verdict}; expected ${expected}`);
    }

    private raw(key: ScalarKey): string {
        const value = this.source.get(key);
        return value === undefined ? String(scalarSettings[key].default) : value;
    }

    string(key: ScalarKey): string {
        return this.raw(key).trim();
    }

    matching(key: ScalarKey, pattern: RegExp, expected: string): string | undefined {
        const value = this.string(key);
        if (!pattern.test(value)) {
            this.problem(key, value, expected);
            return undefined;
        }
        return value;
    }

    oneOf<T extends string>(key: ScalarKey, allowed: readonly T[]): T | undefined {
        const value = this.string(key);
        if (!(allowed as readonly string[]).includes(value)) {
            this.problem(key, value, `one of ${allowed.join(", ")}`);
            return undefined;
        }
        return value as T;
    }

    boolean(key: ScalarKey): boolean | undefined {
        const value = this.string(key);
        if (value !== "true" && value !== "false") {
            this.problem(key, value, "true or false");
            return undefined;
        }
        return value === "true";
    }

    integer(key: ScalarKey, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
        const value = this.string(key);
        const n = Number(value);
        if (!/^-?\d+$/.test(value) || n < min || n > max) {
            const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
            this.problem(key, value, `a whole number ${range}`);
            return undefined;
        }
        return n;
    }

    port(key: ScalarKey): number | undefined {
        // Ports below 1024 need NET_BIND_SERVICE, which the restricted containers drop.
        return this.integer(key, 1024, 65535);
    }

    /** A VPA update mode; `Auto` is refused with its replacement named. */
    vpaMode(key: ScalarKey): VpaMode | undefined {
        const value = this.string(key);
        if (value === "Auto") {
            this.problem(key, value, `one of ${vpaModes.join(", ")}: Auto is deprecated upstream (it means Recreate), say Recreate if eviction is intended`);
            return undefined;
        }
        return this.oneOf(key, vpaModes);
    }

    /** An image reference with an exact tag or digest (repository:tag or repository@sha256:...), never latest. */
    pinnedImage(key: ScalarKey): string | undefined {
        const value = this.string(key);
        const match = /^(.+?)(?::([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(sha256:[a-f0-9]{64}))?$/.exec(value);
        const [repository, tag, digest] = match ? [match[1], match[2], match[3]] : [];
        if (!repository || !imageRepository.test(repository) || (!tag && !digest) || tag === "latest") {
            this.problem(key, value, "an image pinned to an exact version: repository:tag (not latest) or repository@sha256:<digest>");
            return undefined;
        }
        return value;
    }

    path(key: ScalarKey): string | undefined {
        return this.matching(key, /^\/[A-Za-z0-9._~/-]*$/, "an HTTP path starting with /");
    }

    storage(sizeKey: ScalarKey, classKey: ScalarKey): StorageSettings {
        const size = this.string(sizeKey);
        if (parseBytes(size) === undefined) {
            this.problem(sizeKey, size, bytesExpectation + bytesHint(size));
        }
        const className = this.string(classKey) || undefined;
        if (className !== undefined && !dnsSubdomain.test(className)) {
            this.problem(classKey, className, "a StorageClass name, or empty for the cluster's default class");
        }
        return { size, className };
    }

    /** `{requests: {cpu, memory}, limits: {cpu, memory}}`, strict about unknown keys and requests above limits. */
    resources(key: ObjectKey): ComputeResources {
        const expected = "{ requests: { cpu, memory }, limits: { cpu, memory } }";
        const text = this.source.get(key);
        if (text === undefined) {
            this.problem(key, undefined, `${expected} in Pulumi.${this.source.stack}.yaml`, "is not set");
            return undefined as never;
        }
        let value: unknown;
        try {
            value = JSON.parse(text);
        } catch {
            value = text;
        }
        if (!isRecord(value)) {
            this.problem(key, value, expected);
            return undefined as never;
        }
        this.unknownKeys(key, value, ["requests", "limits"]);
        const sides: Record<string, { cpu?: number; memory?: number }> = {};
        for (const side of ["requests", "limits"] as const) {
            const part = value[side];
            if (!isRecord(part)) {
                this.problem(`${key}.${side}`, part, "{ cpu, memory }", part === undefined ? "is missing" : "is invalid");
                continue;
            }
            this.unknownKeys(`${key}.${side}`, part, ["cpu", "memory"]);
            const cpu = parseCpu(String(part.cpu ?? ""));
            if (cpu === undefined) {
                this.problem(`${key}.${side}.cpu`, part.cpu, cpuExpectation, part.cpu === undefined ? "is missing" : "is invalid");
            }
            const memory = parseBytes(String(part.memory ?? ""));
            if (memory === undefined) {
                const hint = bytesHint(String(part.memory ?? ""));
                this.problem(`${key}.${side}.memory`, part.memory, bytesExpectation + hint, part.memory === undefined ? "is missing" : "is invalid");
            }
            sides[side] = { cpu, memory };
        }
        const { requests, limits } = sides;
        for (const dimension of ["cpu", "memory"] as const) {
            const request = requests?.[dimension];
            const limit = limits?.[dimension];
            if (request !== undefined && limit !== undefined && request > limit) {
                const shown = (value.requests as Record<string, unknown>)[dimension];
                this.problem(`${key}.requests.${dimension}`, shown, `at most limits.${dimension} (${(value.limits as Record<string, unknown>)[dimension]})`);
            }
        }
        return value as unknown as ComputeResources;
    }

    private unknownKeys(key: string, value: Record<string, unknown>, known: readonly string[]): void {
        for (const k of Object.keys(value)) {
            if (!known.includes(k)) {
                this.problem(`${key}.${k}`, value[k], `one of ${known.join(", ")}${suggestion(k, known)}`, "is not a known key");
            }
        }
    }
}

function isRecord(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** " (did you mean X?)" for the closest known name within two edits, or "". */
function suggestion(name: string, known: readonly string[]): string {
    let best: string | undefined;
    let bestDistance = 3;
    for (const candidate of known) {
        const d = editDistance(name.toLowerCase(), candidate.toLowerCase());
        if (d < bestDistance) {
            best = candidate;
            bestDistance = d;
        }
    }
    return best ? ` (did you mean ${best}?)` : "";
}

function editDistance(a: string, b: string): number {
    let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
        const current = [i];
        for (let j = 1; j <= b.length; j++) {
            current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
        }
        previous = current;
    }
    return previous[b.length];
}

function deepFreeze<T>(value: T): T {
    if (isRecord(value) && !pulumi.Output.isInstance(value)) {
        for (const child of Object.values(value)) {
            deepFreeze(child);
        }
        Object.freeze(value);
    }
    return value;
}
