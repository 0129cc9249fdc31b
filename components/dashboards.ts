import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { builtInOptions, checkArgs, NamespaceDeletion } from "../lib/args";
import { DashboardSpec, dashboardJson, PanelSpec } from "../lib/grafana";
import { partOf } from "../lib/labels";
import { apiMetrics, hpaMetrics, recordedMetrics } from "../lib/metrics";
import { alertThresholds, cloudNativePgMetrics, jobs, platformMetrics } from "./monitoring";

/**
 * The on-call engineer's Grafana dashboards (API, PostgreSQL, Redis Cluster, capacity), as code, and
 * the ConfigMaps that ship them: kube-prometheus-stack's Grafana sidecar loads every ConfigMap that
 * carries its label (`grafana_dashboard: "1"` by default) from every namespace.
 */

/** What the dashboards may rely on: the same sources as the rules, and the names the queries select. */
export interface DashboardSources {
    /** Namespace of the stack's workloads (every query is scoped to it). */
    namespace: string;
    /** PostgreSQL's engine: the exporter's metrics (statefulset) or the operator's (cloudnative-pg). */
    postgresEngine: "statefulset" | "cloudnative-pg";
    /** The exporter sidecars run (Redis's, and PostgreSQL's on the statefulset engine). */
    exporters: boolean;
    /** The API's HPA, when there is one. */
    apiHpa?: string;
    /** The statefulset engine's backup CronJob, when backups run. */
    backupCronJob?: string;
    /** CloudNativePG's backups go to object storage (the plugin reports the last one). */
    objectStoreBackups?: boolean;
    /** RE2 pattern of the stack's PVC names (the volume panels). */
    volumeClaims: string;
}

