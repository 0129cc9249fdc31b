import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { MonitoringSettings } from "../config";
import { builtInOptions, checkArgs, customResourceOptions, NamespaceDeletion } from "../lib/args";
import { WorkloadEndpoints } from "../lib/endpoints";
import { objectLabels, partOf } from "../lib/labels";
import { apiMetrics, hpaMetrics, recordedMetrics } from "../lib/metrics";
import { names } from "../lib/names";

/**
 * Prometheus Operator objects: a metrics Service and a ServiceMonitor per workload that serves
 * metrics (API, and the PostgreSQL and Redis exporters when they run), PodMonitors for CloudNativePG's
 * instances and pooler (whose metrics the operator's instance manager and PgBouncer serve themselves),
 * and one PrometheusRule with the recording rules the HPA's custom metrics come from, plus the alerts a
 * clinic operator needs, PostgreSQL's by engine.
 * Also exports the prometheus-adapter rules that serve the HPA's metrics through custom.metrics.k8s.io.
 */

/** Marks the metrics Services, so a ServiceMonitor never also selects a workload's other Services. */
export const metricsServiceLabel = { "healthcare.example.com/metrics": "true" } as const;

/** The label the ServiceMonitors copy into `job`: app.kubernetes.io/name (healthcare-api, postgres, redis-cluster). */
const jobLabel = "app.kubernetes.io/name";
/**
 * The `job` of each scraped workload. The PodMonitors of CloudNativePG set it by relabeling (the
 * operator's pods carry none of this program's labels): PostgreSQL is `postgres` on either engine.
 */
export const jobs = { api: "healthcare-api", postgres: "postgres", postgresPooler: "postgres-pooler", redis: "redis-cluster" } as const;

/** The PodMonitors (cloudnative-pg engine): named after what they scrape, like the operator's docs do. */
export const podMonitorNames = { postgres: "postgres", postgresPooler: "postgres-pooler" } as const;

/** CloudNativePG's metrics (the operator's default queries, cnpg_<query>_<column>) and the Barman Cloud plugin's, that the rules read. */
export const cloudNativePgMetrics = {
    /** 1 while PostgreSQL runs on the instance (the instance manager's collector). */
    up: "cnpg_collector_up",
    /** 1 while the instance is fenced (PostgreSQL stopped on purpose: kubectl cnpg fencing). */
    fencingOn: "cnpg_collector_fencing_on",
    /** Backends per database, user, application and state (pg_stat_activity). */
    backends: "cnpg_backends_total",
    /** Numeric settings, by `name` (pg_settings). */
    settings: "cnpg_pg_settings_setting",
    /** Seconds a standby's replay is behind what it received; 0 on the primary and on a caught-up standby. */
    replicationLag: "cnpg_pg_replication_lag",
    /** 1 on a standby, 0 on the primary. */
    inRecovery: "cnpg_pg_replication_in_recovery",
    /** Rows of pg_stat_replication: the standbys streaming from this instance. */
    streamingReplicas: "cnpg_pg_replication_streaming_replicas",
    /** pg_stat_archiver's last failed and last archived WAL times (epoch seconds). */
    archiverLastFailedTime: "cnpg_pg_stat_archiver_last_failed_time",
    archiverLastArchivedTime: "cnpg_pg_stat_archiver_last_archived_time",
    /** The Barman Cloud plugin: the last base backup in the object store (epoch seconds; 0 while there is none). */
    lastAvailableBackup: "barman_cloud_cloudnative_pg_io_last_available_backup_timestamp",
} as const;

/** Alert thresholds. */
export const alertThresholds = {
    /** Share of API responses that are 5xx, over 5 minutes, sustained 10 minutes. */
    apiErrorRatio: 0.05,
    /** Share of PostgreSQL's usable connections in use, sustained 5 minutes. */
    dbConnectionPoolUsage: 0.85,
    /** Seconds a standby replays behind the primary (the operator's sample alert PGReplication), sustained 5 minutes. */
    postgresReplicationLagSeconds: 300,
    /** A base backup older than this many times the schedule's longest gap is missing. */
    backupGapFactor: 1.5,
    /** Share of a volume still free below which it is filling up (warning), and almost full (critical), sustained 5 minutes. */
    volumeAvailableWarning: 0.15,
    volumeAvailableCritical: 0.05,
    /** Share of a Redis node's maxmemory in use, sustained 10 minutes: at 1 it rejects writes (maxmemory-policy noeviction). */
    redisMemoryUsage: 0.9,
    /** Days before the TLS certificate expires: cert-manager renews a 90-day certificate 30 days ahead, so 14 days left means renewal has failed for two weeks. */
    certificateDaysLeft: 14,
} as const;

