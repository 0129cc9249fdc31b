import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { log } from "./log";
import { CheckResult, reminderQueue, Store } from "./store";

/**
 * The metrics the cluster's autoscaling and alerting read: the contract in lib/metrics.ts (`apiMetrics`)
 * of the Pulumi program, whose recording rules turn them into the HPA's metrics (docs/monitoring.md):
 * - `http_requests_total{method,route,code}`: the source of `http_requests_per_second`, per pod;
 * - `healthcare_active_appointments`: active appointments, cluster-wide (every pod reports the same
 *   value; `active_appointments_count` divides it among the API pods);
 * - `healthcare_queue_depth{queue}`: reminder jobs waiting in Redis, cluster-wide (`queue_depth`);
 * - `db_connection_pool_{size,active,idle,waiting}`: this pod's PostgreSQL pool;
 * - `healthcare_dependency_up{dependency}`: 1 when this pod reaches PostgreSQL (a query answers) or the
 *   Redis Cluster (`cluster_state:ok`), else 0, checked at each scrape. Readiness does not depend on
 *   them (server.ts); the PrometheusRule alerts on them.
 */
export interface ApiMetrics {
    readonly registry: Registry;
    readonly requests: Counter<"method" | "route" | "code">;
    readonly duration: Histogram<"method" | "route">;
}

export function createMetrics(store: Store): ApiMetrics {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });

    const requests = new Counter({
        name: "http_requests_total",
        help: "HTTP requests served by the API port, by method, route template and status code.",
        labelNames: ["method", "route", "code"] as const,
        registers: [registry],
    });
    const duration = new Histogram({
        name: "http_request_duration_seconds",
        help: "Time to serve an HTTP request on the API port.",
        labelNames: ["method", "route"] as const,
        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
        registers: [registry],
    });

    // Gauges read their source at scrape time; when a source is down the last value stays.
    new Gauge({
        name: "healthcare_active_appointments",
        help: "Appointments whose status is active, cluster-wide (the same value on every pod).",
        registers: [registry],
        async collect() {
            try {
                this.set(await store.activeAppointments());
            } catch {
                /* PostgreSQL unreachable: keep the last value; healthcare_dependency_up reports the outage. */
            }
        },
    });
    const pool = (name: string, help: string, pick: (s: ReturnType<Store["poolStats"]>) => number) =>
        new Gauge({
            name: `db_connection_pool_${name}`,
            help,
            registers: [registry],
            collect() {
                this.set(pick(store.poolStats()));
            },
        });
    pool("size", "Most PostgreSQL connections this pod's pool opens.", (s) => s.size);
    pool("active", "PostgreSQL connections of this pod's pool in use by a query.", (s) => s.active);
    pool("idle", "Open PostgreSQL connections of this pod's pool waiting for work.", (s) => s.idle);
    pool("waiting", "Requests of this pod waiting for a free PostgreSQL connection.", (s) => s.waiting);
    new Gauge({
        name: "healthcare_queue_depth",
        help: "Jobs waiting in a Redis queue, cluster-wide.",
        labelNames: ["queue"] as const,
        registers: [registry],
        async collect() {
            try {
                this.set({ queue: reminderQueue }, await store.queueDepth());
            } catch {
                /* Redis unreachable: keep the last value. */
            }
        },
    });

    const dependencies: Record<string, () => Promise<CheckResult>> = { postgres: () => store.checkDatabase(), redis: () => store.checkRedis() };
    const last: Record<string, boolean | undefined> = {};
    new Gauge({
        name: "healthcare_dependency_up",
        help: "Whether this pod reaches a dependency: 1 when PostgreSQL answers a query / the Redis Cluster reports cluster_state:ok, else 0.",
        labelNames: ["dependency"] as const,
        registers: [registry],
        async collect() {
            const names = Object.keys(dependencies);
            const results = await Promise.all(names.map((name) => dependencies[name]()));
            names.forEach((dependency, i) => {
                const { ok, detail } = results[i];
                this.set({ dependency }, ok ? 1 : 0);
                // Log each change once, with the reason: the metric says that, the log says why.
                if (last[dependency] !== ok) {
                    log(ok ? "info" : "warn", ok ? "dependency up" : "dependency down", { dependency, ...(ok ? {} : { detail }) });
                    last[dependency] = ok;
                }
            });
        },
    });

    return { registry, requests, duration };
}