/** The dashboards of a stack: the API and capacity always; PostgreSQL where its metrics exist; Redis with its exporter. */
export function stackDashboards(s: DashboardSources): DashboardSpec[] {
    const ns = `namespace="${s.namespace}"`;
    const api = `${ns}, job="${jobs.api}"`;
    const pg = `${ns}, job="${jobs.postgres}"`;
    const redis = `${ns}, job="${jobs.redis}"`;
    const hpa = s.apiHpa && `${ns}, horizontalpodautoscaler="${s.apiHpa}"`;
    const m = platformMetrics;
    const c = cloudNativePgMetrics;
    const errorShare = `sum(rate(${apiMetrics.requests}{${api}, code=~"5.."}[5m])) / sum(rate(${apiMetrics.requests}{${api}}[5m]))`;

    const apiDashboard: DashboardSpec = {
        uid: "healthcare-api",
        title: "Healthcare API",
        description: "Traffic, errors, latency and the HPA's metrics and replicas of the healthcare API.",
        tags: ["healthcare-backend", "api"],
        rows: [
            [
                { kind: "stat", title: "Requests per second", unit: "reqps", queries: [{ expr: `sum(${hpaMetrics.requestsPerSecond}{${ns}})` }] },
                { kind: "stat", title: "Server errors (5 min)", unit: "percentunit", queries: [{ expr: errorShare }], thresholds: { critical: alertThresholds.apiErrorRatio } },
                { kind: "stat", title: "Pods scraped", queries: [{ expr: `sum(up{${api}})` }], thresholds: {} },
                ...(hpa ? [{ kind: "stat" as const, title: "Replicas", queries: [{ expr: `kube_horizontalpodautoscaler_status_current_replicas{${hpa}}` }] }] : []),
            ],
            [
                { kind: "timeseries", title: "Requests per second by pod", unit: "reqps", queries: [{ expr: `${hpaMetrics.requestsPerSecond}{${ns}}`, legend: "{{pod}}" }] },
                { kind: "timeseries", title: "Server errors by code", unit: "reqps", queries: [{ expr: `sum by (code) (rate(${apiMetrics.requests}{${api}, code=~"5.."}[5m]))`, legend: "{{code}}" }] },
            ],
            [
                {
                    kind: "timeseries",
                    title: "Latency",
                    unit: "s",
                    queries: [0.5, 0.95, 0.99].map((q) => ({
                        expr: `histogram_quantile(${q}, sum by (le) (rate(http_request_duration_seconds_bucket{${api}}[5m])))`,
                        legend: `p${q * 100}`,
                    })),
                },
                { kind: "timeseries", title: "Dependencies reached (pods that reach each)", queries: [{ expr: `sum by (dependency) (${apiMetrics.dependencyUp}{${api}})`, legend: "{{dependency}}" }] },
            ],
            ...(hpa
                ? [
                      [
                          {
                              kind: "timeseries" as const,
                              title: "Replicas against the HPA's range",
                              queries: [
                                  { expr: `kube_horizontalpodautoscaler_status_current_replicas{${hpa}}`, legend: "current" },
                                  { expr: `kube_horizontalpodautoscaler_spec_min_replicas{${hpa}}`, legend: "min" },
                                  { expr: `kube_horizontalpodautoscaler_spec_max_replicas{${hpa}}`, legend: "max" },
                              ],
                          },
                          {
                              kind: "timeseries" as const,
                              title: "The HPA's custom metrics: active appointments per pod, queue depth",
                              queries: [
                                  { expr: `${hpaMetrics.activeAppointments}{${ns}}`, legend: "appointments {{pod}}" },
                                  { expr: `${recordedMetrics.queueDepth}{${ns}}`, legend: "queue {{queue}}" },
                              ],
                          },
                      ],
                  ]
                : []),
        ],
    };

    const usage: PanelSpec = {
        kind: "timeseries",
        title: "Connections in use, share of the usable ones",
        unit: "percentunit",
        queries: [{ expr: `${recordedMetrics.dbConnectionPoolUsage}{${ns}}`, legend: "in use" }],
        thresholds: { warning: alertThresholds.dbConnectionPoolUsage },
    };
    const postgresDashboard: DashboardSpec | undefined =
        s.postgresEngine === "cloudnative-pg"
            ? {
                  uid: "healthcare-postgres",
                  title: "Healthcare PostgreSQL (CloudNativePG)",
                  description: "Connections against the limit, replication, backups and query load of the CloudNativePG Cluster.",
                  tags: ["healthcare-backend", "postgres"],
                  rows: [
                      [
                          { kind: "stat", title: "Instances up", queries: [{ expr: `sum(${c.up}{${pg}})` }] },
                          { kind: "stat", title: "Streaming standbys of the primary", queries: [{ expr: `max(${c.streamingReplicas}{${pg}})` }] },
                          ...(s.objectStoreBackups
                              ? [{ kind: "stat" as const, title: "Newest base backup age", unit: "dtdurations" as const, queries: [{ expr: `time() - max(${c.lastAvailableBackup}{${pg}})` }] }]
                              : []),
                      ],
                      [
                          {
                              kind: "timeseries",
                              title: "Connections against max_connections",
                              queries: [
                                  { expr: `sum by (pod) (${c.backends}{${pg}})`, legend: "{{pod}}" },
                                  { expr: `max(${c.settings}{${pg}, name="max_connections"})`, legend: "max_connections" },
                              ],
                          },
                          usage,
                      ],
                      [
                          { kind: "timeseries", title: "Replication lag", unit: "s", queries: [{ expr: `${c.replicationLag}{${pg}}`, legend: "{{pod}}" }], thresholds: { warning: alertThresholds.postgresReplicationLagSeconds } },
                          { kind: "timeseries", title: "Transactions per second", unit: "ops", queries: [{ expr: `sum by (pod) (rate(cnpg_pg_stat_database_xact_commit{${pg}}[5m]))`, legend: "{{pod}}" }] },
                      ],
                  ],
              }
            : s.exporters
              ? {
                    uid: "healthcare-postgres",
                    title: "Healthcare PostgreSQL",
                    description: "Connections against the limit, backups and query load of the PostgreSQL server (postgres_exporter).",
                    tags: ["healthcare-backend", "postgres"],
                    rows: [
                        [
                            { kind: "stat", title: "PostgreSQL up", queries: [{ expr: `min(${m.postgresUp}{${pg}})` }] },
                            ...(s.backupCronJob
                                ? [
                                      {
                                          kind: "stat" as const,
                                          title: "Last successful backup age",
                                          unit: "dtdurations" as const,
                                          queries: [{ expr: `time() - max(kube_cronjob_status_last_successful_time{${ns}, cronjob="${s.backupCronJob}"})` }],
                                      },
                                  ]
                                : []),
                        ],
                        [
                            {
                                kind: "timeseries",
                                title: "Connections against max_connections",
                                queries: [
                                    { expr: `sum by (state) (pg_stat_activity_count{${pg}})`, legend: "{{state}}" },
                                    { expr: `max(pg_settings_max_connections{${pg}})`, legend: "max_connections" },
                                ],
                            },
                            usage,
                        ],
                        [{ kind: "timeseries", title: "Transactions per second", unit: "ops", queries: [{ expr: `sum by (datname) (rate(pg_stat_database_xact_commit{${pg}}[5m]))`, legend: "{{datname}}" }] }],
                    ],
                }
              : undefined;

    const redisDashboard: DashboardSpec | undefined = s.exporters
        ? {
              uid: "healthcare-redis",
              title: "Healthcare Redis Cluster",
              description: "Slots, masters and replicas per zone, memory against maxmemory, evictions and commands of the Redis Cluster (redis_exporter).",
              tags: ["healthcare-backend", "redis"],
              rows: [
                  [
                      { kind: "stat", title: "Slots served", queries: [{ expr: `min(redis_cluster_slots_ok{${redis}})` }], thresholds: {} },
                      { kind: "stat", title: "Cluster state ok (every node)", queries: [{ expr: `min(${m.redisClusterState}{${redis}})` }] },
                      { kind: "stat", title: "Masters", queries: [{ expr: `count(redis_instance_info{${redis}, role="master"})` }] },
                      { kind: "stat", title: "Replicas", queries: [{ expr: `count(redis_instance_info{${redis}, role="slave"})` }] },
                  ],
                  [
                      {
                          kind: "timeseries",
                          title: "Masters and replicas per zone",
                          description: "Needs kube-state-metrics to export the nodes' topology.kubernetes.io/zone label (metricLabelsAllowlist).",
                          queries: [
                              {
                                  expr:
                                      `count by (role, label_topology_kubernetes_io_zone) (redis_instance_info{${redis}} * on (namespace, pod) group_left (node) ` +
                                      `max by (namespace, pod, node) (kube_pod_info{${ns}}) * on (node) group_left (label_topology_kubernetes_io_zone) max by (node, label_topology_kubernetes_io_zone) (kube_node_labels))`,
                                  legend: "{{role}} {{label_topology_kubernetes_io_zone}}",
                              },
                          ],
                      },
                      {
                          kind: "timeseries",
                          title: "Memory against maxmemory",
                          unit: "percentunit",
                          queries: [{ expr: `${m.redisMemoryUsed}{${redis}} / (${m.redisMemoryMax}{${redis}} > 0)`, legend: "{{pod}}" }],
                          thresholds: { warning: alertThresholds.redisMemoryUsage },
                      },
                  ],
                  [
                      {
                          kind: "timeseries",
                          title: "Evictions and writes refused (OOM)",
                          unit: "ops",
                          queries: [
                              { expr: `sum by (pod) (rate(${m.redisEvictedKeys}{${redis}}[5m]))`, legend: "evicted {{pod}}" },
                              { expr: `sum by (pod) (rate(${m.redisErrors}{${redis}, err="OOM"}[5m]))`, legend: "OOM {{pod}}" },
                          ],
                      },
                      { kind: "timeseries", title: "Commands per second", unit: "ops", queries: [{ expr: `sum by (pod) (rate(redis_commands_processed_total{${redis}}[5m]))`, legend: "{{pod}}" }] },
                  ],
              ],
          }
        : undefined;

    const volumes = `${ns}, persistentvolumeclaim=~"${s.volumeClaims}"`;
    const capacityDashboard: DashboardSpec = {
        uid: "healthcare-capacity",
        title: "Healthcare capacity",
        description: "Volumes, CPU and memory of the stack's pods against what they request and may use.",
        tags: ["healthcare-backend", "capacity"],
        rows: [
            [
                {
                    kind: "timeseries",
                    title: "Volumes used",
                    unit: "percentunit",
                    queries: [{ expr: `1 - ${m.volumeAvailable}{${volumes}} / ${m.volumeCapacity}{${volumes}}`, legend: "{{persistentvolumeclaim}}" }],
                    thresholds: { warning: 1 - alertThresholds.volumeAvailableWarning, critical: 1 - alertThresholds.volumeAvailableCritical },
                },
                { kind: "stat", title: "Pods not ready", queries: [{ expr: `sum(kube_pod_status_ready{${ns}, condition="false"})` }], thresholds: { critical: 1 }, width: 6 },
            ],
            [
                {
                    kind: "timeseries",
                    title: "CPU used against requests",
                    queries: [
                        { expr: `sum by (pod) (rate(container_cpu_usage_seconds_total{${ns}, container!=""}[5m]))`, legend: "used {{pod}}" },
                        { expr: `sum by (pod) (kube_pod_container_resource_requests{${ns}, resource="cpu"})`, legend: "requested {{pod}}" },
                    ],
                },
                {
                    kind: "timeseries",
                    title: "Memory used against limits",
                    unit: "bytes",
                    queries: [
                        { expr: `sum by (pod) (container_memory_working_set_bytes{${ns}, container!=""})`, legend: "used {{pod}}" },
                        { expr: `sum by (pod) (kube_pod_container_resource_limits{${ns}, resource="memory"})`, legend: "limit {{pod}}" },
                    ],
                },
            ],
        ],
    };
    return [apiDashboard, ...(postgresDashboard ? [postgresDashboard] : []), ...(redisDashboard ? [redisDashboard] : []), capacityDashboard];
}