/** The exporters' and the platform's metrics the new alerts read, so a rename happens in one place. */
export const platformMetrics = {
    /** redis_exporter: used_memory and maxmemory of INFO (bytes); maxmemory 0 means no limit. */
    redisMemoryUsed: "redis_memory_used_bytes",
    redisMemoryMax: "redis_memory_max_bytes",
    /** redis_exporter: keys evicted (INFO evicted_keys), and errors by type (INFO errorstats; `err="OOM"`: writes refused at maxmemory). */
    redisEvictedKeys: "redis_evicted_keys_total",
    redisErrors: "redis_errors_total",
    /** redis_exporter: 1 while the node's cluster_state is ok. */
    redisClusterState: "redis_cluster_state",
    /** redis_exporter, CLUSTER INFO: slots served (cluster_slots_ok) and nodes known (cluster_known_nodes). */
    redisClusterSlotsOk: "redis_cluster_slots_ok",
    redisClusterKnownNodes: "redis_cluster_known_nodes",
    /** redis_exporter, INFO replication: connected replicas of a master, and the node's role (redis_instance_info{role}). */
    redisConnectedReplicas: "redis_connected_slaves",
    redisInstanceInfo: "redis_instance_info",
    /** postgres_exporter: 1 while it can query the server. */
    postgresUp: "pg_up",
    /** kubelet (kube-prometheus-stack's kubelet ServiceMonitor): a mounted PVC's bytes, labelled namespace and persistentvolumeclaim. */
    volumeAvailable: "kubelet_volume_stats_available_bytes",
    volumeCapacity: "kubelet_volume_stats_capacity_bytes",
    /** cert-manager's controller: a Certificate's notAfter (epoch seconds), labelled name and namespace (exported_namespace once scraped through a ServiceMonitor without honorLabels). */
    certificateExpiration: "certmanager_certificate_expiration_timestamp_seconds",
} as const;

export interface RecordingRule {
    record: string;
    expr: string;
}

export interface AlertingRule {
    alert: string;
    expr: string;
    for: string;
    labels: { severity: "warning" | "critical" };
    /** `runbook_url`: the alert's section of docs/runbooks.md (what it means, how to confirm it, what to do, how to know it is over). */
    annotations: { summary: string; description: string; runbook_url: string };
}

/** An alert before its runbook link is added (every one gets it, in `alertingRules`). */
type DraftAlert = Omit<AlertingRule, "annotations"> & { annotations: Omit<AlertingRule["annotations"], "runbook_url"> };

/** Where docs/runbooks.md is read unless the stack says otherwise (setting monitoringRunbookUrl): the repository-relative path. */
export const defaultRunbookUrl = "docs/runbooks.md";

/** The anchor of an alert's section in docs/runbooks.md: its heading is the alert's name, and GitHub's anchor of it is the name in lower case. */
export function runbookAnchor(alert: string): string {
    return alert.toLowerCase();
}

/** What PostgreSQL's rules may rely on, by engine. */
export type PostgresRuleSource =
    | {
          engine: "statefulset";
          /** The backup CronJob (kube-state-metrics reports its last success) and the longest gap its schedule leaves, in seconds. */
          backup?: { cronJob: string; longestGapSeconds: number };
      }
    | {
          engine: "cloudnative-pg";
          /** The Cluster's instances: with more than one, standbys replicate from the primary. */
          instances: number;
          /** Base backups and WAL go to object storage (Barman Cloud plugin); the longest gap the ScheduledBackup's schedule leaves, in seconds. */
          backup?: { longestGapSeconds: number };
      };

/** Which sources the rules may rely on. */
export interface RuleSources {
    /** Namespace of the stack's workloads (every expression is scoped to it). */
    namespace: string;
    /** The exporter sidecars run: Redis's, and PostgreSQL's on the statefulset engine (CloudNativePG's instances export their own metrics). */
    exporters: boolean;
    /** PostgreSQL's engine and what it runs. */
    postgres: PostgresRuleSource;
    /** The API's HPA exists (with this name and kube-state-metrics reporting it). */
    apiHpa?: string;
    /** The Redis Cluster's desired shape: how many nodes every node should know, and whether masters have replicas. */
    redisTopology?: RedisTopology;
    /** Where docs/runbooks.md is read (default `defaultRunbookUrl`): each alert links to its section there. */
    runbookUrl?: string;
    /** The PVCs whose filling the volume alerts watch (kubelet's volume stats); none: no volume alert. */
    volumes?: readonly MonitoredVolume[];
    /** The cert-manager Certificate that serves the API's TLS (the expiry alert); undefined: none is watched. */
    certificate?: { namespace: string; name: string };
}

/** A Redis Cluster's desired shape, from the stack's settings. */
export interface RedisTopology {
    /** Nodes (redisNodes). */
    nodes: number;
    /** Replicas per master (redisReplicasPerMaster). */
    replicasPerMaster: number;
}

/** Volumes of a kind, by the names of their PVCs. */
export interface MonitoredVolume {
    /** What the volumes hold (the alert's description names it): data, WAL or backups of a store. */
    holds: "postgres-data" | "postgres-wal" | "postgres-backups" | "redis-data";
    /** RE2 pattern of their PVC names (Prometheus anchors it), e.g. data-postgres-[0-9]+. */
    claims: string;
}

/** Seconds after which a backup counts as missing: 1.5 times the schedule's longest gap. */
export function backupMaxAgeSeconds(longestGapSeconds: number): number {
    return Math.round(longestGapSeconds * alertThresholds.backupGapFactor);
}

