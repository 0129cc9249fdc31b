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
