/**
 * Metric names shared by the HPA (components/autoscaling.ts), the recording rules and the
 * prometheus-adapter rules (components/monitoring.ts), so the three cannot drift apart.
 */

/** Per-pod business metrics the API's HPA scales on, served through custom.metrics.k8s.io. */
export const hpaMetrics = {
    /** HTTP requests per second per API pod, recorded from the API's http_requests_total counter. */
    requestsPerSecond: "http_requests_per_second",
    /** Active appointments per API pod: the cluster-wide healthcare_active_appointments gauge divided among the pods. */
    activeAppointments: "active_appointments_count",
} as const;

/** Further recorded metrics (dashboards and alerts). */
export const recordedMetrics = {
    /** Share (0-1) of PostgreSQL's usable connections in use, from the PostgreSQL exporter. */
    dbConnectionPoolUsage: "db_connection_pool_usage",
    /** Jobs waiting per queue, from the API's healthcare_queue_depth gauge. */
    queueDepth: "queue_depth",
} as const;

/** What the API image exposes on its metrics port (/metrics): the contract the rules rely on. */
export const apiMetrics = {
    /** Counter of HTTP requests, labelled by status `code` (and any others). */
    requests: "http_requests_total",
    /** Gauge: active appointments, cluster-wide; every pod reports the same value. */
    activeAppointments: "healthcare_active_appointments",
    /** Gauge: jobs waiting, labelled by `queue`; every pod reports the shared queues. */
    queueDepth: "healthcare_queue_depth",
    /** Gauge per pod, labelled by `dependency` (postgres, redis): 1 when this pod reaches it, else 0. Readiness never depends on it. */
    dependencyUp: "healthcare_dependency_up",
} as const;

/**
 * The other processes' metrics the rules, the dashboards and the adapter read, and what serves each:
 * the contract with the exporters and the platform. tests/monitoring.test.ts holds every selector of
 * every rendered rule and dashboard to the API's declared metrics (app/src/metrics.ts), the recorded
 * series and this list, and this list to what is read: a name changed in one place only fails there.
 */
export const externalMetrics: Readonly<Record<string, string>> = {
    up: "Prometheus, for every scrape target",
    // postgres_exporter (statefulset engine)
    pg_up: "postgres_exporter",
    pg_stat_activity_count: "postgres_exporter",
    pg_settings_max_connections: "postgres_exporter",
    pg_settings_superuser_reserved_connections: "postgres_exporter",
    pg_stat_database_xact_commit: "postgres_exporter",
    // CloudNativePG's instance manager (its default queries) and the Barman Cloud plugin
    cnpg_collector_up: "CloudNativePG instance manager",
    cnpg_collector_fencing_on: "CloudNativePG instance manager",
    cnpg_backends_total: "CloudNativePG instance manager",
    cnpg_pg_settings_setting: "CloudNativePG instance manager",
    cnpg_pg_replication_lag: "CloudNativePG instance manager",
    cnpg_pg_replication_in_recovery: "CloudNativePG instance manager",
    cnpg_pg_replication_streaming_replicas: "CloudNativePG instance manager",
    cnpg_pg_stat_archiver_last_failed_time: "CloudNativePG instance manager",
    cnpg_pg_stat_archiver_last_archived_time: "CloudNativePG instance manager",
    cnpg_pg_stat_database_xact_commit: "CloudNativePG instance manager",
    barman_cloud_cloudnative_pg_io_last_available_backup_timestamp: "Barman Cloud plugin",
    // redis_exporter
    redis_cluster_state: "redis_exporter",
    redis_cluster_slots_ok: "redis_exporter",
    redis_cluster_known_nodes: "redis_exporter",
    redis_connected_slaves: "redis_exporter",
    redis_instance_info: "redis_exporter",
    redis_memory_used_bytes: "redis_exporter",
    redis_memory_max_bytes: "redis_exporter",
    redis_evicted_keys_total: "redis_exporter",
    redis_errors_total: "redis_exporter",
    redis_commands_processed_total: "redis_exporter",
    // kube-prometheus-stack: kube-state-metrics, the kubelet and cAdvisor
    kube_horizontalpodautoscaler_status_current_replicas: "kube-state-metrics",
    kube_horizontalpodautoscaler_spec_min_replicas: "kube-state-metrics",
    kube_horizontalpodautoscaler_spec_max_replicas: "kube-state-metrics",
    kube_cronjob_status_last_successful_time: "kube-state-metrics",
    kube_cronjob_created: "kube-state-metrics",
    kube_pod_info: "kube-state-metrics",
    kube_node_labels: "kube-state-metrics",
    kube_pod_status_ready: "kube-state-metrics",
    kube_pod_container_resource_requests: "kube-state-metrics",
    kube_pod_container_resource_limits: "kube-state-metrics",
    kubelet_volume_stats_available_bytes: "kubelet",
    kubelet_volume_stats_capacity_bytes: "kubelet",
    container_cpu_usage_seconds_total: "cAdvisor (kubelet)",
    container_memory_working_set_bytes: "cAdvisor (kubelet)",
    // cert-manager's controller
    certmanager_certificate_expiration_timestamp_seconds: "cert-manager",
};