/** `db_connection_pool_usage` from the engine's metrics; undefined where nothing reports connections (statefulset without the exporter). */
function connectionUsage(sources: RuleSources): string | undefined {
    const postgres = `namespace="${sources.namespace}", job="${jobs.postgres}"`;
    if (sources.postgres.engine === "cloudnative-pg") {
        // Per instance, the backends over the connections clients may open (superusers keep a reserve);
        // the fullest instance counts (the primary, which serves the pooler).
        const m = cloudNativePgMetrics;
        const setting = (name: string) => `max by (namespace, pod) (${m.settings}{${postgres}, name="${name}"})`;
        return (
            `max by (namespace) (sum by (namespace, pod) (${m.backends}{${postgres}}) / on (namespace, pod) ` +
            `(${setting("max_connections")} - ${setting("superuser_reserved_connections")}))`
        );
    }
    return sources.exporters
        ? // Connections in use over the connections clients may open (superusers keep a reserve).
          `sum by (namespace) (pg_stat_activity_count{${postgres}}) / on (namespace) ` +
              `max by (namespace) (pg_settings_max_connections{${postgres}} - pg_settings_superuser_reserved_connections{${postgres}})`
        : undefined;
}

/** The recording rules: the HPA's two per-pod metrics, and the two dashboard metrics. */
export function recordingRules(sources: RuleSources): RecordingRule[] {
    const api = `namespace="${sources.namespace}", job="${jobs.api}"`;
    const usage = connectionUsage(sources);
    return [
        // Per pod, with namespace and pod labels: what an HPA Pods metric reads through the adapter.
        { record: hpaMetrics.requestsPerSecond, expr: `sum by (namespace, pod) (rate(${apiMetrics.requests}{${api}}[2m]))` },
        // Every pod reports the cluster-wide count: give each pod its share, so that the HPA's average
        // over pods is count / pods and its proposal ceil(count / 500) whatever the pod count.
        {
            record: hpaMetrics.activeAppointments,
            expr:
                `sum by (namespace, pod) (${apiMetrics.activeAppointments}{${api}}) / on (namespace) group_left ` +
                `count by (namespace) (${apiMetrics.activeAppointments}{${api}})`,
        },
        // Every pod reports the shared queues: take one value per queue, not the sum.
        { record: recordedMetrics.queueDepth, expr: `max by (namespace, queue) (${apiMetrics.queueDepth}{${api}})` },
        ...(usage ? [{ record: recordedMetrics.dbConnectionPoolUsage, expr: usage }] : []),
    ];
}

/** The alerts: API error rate, API dependencies down, API at its replica ceiling, PostgreSQL's by engine (`postgresAlerts`), Redis's (`redisAlerts`). */
export function alertingRules(sources: RuleSources): AlertingRule[] {
    const page = sources.runbookUrl ?? defaultRunbookUrl;
    return draftAlerts(sources).map((rule) => ({ ...rule, annotations: { ...rule.annotations, runbook_url: `${page}#${runbookAnchor(rule.alert)}` } }));
}

function draftAlerts(sources: RuleSources): DraftAlert[] {
    const ns = `namespace="${sources.namespace}"`;
    const api = `${ns}, job="${jobs.api}"`;
    const rules: DraftAlert[] = [
        {
            alert: "HealthcareApiHighErrorRate",
            expr:
                `sum by (namespace) (rate(${apiMetrics.requests}{${api}, code=~"5.."}[5m])) / ` +
                `sum by (namespace) (rate(${apiMetrics.requests}{${api}}[5m])) > ${alertThresholds.apiErrorRatio}`,
            for: "10m",
            labels: { severity: "critical" },
            annotations: {
                summary: "The healthcare API answers more than 5% of requests with a server error",
                description: "{{ $value | humanizePercentage }} of API requests in {{ $labels.namespace }} failed with 5xx over the last 5 minutes.",
            },
        },
        // Readiness leaves dependencies out (a database restart must not empty the Service): these say it instead.
        {
            alert: "HealthcareApiDependencyDown",
            expr: `max by (namespace, dependency) (${apiMetrics.dependencyUp}{${api}}) < 1`,
            for: "2m",
            labels: { severity: "critical" },
            annotations: {
                summary: "No API pod reaches one of its dependencies",
                description: "No API pod in {{ $labels.namespace }} has reached {{ $labels.dependency }} for 2 minutes: requests that need it fail.",
            },
        },
        {
            alert: "HealthcareApiPodDependencyDown",
            expr:
                `(min by (namespace, pod, dependency) (${apiMetrics.dependencyUp}{${api}}) < 1) unless on (namespace, dependency) ` +
                `(max by (namespace, dependency) (${apiMetrics.dependencyUp}{${api}}) < 1)`,
            for: "10m",
            labels: { severity: "warning" },
            annotations: {
                summary: "An API pod cannot reach a dependency the other pods reach",
                description: "API pod {{ $labels.pod }} in {{ $labels.namespace }} has not reached {{ $labels.dependency }} for 10 minutes while others do: check its node, DNS and NetworkPolicies, or delete the pod.",
            },
        },
    ];
    rules.push({
        // Nothing scraped means every API alert and the HPA's custom metrics go silent at once.
        alert: "HealthcareApiTargetMissing",
        expr: `absent(up{${api}}) or max by (namespace, job) (up{${api}}) < 1`,
        for: "5m",
        labels: { severity: "critical" },
        annotations: {
            summary: "Prometheus scrapes no API pod",
            description:
                "No API pod's metrics in {{ $labels.namespace }} have been scraped for 5 minutes: the API's alerts cannot fire and the HPA has no custom metrics; " +
                "check the pods, the ServiceMonitor healthcare-api and Prometheus' targets page.",
        },
    });
    if (sources.apiHpa) {
        const hpa = `${ns}, horizontalpodautoscaler="${sources.apiHpa}"`;
        rules.push({
            alert: "HealthcareApiAtMaxReplicas",
            expr: `kube_horizontalpodautoscaler_status_current_replicas{${hpa}} >= kube_horizontalpodautoscaler_spec_max_replicas{${hpa}}`,
            for: "15m",
            labels: { severity: "warning" },
            annotations: {
                summary: "The API has run at its maximum replica count for 15 minutes",
                description: "HPA {{ $labels.horizontalpodautoscaler }} in {{ $labels.namespace }} cannot add pods: raise apiMaxReplicas or find the load.",
            },
        });
    }
    rules.push(...postgresAlerts(sources));
    if (sources.exporters) {
        rules.push(...redisAlerts(sources));
    }
    rules.push(...volumeAlerts(sources), ...certificateAlerts(sources));
    return rules;
}

