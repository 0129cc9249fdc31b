/**
 * Input series for `promtool test rules` (tests/promtool.test.ts): for every recording rule the samples
 * it must produce, and for every alert series that make it fire (with the labels it must carry) and
 * series that must leave it quiet. Each fixture reads what varies between stacks (thresholds, names,
 * the engine) from the rendered rule itself, so the fixtures follow the rules and a changed rule is
 * tested as rendered.
 */

/** A rule as the PrometheusRule renders it. */
export interface RenderedRule {
    record?: string;
    alert?: string;
    expr: string;
    for?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
}

/** One input series in promtool's notation ('0+60x30': 0, 60, 120, ... 31 samples). */
export interface InputSeries {
    series: string;
    values: string;
}

/** A scenario: series sampled every minute (the rules evaluated as often), looked at `evalTime` after the start. */
export interface Scenario {
    /** What the scenario shows, for promtool's failure messages. */
    name: string;
    series: InputSeries[];
    evalTime: string;
}

/** An alert's scenarios: each firing one lists the labels of every alert it must raise (besides alertname and severity). */
export interface AlertFixture {
    firing: Array<Scenario & { alerts: Array<Record<string, string>> }>;
    quiet: Scenario[];
}

/** A recording rule's scenario and the samples it must produce (labels besides __name__). */
export interface RecordingFixture extends Scenario {
    samples: Array<{ labels: Record<string, string>; value: number }>;
}

export const namespace = "healthcare-backend";
const ns = { namespace };
const api = { ...ns, job: "healthcare-api" };
const pg = { ...ns, job: "postgres" };
const redis = { ...ns, job: "redis-cluster" };

/** `metric{labels}` in promtool's series notation. */
export function series(metric: string, labels: Record<string, string>, values: string): InputSeries {
    const matchers = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
    return { series: `${metric}{${matchers.join(", ")}}`, values };
}

/** The engine a rendered rule set is for: CloudNativePG's metrics appear only there. */
export function engineOf(rules: readonly RenderedRule[]): "statefulset" | "cloudnative-pg" {
    return rules.some((r) => /\bcnpg_/.test(r.expr)) ? "cloudnative-pg" : "statefulset";
}

/** The number after the last comparison of an expression (`... > 129600`). */
function thresholdOf(expr: string, op: string): number {
    const all = [...expr.matchAll(new RegExp(`\\s${op.replace(/[<>]/g, "\\$&")}\\s(\\d+(?:\\.\\d+)?)`, "g"))];
    if (all.length === 0) {
        throw new Error(`no "${op} <number>" in ${expr}`);
    }
    return Number(all[all.length - 1][1]);
}

/** PostgreSQL's connections and their limits, per engine: `inUse` connections of `usable` (max_connections - reserved 3). */
function connections(engine: "statefulset" | "cloudnative-pg", inUse: number, usable: number): InputSeries[] {
    const max = String(usable + 3);
    if (engine === "statefulset") {
        const server = { ...pg, pod: "postgres-0" };
        return [
            series("pg_stat_activity_count", { ...server, datname: "healthcare", state: "active" }, `${Math.ceil(inUse / 2)}x30`),
            series("pg_stat_activity_count", { ...server, datname: "healthcare", state: "idle" }, `${Math.floor(inUse / 2)}x30`),
            series("pg_settings_max_connections", server, `${max}x30`),
            series("pg_settings_superuser_reserved_connections", server, "3x30"),
        ];
    }
    // The primary holds the connections; a standby a few.
    return ["postgres-1", "postgres-2"].flatMap((pod, i) => {
        const instance = { ...pg, pod };
        const backends = i === 0 ? inUse : 2;
        return [
            series("cnpg_backends_total", { ...instance, datname: "app", usename: "app", state: "active" }, `${Math.ceil(backends / 2)}x30`),
            series("cnpg_backends_total", { ...instance, datname: "app", usename: "app", state: "idle" }, `${Math.floor(backends / 2)}x30`),
            series("cnpg_pg_settings_setting", { ...instance, name: "max_connections" }, `${max}x30`),
            series("cnpg_pg_settings_setting", { ...instance, name: "superuser_reserved_connections" }, "3x30"),
        ];
    });
}

/** PVC names of every kind the stacks have; a volume alert's fixture keeps those its pattern selects. */
const claimSamples = ["data-postgres-0", "postgres-1", "postgres-1-wal", "postgres-backups", "data-redis-cluster-0"];

