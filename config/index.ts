import * as pulumi from "@pulumi/pulumi";
import { AddonSettings, readAddons } from "./addons";
import { ApiSettings, readApi } from "./api";
import { AutoscalingSettings, readAutoscaling } from "./autoscaling";
import { ClusterSettings, readDataPriorityClass } from "./cluster";
import { Environment, environments } from "./common";
import { objectSettings, retiredSettings, scalarSettings } from "./declarations";
import { IngressSettings, readIngress } from "./ingress";
import { MonitoringSettings, readMonitoring } from "./monitoring";
import { NetworkSettings, readNetwork } from "./network";
import { clusterNamePattern, PostgresBackupSettings, PostgresSettings, readPostgres, readPostgresBackup } from "./postgres";
import { ConfigSource, deepFreeze, dnsLabel, Reader, SettingsError, suggestion } from "./reader";
import { readRedis, RedisSettings } from "./redis";

/**
 * The stack's configuration, read once and validated as a whole. Components receive the typed,
 * read-only `Settings` as args and never read `pulumi.Config` themselves. One module per area
 * (api, postgres, redis, ingress, network, addons, autoscaling, monitoring, cluster) holds its types
 * and its reader; `declarations` lists every setting, `reader` reads raw values and collects problems.
 */

export * from "./addons";
export * from "./api";
export * from "./autoscaling";
export * from "./cluster";
export * from "./common";
export * from "./declarations";
export * from "./ingress";
export * from "./monitoring";
export * from "./network";
export * from "./postgres";
export { ConfigSource, SettingsError } from "./reader";
export * from "./redis";

export interface Settings {
    readonly project: string;
    readonly stack: string;
    readonly environment: Environment;
    readonly namespace: string;
    readonly cluster: ClusterSettings;
    /** Protect stateful resources from deletion and replacement, and keep them when removed from the program. */
    readonly protectData: boolean;
    /** Create the read-only previewer's ServiceAccount, Role and ClusterRole (components/previewerAccess.ts). */
    readonly previewerAccess: boolean;
    readonly api: ApiSettings;
    readonly postgres: PostgresSettings;
    /** What a change may remove with its data (a Cluster's name, or statefulset); undefined: nothing. */
    readonly release?: string;
    /** A change may delete the statefulset engine's protected backup volume. */
    readonly releaseBackupVolume: boolean;
    /** The major a statefulset-engine upgrade carries the data over from; undefined: none under way. */
    readonly upgradeFromMajor?: number;
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
    const postgres = readPostgres(r, environment, api);
    const postgresBackup = readPostgresBackup(r, environment, postgres.engine);
    const redis = readRedis(r, environment);
    const dataPriorityClassName = readDataPriorityClass(r);
    const ingress = readIngress(r, deployed);
    const network = readNetwork(r, ingress.exposure);
    const addons = readAddons(r, ingress);
    const tls = ingress.tls!;
    // This stack's own self-signed issuer is not ACME: it starts no solver pod.
    const acmeIssuer = tls.clusterIssuer !== undefined && tls.clusterIssuer !== addons.selfSignedIssuer;
    // cert-manager runs the solver pods beside the certificate: the Ingress's, or a Gateway the stack
    // creates in its namespace. A platform Gateway's certificate (and its solvers) live in that Gateway's namespace.
    const certificateHere = ingress.exposure === "ingress" || ingress.gateway?.className !== undefined;
    const http01Solvers = !!(ingress.enabled && tls.enabled && acmeIssuer && tls.acmeChallenge === "http01" && certificateHere);
    const monitoring = readMonitoring(r);
    const autoscaling = readAutoscaling(r, api, postgres, redis, monitoring);

    const releaseBackupVolume = r.boolean("postgresBackupVolumeRelease")!;
    const release = r.string("postgresRelease");
    if (release !== "" && release !== "statefulset" && !clusterNamePattern.test(release)) {
        r.problem("postgresRelease", release, "empty, statefulset (the migrated StatefulSet), or the name of a Cluster the stack lets go");
    }
    if (postgres.recovery && !postgresBackup?.objectStore) {
        r.problem("postgresRecoveryCluster", postgres.recovery.cluster, "empty on a stack without backups in object storage (postgresBackupS3Bucket): a recovery reads the source's base backups and WAL there");
    }
    const upgradeFromMajor = r.integer("postgresUpgradeFromMajor", 0, 99);

    for (const key of source.keys()) {
        if (key in retiredSettings) {
            r.problem(key, source.get(key) ?? "", retiredSettings[key], "is no longer a setting of this program");
        } else if (!(key in scalarSettings) && !(objectSettings as readonly string[]).includes(key)) {
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
        previewerAccess: r.boolean("previewerAccess")!,
        api: api as ApiSettings,
        postgres: postgres as PostgresSettings,
        postgresBackup,
        releaseBackupVolume,
        release: release || undefined,
        upgradeFromMajor: upgradeFromMajor || undefined,
        redis: redis as RedisSettings,
        dataPriorityClassName,
        ingress: { ...ingress, tls: { ...tls, http01Solvers } } as IngressSettings,
        network,
        addons,
        autoscaling,
        monitoring,
    });
}