/**
 * Redis Cluster's alerts, from the exporter sidecars (CLUSTER INFO and INFO replication of every
 * node): the cluster not ok, slots not served, a node count other than the desired one (a node that
 * came back empty after losing its volume, or a failed one the cluster still lists), a master
 * without a replica (a replica short: the next failure of that master loses its slots), memory near
 * maxmemory, and writes refused or keys evicted.
 */
function redisAlerts(sources: RuleSources): DraftAlert[] {
    const redis = `namespace="${sources.namespace}", job="${jobs.redis}"`;
    const r = platformMetrics;
    const topology = sources.redisTopology;
    const rules: DraftAlert[] = [
        {
            alert: "HealthcareRedisClusterNotOk",
            expr: `min by (namespace) (${r.redisClusterState}{${redis}}) < 1`,
            for: "2m",
            labels: { severity: "critical" },
            annotations: {
                summary: "A Redis Cluster node reports cluster_state fail",
                description: "Some slots of the Redis Cluster in {{ $labels.namespace }} are unserved: check CLUSTER INFO and the maintenance Jobs.",
            },
        },
        {
            // Slots no node serves: unassigned, or on a node in PFAIL/FAIL for longer than a roll's pause.
            alert: "HealthcareRedisSlotsNotServed",
            expr: `min by (namespace) (${r.redisClusterSlotsOk}{${redis}}) < 16384`,
            for: "5m",
            labels: { severity: "critical" },
            annotations: {
                summary: "Redis Cluster slots are unassigned or on a failing node",
                description: "A node of the Redis Cluster in {{ $labels.namespace }} sees {{ $value }} of 16384 slots served: run the reconcile Job, or reassign the slots of a lost master.",
            },
        },
    ];
    if (topology && topology.nodes > 1) {
        rules.push({
            alert: "HealthcareRedisNodeCountWrong",
            expr: `count by (namespace) (${r.redisClusterKnownNodes}{${redis}} != ${topology.nodes}) > 0`,
            for: "15m",
            labels: { severity: "warning" },
            annotations: {
                summary: `A Redis Cluster node does not know exactly ${topology.nodes} nodes`,
                description:
                    "In {{ $labels.namespace }}, {{ $value }} node(s) know another number of nodes than the StatefulSet has: a node that came back empty (a lost volume) and was not joined, or a failed node still listed. The reconcile Job joins new nodes; forget a failed one with CLUSTER FORGET.",
            },
        });
    }
    if (topology && topology.replicasPerMaster > 0) {
        rules.push({
            // A master with no connected replica (an empty node is one too, until the reconcile Job joins it).
            alert: "HealthcareRedisMasterWithoutReplica",
            expr: `(${r.redisConnectedReplicas}{${redis}} == 0) and on (namespace, pod) (${r.redisInstanceInfo}{${redis}, role="master"})`,
            for: "10m",
            labels: { severity: "warning" },
            annotations: {
                summary: "A Redis master has no replica",
                description: "{{ $labels.pod }} in {{ $labels.namespace }} is a master without a connected replica: its next failure loses its slots. Run the reconcile Job (it gives every master its replicas).",
            },
        });
    }
    rules.push(
        {
            // maxmemory 0 (no limit) is left out rather than divided by.
            alert: "HealthcareRedisMemoryNearMax",
            expr: `max by (namespace, pod) (${r.redisMemoryUsed}{${redis}} / (${r.redisMemoryMax}{${redis}} > 0)) > ${alertThresholds.redisMemoryUsage}`,
            for: "10m",
            labels: { severity: "warning" },
            annotations: {
                summary: "A Redis node is close to its maxmemory",
                description:
                    "Redis node {{ $labels.pod }} in {{ $labels.namespace }} uses {{ $value | humanizePercentage }} of its maxmemory: at 100% it refuses writes (maxmemory-policy noeviction).",
            },
        },
        {
            // noeviction: a full node refuses writes with OOM; an eviction means someone changed the policy and keys are being lost.
            alert: "HealthcareRedisWritesRejected",
            expr:
                `sum by (namespace, pod) (increase(${r.redisErrors}{${redis}, err="OOM"}[5m])) > 0 or ` +
                `sum by (namespace, pod) (increase(${r.redisEvictedKeys}{${redis}}[5m])) > 0`,
            for: "1m",
            labels: { severity: "critical" },
            annotations: {
                summary: "A Redis node refuses writes at maxmemory, or evicts keys",
                description:
                    "Redis node {{ $labels.pod }} in {{ $labels.namespace }} answered OOM to writes or evicted keys in the last 5 minutes: the API's writes to it fail, or cached data is lost.",
            },
        },
    );
    return rules;
}