function claimsOf(expr: string): { selected: string[]; other: string } {
    const pattern = /persistentvolumeclaim=~"([^"]+)"/.exec(expr)?.[1];
    if (!pattern) {
        throw new Error(`no persistentvolumeclaim pattern in ${expr}`);
    }
    // Prometheus anchors the pattern; RE2's syntax used here is JavaScript's too.
    const re = new RegExp(`^(?:${pattern})$`);
    return { selected: claimSamples.filter((c) => re.test(c)), other: "scratch-space" };
}

/** Volume series: each claim with `percentLeft` of 100 bytes free. */
function volumes(claims: string[], percentLeft: number): InputSeries[] {
    return claims.flatMap((claim) => {
        const labels = { ...ns, persistentvolumeclaim: claim, job: "kubelet" };
        return [series("kubelet_volume_stats_available_bytes", labels, `${percentLeft}x30`), series("kubelet_volume_stats_capacity_bytes", labels, "100x30")];
    });
}

/**
 * The backup-age alerts: a backup past the limit, never taken, just inside the limit, and recent. The
 * test's clock starts at 0, so a timestamp from before the evaluation's start is negative.
 */
function backupFixture(rule: RenderedRule): AlertFixture {
    const maxAge = thresholdOf(rule.expr, ">");
    const evalTime = "10m";
    const at = (secondsBeforeStart: number) => `${-secondsBeforeStart}x30`;
    const base = { evalTime };
    const stale = at(maxAge + 6 * 3600);
    const inside = at(maxAge - 3600);
    const fresh = "0+60x30";
    if (/kube_cronjob_/.test(rule.expr)) {
        const cronJob = { ...ns, cronjob: /cronjob="([^"]+)"/.exec(rule.expr)![1], job: "kube-state-metrics" };
        const labels = { namespace, cronjob: cronJob.cronjob };
        return {
            firing: [
                { ...base, name: "last success too old", series: [series("kube_cronjob_status_last_successful_time", cronJob, stale), series("kube_cronjob_created", cronJob, stale)], alerts: [labels] },
                { ...base, name: "never succeeded since created too long ago", series: [series("kube_cronjob_created", cronJob, stale)], alerts: [labels] },
            ],
            quiet: [
                { ...base, name: "recent success", series: [series("kube_cronjob_status_last_successful_time", cronJob, fresh), series("kube_cronjob_created", cronJob, stale)] },
                { ...base, name: "last success an hour inside the limit", series: [series("kube_cronjob_status_last_successful_time", cronJob, inside), series("kube_cronjob_created", cronJob, stale)] },
                { ...base, name: "a new CronJob without a success yet", series: [series("kube_cronjob_created", cronJob, fresh)] },
            ],
        };
    }
    const metric = "barman_cloud_cloudnative_pg_io_last_available_backup_timestamp";
    const instances = ["postgres-1", "postgres-2"];
    return {
        firing: [
            { ...base, name: "newest base backup too old", series: instances.map((pod) => series(metric, { ...pg, pod }, stale)), alerts: [{ namespace }] },
            { ...base, name: "no instance reports backups", series: [series("up", { ...pg, pod: "postgres-1" }, "1x30")], alerts: [{ namespace, job: "postgres" }] },
        ],
        quiet: [
            { ...base, name: "recent base backup", series: instances.map((pod) => series(metric, { ...pg, pod }, fresh)) },
            { ...base, name: "newest base backup an hour inside the limit", series: instances.map((pod) => series(metric, { ...pg, pod }, inside)) },
        ],
    };
}