/** Args of the dashboards' ConfigMaps. */
export interface DashboardsArgs {
    /** Namespace to deploy into (the namespace component's output, so the ConfigMaps wait for it). */
    namespace: pulumi.Output<string>;
    /** How its objects go when a run deletes the namespace too (NamespaceDeletion); undefined: each on its own. */
    deletion?: NamespaceDeletion;
    /** The dashboards (`stackDashboards`). */
    dashboards: DashboardSpec[];
    /** The label Grafana's sidecar loads dashboards by (kube-prometheus-stack: grafana_dashboard=1). */
    sidecarLabel: Readonly<Record<string, string>>;
}

/** One ConfigMap per dashboard (`healthcare-dashboard-<name>`), holding `<uid>.json`, labelled for Grafana's sidecar. */
export class Dashboards extends pulumi.ComponentResource {
    /** The ConfigMaps' names. */
    public readonly configMapNames: string[];

    constructor(name: string, args: DashboardsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("healthcare:monitoring:Dashboards", name, {}, opts);
        const uids = args.dashboards.map((d) => d.uid);
        checkArgs("Dashboards", name, [
            args.dashboards.length === 0 && "dashboards is empty",
            new Set(uids).size !== uids.length && `dashboards have duplicate uids: ${uids.join(", ")}`,
            ...uids.map((uid) => !/^[a-z0-9-]{1,40}$/.test(uid) && `uid "${uid}" is not 1-40 lower-case letters, digits or hyphens`),
            Object.keys(args.sidecarLabel).length !== 1 && "sidecarLabel must be exactly one label",
        ]);
        this.configMapNames = args.dashboards.map((d) => {
            const configMapName = `healthcare-dashboard-${d.uid.replace(/^healthcare-/, "")}`;
            // A fixed name: Grafana's sidecar follows the ConfigMap, and a replacement on change only reloads the dashboard.
            new k8s.core.v1.ConfigMap(
                configMapName,
                {
                    metadata: {
                        name: configMapName,
                        namespace: args.namespace,
                        labels: { "app.kubernetes.io/part-of": partOf, "app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/component": "dashboard", ...args.sidecarLabel },
                    },
                    data: { [`${d.uid}.json`]: JSON.stringify(dashboardJson(d), null, 1) },
                },
                builtInOptions(this, args.deletion),
            );
            return configMapName;
        });
        this.registerOutputs({ configMapNames: this.configMapNames });
    }
}