/** A volume filling up (warning) and almost full (critical), from kubelet's volume stats of the stack's PVCs. */
function volumeAlerts(sources: RuleSources): DraftAlert[] {
    if (!sources.volumes?.length) {
        return [];
    }
    const claims = [...new Set(sources.volumes.map((v) => v.claims))].join("|");
    const sel = `namespace="${sources.namespace}", persistentvolumeclaim=~"${claims}"`;
    const m = platformMetrics;
    const available = `max by (namespace, persistentvolumeclaim) (${m.volumeAvailable}{${sel}} / ${m.volumeCapacity}{${sel}})`;
    const holds = sources.volumes.map((v) => v.holds).join(", ");
    const alert = (name: string, threshold: number, severity: "warning" | "critical", summary: string): DraftAlert => ({
        alert: name,
        expr: `${available} < ${threshold}`,
        for: "5m",
        labels: { severity },
        annotations: {
            summary,
            description: `PVC {{ $labels.persistentvolumeclaim }} in {{ $labels.namespace }} has {{ $value | humanizePercentage }} of its space left (the stack's volumes: ${holds}).`,
        },
    });
    return [
        alert("HealthcareVolumeFillingUp", alertThresholds.volumeAvailableWarning, "warning", "A data, WAL or backup volume has less than 15% of its space left"),
        alert("HealthcareVolumeAlmostFull", alertThresholds.volumeAvailableCritical, "critical", "A data, WAL or backup volume has less than 5% of its space left"),
    ];
}

/** The API's TLS certificate (cert-manager's) close to its expiry: renewal has been failing. */
function certificateAlerts(sources: RuleSources): DraftAlert[] {
    const cert = sources.certificate;
    if (!cert) {
        return [];
    }
    const m = platformMetrics.certificateExpiration;
    // cert-manager's own namespace label becomes exported_namespace when its ServiceMonitor does not honor labels (its chart's default).
    const expiry =
        `min by (name) (${m}{exported_namespace="${cert.namespace}", name="${cert.name}"} or ` + `${m}{namespace="${cert.namespace}", name="${cert.name}"})`;
    return [
        {
            alert: "HealthcareTlsCertificateExpiring",
            expr: `${expiry} - time() < ${alertThresholds.certificateDaysLeft * 86400}`,
            for: "60m",
            labels: { severity: "warning" },
            annotations: {
                summary: `The API's TLS certificate expires in less than ${alertThresholds.certificateDaysLeft} days`,
                description: `Certificate ${cert.namespace}/${cert.name} expires in {{ $value | humanizeDuration }}: cert-manager has not renewed it; check kubectl describe certificate -n ${cert.namespace} ${cert.name} and its CertificateRequests.`,
            },
        },
    ];
}