/** Every alert's scenarios, by name. */
export const alertFixtures: Record<string, (rule: RenderedRule, rules: readonly RenderedRule[]) => AlertFixture> = {
    HealthcareApiHighErrorRate: () => {
        const requests = (errorsPerMinute: number) => [
            series("http_requests_total", { ...api, pod: "api-0", method: "GET", route: "/appointments", code: "200" }, "0+100x30"),
            series("http_requests_total", { ...api, pod: "api-0", method: "GET", route: "/appointments", code: "503" }, `0+${errorsPerMinute}x30`),
        ];
        return {
            firing: [{ name: "9% errors for 20 minutes", series: requests(10), evalTime: "20m", alerts: [{ namespace }] }],
            quiet: [{ name: "1% errors", series: requests(1), evalTime: "20m" }],
        };
    },
    HealthcareApiDependencyDown: () => {
        const up = (second: string) => [
            series("healthcare_dependency_up", { ...api, pod: "api-0", dependency: "postgres" }, "0x30"),
            series("healthcare_dependency_up", { ...api, pod: "api-1", dependency: "postgres" }, second),
            series("healthcare_dependency_up", { ...api, pod: "api-0", dependency: "redis" }, "1x30"),
        ];
        return {
            firing: [{ name: "no pod reaches postgres", series: up("0x30"), evalTime: "10m", alerts: [{ namespace, dependency: "postgres" }] }],
            quiet: [{ name: "one pod still reaches it", series: up("1x30"), evalTime: "10m" }],
        };
    },
    HealthcareApiPodDependencyDown: () => {
        const up = (first: string) => [
            series("healthcare_dependency_up", { ...api, pod: "api-0", dependency: "redis" }, first),
            series("healthcare_dependency_up", { ...api, pod: "api-1", dependency: "redis" }, "1x30"),
        ];
        return {
            firing: [{ name: "api-0 alone cannot reach redis", series: up("0x30"), evalTime: "20m", alerts: [{ namespace, pod: "api-0", dependency: "redis" }] }],
            quiet: [{ name: "both reach it", series: up("1x30"), evalTime: "20m" }],
        };
    },
    HealthcareApiTargetMissing: () => ({
        firing: [
            { name: "every API target down", series: [series("up", { ...api, pod: "api-0" }, "0x30"), series("up", { ...api, pod: "api-1" }, "0x30")], evalTime: "10m", alerts: [{ namespace, job: "healthcare-api" }] },
            { name: "no API target at all", series: [series("up", { ...pg, pod: "postgres-0" }, "1x30")], evalTime: "10m", alerts: [{ namespace, job: "healthcare-api" }] },
        ],
        quiet: [{ name: "one target up", series: [series("up", { ...api, pod: "api-0" }, "1x30"), series("up", { ...api, pod: "api-1" }, "0x30")], evalTime: "10m" }],
    }),
    HealthcareApiAtMaxReplicas: (rule) => {
        const hpa = { ...ns, horizontalpodautoscaler: /horizontalpodautoscaler="([^"]+)"/.exec(rule.expr)![1] };
        const replicas = (current: number) => [
            series("kube_horizontalpodautoscaler_status_current_replicas", hpa, `${current}x30`),
            series("kube_horizontalpodautoscaler_spec_max_replicas", hpa, "10x30"),
        ];
        return {
            firing: [{ name: "at 10 of 10 for 20 minutes", series: replicas(10), evalTime: "20m", alerts: [hpa] }],
            quiet: [{ name: "at 6 of 10", series: replicas(6), evalTime: "20m" }],
        };
    },
    PostgresBackupMissing: (rule) => backupFixture(rule),
    HealthcareDatabaseConnectionsNearExhaustion: (_rule, rules) => {
        const engine = engineOf(rules);
        return {
            firing: [{ name: "90 of 100 usable connections", series: connections(engine, 90, 100), evalTime: "10m", alerts: [{ namespace }] }],
            quiet: [{ name: "50 of 100", series: connections(engine, 50, 100), evalTime: "10m" }],
        };
    },
    HealthcarePostgresDown: (rule) => {
        const absent = { name: "no PostgreSQL scraped", series: [series("up", { ...api, pod: "api-0" }, "1x30")], evalTime: "10m", alerts: [{ namespace, job: "postgres" }] };
        if (/\bpg_up\b/.test(rule.expr)) {
            const server = { ...pg, pod: "postgres-0" };
            return {
                firing: [
                    { name: "the exporter cannot query the server", series: [series("pg_up", server, "0x30"), series("up", server, "1x30")], evalTime: "10m", alerts: [{ namespace, pod: "postgres-0" }] },
                    { name: "the exporter's scrape fails", series: [series("up", server, "0x30")], evalTime: "10m", alerts: [{ namespace, pod: "postgres-0" }] },
                    absent,
                ],
                quiet: [{ name: "up", series: [series("pg_up", server, "1x30"), series("up", server, "1x30")], evalTime: "10m" }],
            };
        }
        const instance = (pod: string, collectorUp: string, fenced: string, scrapeUp = "1x30") => [
            series("cnpg_collector_up", { ...pg, pod }, collectorUp),
            series("cnpg_collector_fencing_on", { ...pg, pod }, fenced),
            series("up", { ...pg, pod }, scrapeUp),
        ];
        return {
            firing: [
                { name: "PostgreSQL stopped on a standby", series: [...instance("postgres-1", "1x30", "0x30"), ...instance("postgres-2", "0x30", "0x30")], evalTime: "10m", alerts: [{ namespace, pod: "postgres-2" }] },
                { name: "an instance manager's scrape fails", series: [...instance("postgres-1", "1x30", "0x30"), ...instance("postgres-2", "1x30", "0x30", "0x30")], evalTime: "10m", alerts: [{ namespace, pod: "postgres-2" }] },
                absent,
            ],
            quiet: [
                { name: "all up", series: [...instance("postgres-1", "1x30", "0x30"), ...instance("postgres-2", "1x30", "0x30")], evalTime: "10m" },
                { name: "stopped because fenced (its own alert)", series: [...instance("postgres-1", "1x30", "0x30"), ...instance("postgres-2", "0x30", "1x30")], evalTime: "10m" },
            ],
        };
    },
    HealthcarePostgresInstanceMissing: (rule) => {
        const instances = thresholdOf(rule.expr, "<");
        const scraped = (n: number) => Array.from({ length: n }, (_, i) => series("up", { ...pg, pod: `postgres-${i + 1}` }, "1x30"));
        return {
            firing: [{ name: `${instances - 1} of ${instances} instances`, series: scraped(instances - 1), evalTime: "20m", alerts: [{ namespace }] }],
            quiet: [{ name: `all ${instances}`, series: scraped(instances), evalTime: "20m" }],
        };
    },
    HealthcarePostgresReplicationLag: () => {
        const lag = (seconds: number) => [series("cnpg_pg_replication_lag", { ...pg, pod: "postgres-1" }, "0x30"), series("cnpg_pg_replication_lag", { ...pg, pod: "postgres-2" }, `${seconds}x30`)];
        return {
            firing: [{ name: "a standby 10 minutes behind", series: lag(600), evalTime: "10m", alerts: [{ namespace, pod: "postgres-2" }] }],
            quiet: [{ name: "a standby 30 s behind", series: lag(30), evalTime: "10m" }],
        };
    },
    HealthcarePostgresNoStreamingStandby: () => {
        const cluster = (primaryStreams: number) => [
            series("cnpg_pg_replication_in_recovery", { ...pg, pod: "postgres-1" }, "0x30"),
            series("cnpg_pg_replication_streaming_replicas", { ...pg, pod: "postgres-1" }, `${primaryStreams}x30`),
            // A standby streams to no one: never an alert.
            series("cnpg_pg_replication_in_recovery", { ...pg, pod: "postgres-2" }, "1x30"),
            series("cnpg_pg_replication_streaming_replicas", { ...pg, pod: "postgres-2" }, "0x30"),
        ];
        return {
            firing: [{ name: "the primary has no streaming standby", series: cluster(0), evalTime: "10m", alerts: [{ namespace, pod: "postgres-1" }] }],
            quiet: [{ name: "one standby streams", series: cluster(1), evalTime: "10m" }],
        };
    },
    HealthcarePostgresWalArchivingFailing: () => {
        const archiver = (lastArchived: number) => [
            series("cnpg_pg_replication_in_recovery", { ...pg, pod: "postgres-1" }, "0x30"),
            series("cnpg_pg_stat_archiver_last_failed_time", { ...pg, pod: "postgres-1" }, "200x30"),
            series("cnpg_pg_stat_archiver_last_archived_time", { ...pg, pod: "postgres-1" }, `${lastArchived}x30`),
        ];
        return {
            firing: [{ name: "the last attempt failed", series: archiver(100), evalTime: "10m", alerts: [{ ...pg, pod: "postgres-1" }] }],
            quiet: [{ name: "archived after the last failure", series: archiver(300), evalTime: "10m" }],
        };
    },
    HealthcarePostgresFenced: () => ({
        firing: [{ name: "postgres-2 fenced", series: [series("cnpg_collector_fencing_on", { ...pg, pod: "postgres-2" }, "1x30")], evalTime: "10m", alerts: [{ namespace, pod: "postgres-2" }] }],
        quiet: [{ name: "none fenced", series: [series("cnpg_collector_fencing_on", { ...pg, pod: "postgres-2" }, "0x30")], evalTime: "10m" }],
    }),
    HealthcareRedisClusterNotOk: () => {
        const state = (second: string) => [series("redis_cluster_state", { ...redis, pod: "redis-cluster-0" }, "1x30"), series("redis_cluster_state", { ...redis, pod: "redis-cluster-1" }, second)];
        return {
            firing: [{ name: "a node reports fail", series: state("0x30"), evalTime: "10m", alerts: [{ namespace }] }],
            quiet: [{ name: "every node ok", series: state("1x30"), evalTime: "10m" }],
        };
    },
    HealthcareRedisSlotsNotServed: () => {
        const slots = (second: string) => [series("redis_cluster_slots_ok", { ...redis, pod: "redis-cluster-0" }, "16384x30"), series("redis_cluster_slots_ok", { ...redis, pod: "redis-cluster-1" }, second)];
        return {
            firing: [{ name: "a node sees a master's slots failing", series: slots("10923x30"), evalTime: "10m", alerts: [{ namespace }] }],
            // A failover during a roll: slots unserved for under the 5 minutes.
            quiet: [
                { name: "every slot served", series: slots("16384x30"), evalTime: "10m" },
                { name: "a 2-minute gap during a failover", series: slots("16384x4 10923x1 16384x24"), evalTime: "10m" },
            ],
        };
    },
    HealthcareRedisNodeCountWrong: (rule) => {
        // The desired count is in the rule (redisNodes): a node that knows one fewer, or one more.
        const desired = Number(/!= (\d+)\)/.exec(rule.expr)![1]);
        const known = (second: number) => [series("redis_cluster_known_nodes", { ...redis, pod: "redis-cluster-0" }, `${desired}x30`), series("redis_cluster_known_nodes", { ...redis, pod: "redis-cluster-1" }, `${second}x30`)];
        return {
            firing: [
                { name: "a node came back empty (knows only itself)", series: known(1), evalTime: "20m", alerts: [{ namespace }] },
                { name: "a failed node still listed", series: known(desired + 1), evalTime: "20m", alerts: [{ namespace }] },
            ],
            quiet: [{ name: "every node knows every node", series: known(desired), evalTime: "20m" }],
        };
    },
    HealthcareRedisMasterWithoutReplica: () => {
        const node = (pod: string, role: string, replicas: number) => [
            series("redis_instance_info", { ...redis, pod, role }, "1x30"),
            series("redis_connected_slaves", { ...redis, pod }, `${replicas}x30`),
        ];
        return {
            firing: [{ name: "a master lost its replica", series: [...node("redis-cluster-0", "master", 0), ...node("redis-cluster-1", "master", 1), ...node("redis-cluster-3", "slave", 0)], evalTime: "20m", alerts: [{ ...redis, pod: "redis-cluster-0" }] }],
            // Replicas always report 0 connected replicas: only masters count.
            quiet: [{ name: "every master has one", series: [...node("redis-cluster-0", "master", 1), ...node("redis-cluster-3", "slave", 0)], evalTime: "20m" }],
        };
    },
    HealthcareRedisMemoryNearMax: () => {
        const node = (pod: string, used: number, max: number) => [
            series("redis_memory_used_bytes", { ...redis, pod }, `${used}x30`),
            series("redis_memory_max_bytes", { ...redis, pod }, `${max}x30`),
        ];
        return {
            firing: [{ name: "a node at 95% of maxmemory", series: [...node("redis-cluster-0", 95, 100), ...node("redis-cluster-1", 50, 100)], evalTime: "20m", alerts: [{ namespace, pod: "redis-cluster-0" }] }],
            quiet: [{ name: "at 80%, and a node without maxmemory", series: [...node("redis-cluster-0", 80, 100), ...node("redis-cluster-1", 95, 0)], evalTime: "20m" }],
        };
    },
    HealthcareRedisWritesRejected: () => {
        const node = { ...redis, pod: "redis-cluster-0" };
        return {
            firing: [
                { name: "OOM answers", series: [series("redis_errors_total", { ...node, err: "OOM" }, "0+5x30"), series("redis_evicted_keys_total", node, "0x30")], evalTime: "10m", alerts: [{ namespace, pod: "redis-cluster-0" }] },
                { name: "keys evicted", series: [series("redis_evicted_keys_total", node, "0+1x30")], evalTime: "10m", alerts: [{ namespace, pod: "redis-cluster-0" }] },
            ],
            quiet: [
                {
                    name: "old OOM answers, other errors, no eviction",
                    series: [series("redis_errors_total", { ...node, err: "OOM" }, "3x30"), series("redis_errors_total", { ...node, err: "ERR" }, "0+5x30"), series("redis_evicted_keys_total", node, "0x30")],
                    evalTime: "10m",
                },
            ],
        };
    },
    HealthcareVolumeFillingUp: (rule) => {
        const { selected, other } = claimsOf(rule.expr);
        return {
            firing: [{ name: "10% left on every watched volume", series: [...volumes(selected, 10), ...volumes([other], 1)], evalTime: "10m", alerts: selected.map((c) => ({ namespace, persistentvolumeclaim: c })) }],
            quiet: [{ name: "20% left", series: volumes(selected, 20), evalTime: "10m" }],
        };
    },
    HealthcareVolumeAlmostFull: (rule) => {
        const { selected, other } = claimsOf(rule.expr);
        return {
            firing: [{ name: "3% left on every watched volume", series: [...volumes(selected, 3), ...volumes([other], 1)], evalTime: "10m", alerts: selected.map((c) => ({ namespace, persistentvolumeclaim: c })) }],
            quiet: [{ name: "10% left (the warning's range)", series: volumes(selected, 10), evalTime: "10m" }],
        };
    },
    HealthcareTlsCertificateExpiring: (rule) => {
        const [, certNamespace, name] = /exported_namespace="([^"]+)", name="([^"]+)"/.exec(rule.expr)!;
        const metric = "certmanager_certificate_expiration_timestamp_seconds";
        const days = (n: number) => `${n * 86400}x180`;
        // Through a ServiceMonitor, cert-manager's namespace label becomes exported_namespace; scraped with honor_labels, it stays.
        const exported = { namespace: "cert-manager", exported_namespace: certNamespace, name, job: "cert-manager" };
        const honored = { namespace: certNamespace, name, job: "cert-manager" };
        return {
            firing: [
                { name: "5 days left", series: [series(metric, exported, days(5))], evalTime: "2h", alerts: [{ name }] },
                { name: "5 days left, scraped with honor_labels", series: [series(metric, honored, days(5))], evalTime: "2h", alerts: [{ name }] },
            ],
            quiet: [
                { name: "30 days left", series: [series(metric, exported, days(30))], evalTime: "2h" },
                { name: "another namespace's certificate of the same name expires", series: [series(metric, { ...exported, exported_namespace: "elsewhere" }, days(5))], evalTime: "2h" },
            ],
        };
    },
};

