import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { MonitoringSettings } from "../config";
import { checkArgs } from "../lib/args";
import { WorkloadEndpoints } from "../lib/endpoints";
import { objectLabels, partOf } from "../lib/labels";
import { apiMetrics, hpaMetrics, recordedMetrics } from "../lib/metrics";
import { names } from "../lib/names";

/**
 * Prometheus Operator objects: a metrics Service and a ServiceMonitor per workload that serves
 * metrics (API, and the PostgreSQL and Redis exporters when they run), and one PrometheusRule with
 * the recording rules the HPA's custom metrics come from, plus the alerts a clinic operator needs.
 * Also exports the prometheus-adapter rules that serve the HPA's metrics through custom.metrics.k8s.io.
 */

/** Marks the metrics Services, so a ServiceMonitor never also selects a workload's other Services. */
export const metricsServiceLabel = { "healthcare.example.com/metrics": "true" } as const;

/** The label the ServiceMonitors copy into `job`: app.kubernetes.io/name (healthcare-api, postgres, redis-cluster). */
const jobLabel = "app.kubernetes.io/name";
const jobs = { api: "healthcare-api", postgres: "postgres", redis: "redis-cluster" } as const;

/** Alert thresholds. */
export const alertThresholds = {
    /** Share of API responses that are 5xx, over 5 minutes, sustained 10 minutes. */
    apiErrorRatio: 0.05,
    /** Share of PostgreSQL's usable connections in use, sustained 5 minutes. */
    dbConnectionPoolUsage: 0.85,
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
    annotations: { summary: string; description: string };
}

/** Which sources the rules may rely on. */
export interface RuleSources {
    /** Namespace of the stack's workloads (every expression is scoped to it). */
    namespace: string;
    /** The PostgreSQL and Redis exporters run. */
    exporters: boolean;
    /** The API's HPA exists (with this name and kube-state-metrics reporting it). */
    apiHpa?: string;
    /** The PostgreSQL backup CronJob (kube-state-metrics reports its last success) and the longest gap its schedule leaves, in seconds. */
    postgresBackup?: { cronJob: string; longestGapSeconds: number };
}

/** The recording rules: the HPA's two per-pod metrics, and the two dashboard metrics. */
export function recordingRules(sources: RuleSources): RecordingRule[] {
    const api = `namespace="${sources.namespace}", job="${jobs.api}"`;
    const postgres = `namespace="${sources.namespace}", job="${jobs.postgres}"`;
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
        ...(sources.exporters
            ? [
                  {
                      // Connections in use over the connections clients may open (superusers keep a reserve).
                      record: recordedMetrics.dbConnectionPoolUsage,
                      expr:
                          `sum by (namespace) (pg_stat_activity_count{${postgres}}) / on (namespace) ` +
                          `max by (namespace) (pg_settings_max_connections{${postgres}} - pg_settings_superuser_reserved_connections{${postgres}})`,
                  },
              ]
            : []),
    ];
}

/** The alerts: API error rate, API dependencies down, API at its replica ceiling, PostgreSQL backup missing, database connections near exhaustion, Redis Cluster not ok. */
export function alertingRules(sources: RuleSources): AlertingRule[] {
    const ns = `namespace="${sources.namespace}"`;
    const api = `${ns}, job="${jobs.api}"`;
    const rules: AlertingRule[] = [
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
    if (sources.postgresBackup) {
        // kube-state-metrics reports the CronJob's status.lastSuccessfulTime; a CronJob that never
        // succeeded has no such series, so its creation time stands in for it.
        const cronJob = `${ns}, cronjob="${sources.postgresBackup.cronJob}"`;
        const maxAge = Math.round(sources.postgresBackup.longestGapSeconds * 1.5);
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
        rules.push(
            {
                alert: "HealthcareDatabaseConnectionsNearExhaustion",
                expr: `${recordedMetrics.dbConnectionPoolUsage}{${ns}} > ${alertThresholds.dbConnectionPoolUsage}`,
                for: "5m",
                labels: { severity: "warning" },
                annotations: {
                    summary: "PostgreSQL is close to refusing new connections",
                    description: "{{ $value | humanizePercentage }} of PostgreSQL's usable connections in {{ $labels.namespace }} are in use.",
                },
            },
            {
                alert: "HealthcareRedisClusterNotOk",
                expr: `min by (namespace) (redis_cluster_state{${ns}, job="${jobs.redis}"}) < 1`,
                for: "2m",
                labels: { severity: "critical" },
                annotations: {
                    summary: "A Redis Cluster node reports cluster_state fail",
                    description: "Some slots of the Redis Cluster in {{ $labels.namespace }} are unserved: check CLUSTER INFO and the maintenance Jobs.",
                },
            },
        );
    }
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

/** Args of the monitoring objects. */
export interface MonitoringArgs {
    /** Namespace to deploy into (the namespace component's output, so objects wait for it). */
    namespace: pulumi.Output<string>;
    /** Selector labels and exporters from the stack config. */
    settings: MonitoringSettings;
    /** The API pods and their metrics port. */
    api: WorkloadEndpoints;
    /** The PostgreSQL pod; its metrics port exists when the exporter runs. */
    postgres: WorkloadEndpoints;
    /** The Redis pods; their metrics port exists when the exporter runs. */
    redis: WorkloadEndpoints;
    /** Name of the API's HPA, when there is one (for the at-max alert). */
    apiHpa?: string;
    /** The PostgreSQL backup CronJob and its schedule's longest gap in seconds, when backups run (for the missing-backup alert). */
    postgresBackup?: { cronJob: pulumi.Output<string>; longestGapSeconds: number };
    /** What installs the Prometheus Operator CRDs when this stack installs them (cluster add-ons): the monitors and rules wait for it. */
    crdInstallers?: pulumi.Resource[];
}

/** ServiceMonitors for every metrics port, and the PrometheusRule. Needs the Prometheus Operator CRDs. */
export class Monitoring extends pulumi.ComponentResource {
    constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
        super("healthcare:monitoring:Monitoring", name, {}, opts);
        checkArgs("Monitoring", name, [
            args.api.metrics.length === 0 && "api.metrics is empty: the API must serve metrics for the HPA's custom metrics",
            !!args.settings.exporters !== (args.postgres.metrics.length > 0) && "postgres.metrics must list the exporter's port exactly when exporters run",
            !!args.settings.exporters !== (args.redis.metrics.length > 0) && "redis.metrics must list the exporter's port exactly when exporters run",
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
                { parent: this },
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
                { parent: this, dependsOn: args.crdInstallers },
            );
        };
        // The API every 15 s: the HPA's rates should follow load within a minute.
        monitor(n.apiMetricsService, n.apiServiceMonitor, args.api, "15s");
        if (args.settings.exporters) {
            monitor(n.postgresMetricsService, n.postgresServiceMonitor, args.postgres, "30s");
            monitor(n.redisMetricsService, n.redisServiceMonitor, args.redis, "30s");
        }

        const backup = args.postgresBackup;
        const sources = pulumi
            .all([args.namespace, backup?.cronJob])
            .apply(([namespace, cronJob]) => ({
                namespace,
                exporters: !!args.settings.exporters,
                apiHpa: args.apiHpa,
                postgresBackup: backup && cronJob ? { cronJob, longestGapSeconds: backup.longestGapSeconds } : undefined,
            }));
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
            { parent: this, dependsOn: args.crdInstallers },
        );

        this.registerOutputs({});
    }
}