/** PostgreSQL's alerts, from what its engine reports: the exporter and the backup CronJob, or the operator's instance managers and the Barman Cloud plugin. */
function postgresAlerts(sources: RuleSources): DraftAlert[] {
    const ns = `namespace="${sources.namespace}"`;
    const rules: DraftAlert[] = [];
    const connections: DraftAlert = {
        alert: "HealthcareDatabaseConnectionsNearExhaustion",
        expr: `${recordedMetrics.dbConnectionPoolUsage}{${ns}} > ${alertThresholds.dbConnectionPoolUsage}`,
        for: "5m",
        labels: { severity: "warning" },
        annotations: {
            summary: "PostgreSQL is close to refusing new connections",
            description: "{{ $value | humanizePercentage }} of PostgreSQL's usable connections in {{ $labels.namespace }} are in use.",
        },
    };
    const pg = sources.postgres;
    if (pg.engine === "statefulset") {
        if (pg.backup) {
            // kube-state-metrics reports the CronJob's status.lastSuccessfulTime; a CronJob that never
            // succeeded has no such series, so its creation time stands in for it.
            const cronJob = `${ns}, cronjob="${pg.backup.cronJob}"`;
            const maxAge = backupMaxAgeSeconds(pg.backup.longestGapSeconds);
            rules.push({
                alert: "PostgresBackupMissing",
                expr:
                    `time() - max by (namespace, cronjob) (kube_cronjob_status_last_successful_time{${cronJob}}) > ${maxAge} or ` +
                    `(time() - max by (namespace, cronjob) (kube_cronjob_created{${cronJob}}) > ${maxAge} ` +
                    `unless on (namespace, cronjob) kube_cronjob_status_last_successful_time{${cronJob}})`,
                for: "5m",
                labels: { severity: "critical" },
                annotations: {
                    summary: "No successful PostgreSQL backup for 1.5 times the backup schedule's interval",
                    description:
                        `The last successful run of CronJob {{ $labels.cronjob }} in {{ $labels.namespace }} is more than ${maxAge} s ago: ` +
                        "check the failed Jobs' logs (kubectl logs job/<name> --all-containers), then npm run ops -- backup.",
                },
            });
        }
        if (sources.exporters) {
            const sel = `${ns}, job="${jobs.postgres}"`;
            rules.push(connections, {
                alert: "HealthcarePostgresDown",
                // The exporter cannot query the server, the exporter's scrape fails (the pod is gone), or nothing is scraped.
                expr:
                    `max by (namespace, pod) (${platformMetrics.postgresUp}{${sel}}) < 1 ` +
                    `or max by (namespace, pod) (up{${sel}}) < 1 or absent(up{${sel}})`,
                for: "2m",
                labels: { severity: "critical" },
                annotations: {
                    summary: "PostgreSQL is down or not scraped",
                    description:
                        "PostgreSQL on {{ $labels.pod }} in {{ $labels.namespace }} does not answer its exporter, the exporter's scrape fails, or Prometheus scrapes no PostgreSQL at all (no pod label): " +
                        "check the pod postgres-0, its events and its logs.",
                },
            });
        }
        return rules;
    }

    // cloudnative-pg: every series comes from the instances' PodMonitor (job postgres).
    const m = cloudNativePgMetrics;
    const sel = `${ns}, job="${jobs.postgres}"`;
    const primary = `on (namespace, pod) (max by (namespace, pod) (${m.inRecovery}{${sel}}) == 0)`;
    const standbys = pg.instances > 1;
    if (pg.backup) {
        // The plugin reports the ObjectStore's last successful base backup on every instance (0 while
        // there is none yet); no instance reporting it means nobody watches the backups.
        const maxAge = backupMaxAgeSeconds(pg.backup.longestGapSeconds);
        rules.push({
            alert: "PostgresBackupMissing",
            expr: `time() - max by (namespace) (${m.lastAvailableBackup}{${sel}}) > ${maxAge} or absent(${m.lastAvailableBackup}{${sel}})`,
            for: "5m",
            labels: { severity: "critical" },
            annotations: {
                summary: "No PostgreSQL base backup in object storage for 1.5 times the backup schedule's interval",
                description:
                    `The newest base backup of Cluster postgres in {{ $labels.namespace }} is more than ${maxAge} s old, or no instance reports one: ` +
                    "check the Backup objects (kubectl get backups.postgresql.cnpg.io), the ObjectStore's status and the plugin-barman-cloud container's logs.",
            },
        });
    }
    rules.push(connections, {
        alert: "HealthcarePostgresDown",
        // PostgreSQL stopped on a scraped instance (a fenced one aside: its own alert says so), an
        // instance manager that does not answer its scrape, or no instance scraped at all.
        expr:
            `(max by (namespace, pod) (${m.up}{${sel}}) < 1 unless on (namespace, pod) (${m.fencingOn}{${sel}} == 1)) ` +
            `or max by (namespace, pod) (up{${sel}}) < 1 or absent(up{${sel}})`,
        for: "2m",
        labels: { severity: "critical" },
        annotations: {
            summary: "A PostgreSQL instance is down or not scraped",
            description:
                "PostgreSQL on {{ $labels.pod }} in {{ $labels.namespace }} is down, its metrics do not answer, or Prometheus scrapes no instance at all (no pod label): " +
                "check kubectl cnpg status postgres, the pods' events and the PodMonitor postgres.",
        },
    });
    if (standbys) {
        rules.push(
            {
                alert: "HealthcarePostgresInstanceMissing",
                expr: `count by (namespace) (up{${sel}}) < ${pg.instances}`,
                for: "10m",
                labels: { severity: "warning" },
                annotations: {
                    summary: `Fewer than the Cluster's ${pg.instances} PostgreSQL instances are running`,
                    description: `Only {{ $value }} of ${pg.instances} instances in {{ $labels.namespace }} are scraped: a standby is missing (pending, or its node is gone); check kubectl cnpg status postgres.`,
                },
            },
            {
                alert: "HealthcarePostgresReplicationLag",
                expr: `max by (namespace, pod) (${m.replicationLag}{${sel}}) > ${alertThresholds.postgresReplicationLagSeconds}`,
                for: "5m",
                labels: { severity: "warning" },
                annotations: {
                    summary: "A PostgreSQL standby replays far behind the primary",
                    description: "Standby {{ $labels.pod }} in {{ $labels.namespace }} is {{ $value | humanizeDuration }} behind: a failover to it would wait for the replay.",
                },
            },
            {
                // The primary's commits wait for one standby (synchronous, dataDurability required): none streaming stalls every write.
                alert: "HealthcarePostgresNoStreamingStandby",
                expr: `max by (namespace, pod) (${m.streamingReplicas}{${sel}}) < 1 and ${primary}`,
                for: "5m",
                labels: { severity: "critical" },
                annotations: {
                    summary: "No standby streams from the PostgreSQL primary",
                    description:
                        "Primary {{ $labels.pod }} in {{ $labels.namespace }} has no streaming standby: writes wait for a synchronous standby and no failover target is current; " +
                        "check the standbys (kubectl cnpg status postgres).",
                },
            },
        );
    }
    if (pg.backup) {
        rules.push({
            // The operator's sample alert LastFailedArchiveTime: the primary's last WAL archive attempt failed.
            alert: "HealthcarePostgresWalArchivingFailing",
            expr:
                `(${m.archiverLastFailedTime}{${sel}} - ${m.archiverLastArchivedTime}{${sel}}) > 1 ` +
                `and on (namespace, pod) ${m.inRecovery}{${sel}} == 0`,
            for: "5m",
            labels: { severity: "critical" },
            annotations: {
                summary: "PostgreSQL cannot archive WAL to object storage",
                description:
                    "The primary {{ $labels.pod }} in {{ $labels.namespace }} fails to archive WAL: point-in-time recovery stops at the last archived segment and WAL piles up on its volume; " +
                    "check the plugin-barman-cloud container's logs, the bucket and its credentials Secret.",
            },
        });
    }
    rules.push({
        alert: "HealthcarePostgresFenced",
        expr: `max by (namespace, pod) (${m.fencingOn}{${sel}}) == 1`,
        for: "5m",
        labels: { severity: "warning" },
        annotations: {
            summary: "A PostgreSQL instance is fenced",
            description: "{{ $labels.pod }} in {{ $labels.namespace }} is fenced (PostgreSQL stopped, no failover for it) until kubectl cnpg fencing off postgres {{ $labels.pod }}.",
        },
    });
    return rules;
}