/** Every recording rule's scenario, by the series it records. */
export const recordingFixtures: Record<string, (rules: readonly RenderedRule[]) => RecordingFixture> = {
    http_requests_per_second: () => ({
        name: "two pods, 60 and 120 requests a minute",
        series: [
            series("http_requests_total", { ...api, pod: "api-0", method: "GET", route: "/appointments", code: "200" }, "0+60x30"),
            series("http_requests_total", { ...api, pod: "api-1", method: "GET", route: "/appointments", code: "200" }, "0+90x30"),
            series("http_requests_total", { ...api, pod: "api-1", method: "POST", route: "/appointments", code: "201" }, "0+30x30"),
        ],
        evalTime: "10m",
        samples: [
            { labels: { namespace, pod: "api-0" }, value: 1 },
            { labels: { namespace, pod: "api-1" }, value: 2 },
        ],
    }),
    active_appointments_count: () => ({
        name: "every pod reports 900 appointments: each gets its share",
        series: ["api-0", "api-1", "api-2"].map((pod) => series("healthcare_active_appointments", { ...api, pod }, "900x30")),
        evalTime: "10m",
        samples: ["api-0", "api-1", "api-2"].map((pod) => ({ labels: { namespace, pod }, value: 300 })),
    }),
    queue_depth: () => ({
        name: "two pods report the shared queue",
        series: ["api-0", "api-1"].map((pod) => series("healthcare_queue_depth", { ...api, pod, queue: "queue:appointment-reminders" }, "7x30")),
        evalTime: "10m",
        samples: [{ labels: { namespace, queue: "queue:appointment-reminders" }, value: 7 }],
    }),
    db_connection_pool_usage: (rules) => ({
        name: "50 of 100 usable connections on the fullest instance",
        series: connections(engineOf(rules), 50, 100),
        evalTime: "10m",
        samples: [{ labels: { namespace }, value: 0.5 }],
    }),
};