/** One rule of prometheus-adapter (`rules.custom[]` in its Helm chart values). */
export interface PrometheusAdapterRule {
    readonly seriesQuery: string;
    readonly seriesFilters?: ReadonlyArray<Record<string, string>>;
    readonly resources: { readonly overrides?: Record<string, { resource: string }>; readonly template?: string };
    readonly name: { readonly matches?: string; readonly as?: string };
    readonly metricsQuery: string;
}

/**
 * The prometheus-adapter rules that serve the HPA's two metrics through custom.metrics.k8s.io: each
 * recorded per-pod series, as a pod metric of the same name.
 */
export function prometheusAdapterRules(): PrometheusAdapterRule[] {
    return [hpaMetrics.requestsPerSecond, hpaMetrics.activeAppointments].map((metric) => ({
        seriesQuery: `${metric}{namespace!="",pod!=""}`,
        resources: { overrides: { namespace: { resource: "namespace" }, pod: { resource: "pod" } } },
        name: { matches: `^${metric}$`, as: metric },
        metricsQuery: "sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)",
    }));
}

/** PostgreSQL as the monitors and rules see it, by engine. */
export type MonitoredPostgres =
    | {
          engine: "statefulset";
          /** The server pod; its metrics port exists when the exporter runs. */
          servers: WorkloadEndpoints;
          /** The backup CronJob and its schedule's longest gap in seconds, when backups run (for the missing-backup alert). */
          backup?: { cronJob: pulumi.Output<string>; longestGapSeconds: number };
      }
    | {
          engine: "cloudnative-pg";
          /** The Cluster's instance pods and the instance manager's metrics port. */
          servers: WorkloadEndpoints;
          /** The Pooler's pods and PgBouncer's metrics port, when the API goes through a pooler. */
          pooler?: WorkloadEndpoints;
          /** The Cluster's instances (with more than one: the standby and replication alerts). */
          instances: number;
          /** The ScheduledBackup's schedule's longest gap in seconds, when base backups and WAL go to object storage. */
          backup?: { longestGapSeconds: number };
      };

/** Args of the monitoring objects. */
export interface MonitoringArgs {
    /** Namespace to deploy into (the namespace component's output, so objects wait for it). */
    namespace: pulumi.Output<string>;
    /** How its objects go when a run deletes the namespace too (NamespaceDeletion); undefined: each on its own. */
    deletion?: NamespaceDeletion;
    /** Selector labels and exporters from the stack config. */
    settings: MonitoringSettings;
    /** The API pods and their metrics port. */
    api: WorkloadEndpoints;
    /** PostgreSQL: its engine, pods and metrics ports, and its backups. */
    postgres: MonitoredPostgres;
    /** The Redis pods; their metrics port exists when the exporter runs. */
    redis: WorkloadEndpoints;
    /** The Redis Cluster's desired shape, for its node-count and replica alerts. */
    redisTopology: RedisTopology;
    /** Name of the API's HPA, when there is one (for the at-max alert). */
    apiHpa?: string;
    /** The PVCs of the data stores and backups, by what they hold (the volume alerts). */
    volumes: MonitoredVolume[];
    /** The cert-manager Certificate of the API's TLS, when one is known (the expiry alert). */
    certificate?: { namespace: string; name: string };
    /** What installs the Prometheus Operator CRDs when this stack installs them (cluster add-ons): the monitors and rules wait for it. */
    crdInstallers?: pulumi.Resource[];
}

/**
 * ServiceMonitors for every metrics port (PodMonitors for CloudNativePG's pods), and the PrometheusRule.
 * Needs the Prometheus Operator CRDs.
 */
export class Monitoring extends pulumi.ComponentResource {
    constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
        super("healthcare:monitoring:Monitoring", name, {}, opts);
        const pg = args.postgres;
        checkArgs("Monitoring", name, [
            args.api.metrics.length === 0 && "api.metrics is empty: the API must serve metrics for the HPA's custom metrics",
            pg.engine === "statefulset" &&
                !!args.settings.exporters !== (pg.servers.metrics.length > 0) &&
                "postgres.servers.metrics must list the exporter's port exactly when exporters run",
            pg.engine === "cloudnative-pg" && pg.servers.metrics.length === 0 && "postgres.servers.metrics is empty: the instance manager serves the metrics the rules read",
            pg.engine === "cloudnative-pg" && pg.pooler?.metrics.length === 0 && "postgres.pooler.metrics is empty: PgBouncer's metrics port is scraped",
            pg.engine === "cloudnative-pg" && !(Number.isInteger(pg.instances) && pg.instances >= 1) && `postgres.instances ${pg.instances} is not a whole number >= 1`,
            !!args.settings.exporters !== (args.redis.metrics.length > 0) && "redis.metrics must list the exporter's port exactly when exporters run",
            // The patterns go into a PromQL string: a quote or backslash would break the rule.
            ...args.volumes.map((v) => !/^[A-Za-z0-9.[\]+*?()|-]+$/.test(v.claims) && `volumes: the PVC pattern ${JSON.stringify(v.claims)} of ${v.holds} is empty or has characters a PVC name pattern does not need`),
        ]);
        const n = names.monitoring;
        const selectedBy = args.settings.selectorLabels;

        const monitor = (serviceName: string, monitorName: string, endpoints: WorkloadEndpoints, interval: string) => {
            const labels = { ...objectLabels(endpoints.podSelector), ...metricsServiceLabel };
            // Headless: Prometheus scrapes each pod through the endpoints anyway.
            new k8s.core.v1.Service(
                serviceName,
                {
                    metadata: { name: serviceName, namespace: args.namespace, labels },
                    spec: {
                        clusterIP: "None",
                        selector: endpoints.podSelector,
                        ports: endpoints.metrics.map((p) => ({ name: p.name, port: p.port, targetPort: p.name, protocol: p.protocol })),
                    },
                },
                builtInOptions(this, args.deletion),
            );
            new k8s.apiextensions.CustomResource(
                monitorName,
                {
                    apiVersion: "monitoring.coreos.com/v1",
                    kind: "ServiceMonitor",
                    metadata: { name: monitorName, namespace: args.namespace, labels: { ...objectLabels(endpoints.podSelector), ...selectedBy } },
                    spec: {
                        jobLabel,
                        selector: { matchLabels: { ...endpoints.podSelector, ...metricsServiceLabel } },
                        namespaceSelector: { matchNames: [args.namespace] },
                        endpoints: endpoints.metrics.map((p) => ({ port: p.name, path: "/metrics", interval, scrapeTimeout: "10s" })),
                    },
                },
                { ...customResourceOptions(this, args.deletion), dependsOn: args.crdInstallers },
            );
        };
        // The operator's pods carry its labels, not this program's: select them by those, and set `job` by relabeling.
        const podMonitor = (monitorName: string, job: string, endpoints: WorkloadEndpoints, interval: string) =>
            new k8s.apiextensions.CustomResource(
                monitorName,
                {
                    apiVersion: "monitoring.coreos.com/v1",
                    kind: "PodMonitor",
                    metadata: {
                        name: monitorName,
                        namespace: args.namespace,
                        labels: { "app.kubernetes.io/name": job, "app.kubernetes.io/part-of": partOf, "app.kubernetes.io/managed-by": "pulumi", ...selectedBy },
                    },
                    spec: {
                        selector: { matchLabels: endpoints.podSelector },
                        namespaceSelector: { matchNames: [args.namespace] },
                        podMetricsEndpoints: endpoints.metrics.map((p) => ({
                            port: p.name,
                            path: "/metrics",
                            interval,
                            scrapeTimeout: "10s",
                            relabelings: [{ action: "replace", targetLabel: "job", replacement: job }],
                        })),
                    },
                },
                { ...customResourceOptions(this, args.deletion), dependsOn: args.crdInstallers },
            );
        // The API every 15 s: the HPA's rates should follow load within a minute.
        monitor(n.apiMetricsService, n.apiServiceMonitor, args.api, "15s");
        if (pg.engine === "cloudnative-pg") {
            // The instance manager serves the metrics on every instance, exporters or not; PgBouncer on every pooler pod.
            podMonitor(podMonitorNames.postgres, jobs.postgres, pg.servers, "30s");
            if (pg.pooler) {
                podMonitor(podMonitorNames.postgresPooler, jobs.postgresPooler, pg.pooler, "30s");
            }
        } else if (args.settings.exporters) {
            monitor(n.postgresMetricsService, n.postgresServiceMonitor, pg.servers, "30s");
        }
        if (args.settings.exporters) {
            monitor(n.redisMetricsService, n.redisServiceMonitor, args.redis, "30s");
        }

        const cronJob = pg.engine === "statefulset" ? pg.backup?.cronJob : undefined;
        const sources = pulumi.all([args.namespace, cronJob]).apply(
            ([namespace, cronJobName]): RuleSources => ({
                namespace,
                exporters: !!args.settings.exporters,
                apiHpa: args.apiHpa,
                redisTopology: args.redisTopology,
                runbookUrl: args.settings.runbookUrl,
                volumes: args.volumes,
                certificate: args.certificate,
                postgres:
                    pg.engine === "cloudnative-pg"
                        ? { engine: pg.engine, instances: pg.instances, backup: pg.backup && { longestGapSeconds: pg.backup.longestGapSeconds } }
                        : { engine: pg.engine, backup: pg.backup && cronJobName ? { cronJob: cronJobName, longestGapSeconds: pg.backup.longestGapSeconds } : undefined },
            }),
        );
        new k8s.apiextensions.CustomResource(
            n.prometheusRule,
            {
                apiVersion: "monitoring.coreos.com/v1",
                kind: "PrometheusRule",
                metadata: {
                    name: n.prometheusRule,
                    namespace: args.namespace,
                    labels: { "app.kubernetes.io/part-of": partOf, "app.kubernetes.io/managed-by": "pulumi", ...selectedBy },
                },
                spec: {
                    groups: [
                        { name: "healthcare-backend.recording", interval: "15s", rules: sources.apply(recordingRules) },
                        { name: "healthcare-backend.alerts", rules: sources.apply(alertingRules) },
                    ],
                },
            },
            { ...customResourceOptions(this, args.deletion), dependsOn: args.crdInstallers },
        );

        this.registerOutputs({});
    }
}
