import * as assert from "assert";
import { readFileSync } from "fs";
import * as path from "path";
import { parse } from "yaml";
import { alertingRules, prometheusAdapterRules, recordingRules, runbookAnchor } from "../components/monitoring";
import { apiMetrics, externalMetrics, hpaMetrics, recordedMetrics } from "../lib/metrics";
import { CapturedResource, ProgramRun, runProgram, runStack } from "../harness/mockProgram";
import { projectRoot, shippedStacks, stackConfig, onStatefulSetEngine } from "../harness/stackConfig";
import { anchorOf, anchorsOf } from "./support/markdown";
import { metricsIn, promqlError } from "./support/promql";
import { CLUSTER, NETWORK_POLICY, POD_MONITOR, POOLER, PROMETHEUS_RULE, SCHEDULED_BACKUP, SERVICE, SERVICE_MONITOR, STATEFUL_SET } from "./support/resourceTypes";

/** Staging on the statefulset engine (one server, no pooler; a VPA may size it): the exporter sidecar, its ServiceMonitor and the backup CronJob. */
const statefulSetStaging = (overrides: Record<string, unknown> = {}) =>
    stackConfig("staging", { ...onStatefulSetEngine, ...overrides });

const ns = 'namespace="healthcare-backend"';
/** The API's recording rules, expression by expression. */
const apiRecordings = {
    http_requests_per_second: `sum by (namespace, pod) (rate(http_requests_total{${ns}, job="healthcare-api"}[2m]))`,
    active_appointments_count:
        `sum by (namespace, pod) (healthcare_active_appointments{${ns}, job="healthcare-api"}) / on (namespace) group_left ` +
        `count by (namespace) (healthcare_active_appointments{${ns}, job="healthcare-api"})`,
    queue_depth: `max by (namespace, queue) (healthcare_queue_depth{${ns}, job="healthcare-api"})`,
};
/** The recording rules on the statefulset engine with exporters: connections from postgres_exporter. */
const recordings = {
    ...apiRecordings,
    db_connection_pool_usage:
        `sum by (namespace) (pg_stat_activity_count{${ns}, job="postgres"}) / on (namespace) ` +
        `max by (namespace) (pg_settings_max_connections{${ns}, job="postgres"} - pg_settings_superuser_reserved_connections{${ns}, job="postgres"})`,
};
/** PostgreSQL's series on cloudnative-pg: the instances' PodMonitor sets job="postgres". */
const pg = `${ns}, job="postgres"`;
/** The recording rules on cloudnative-pg: connections from the instance manager's metrics, the fullest instance. */
const cloudNativePgRecordings = {
    ...apiRecordings,
    db_connection_pool_usage:
        `max by (namespace) (sum by (namespace, pod) (cnpg_backends_total{${pg}}) / on (namespace, pod) ` +
        `(max by (namespace, pod) (cnpg_pg_settings_setting{${pg}, name="max_connections"}) - ` +
        `max by (namespace, pod) (cnpg_pg_settings_setting{${pg}, name="superuser_reserved_connections"})))`,
};
/** Redis's alerts with the exporters: six nodes with replicas (staging, production), or the local single node. */
const redisMemoryAlerts = ["HealthcareRedisMemoryNearMax", "HealthcareRedisWritesRejected"];
const redisAlertsReplicated = ["HealthcareRedisClusterNotOk", "HealthcareRedisSlotsNotServed", "HealthcareRedisNodeCountWrong", "HealthcareRedisMasterWithoutReplica", ...redisMemoryAlerts];
const redisAlertsSingleNode = ["HealthcareRedisClusterNotOk", "HealthcareRedisSlotsNotServed", ...redisMemoryAlerts];
/** The API's alerts, on every stack with an HPA. */
const apiAlerts = ["HealthcareApiHighErrorRate", "HealthcareApiDependencyDown", "HealthcareApiPodDependencyDown", "HealthcareApiTargetMissing", "HealthcareApiAtMaxReplicas"];
/** The volume alerts (kubelet's volume stats), on every stack. */
const volumeAlerts = ["HealthcareVolumeFillingUp", "HealthcareVolumeAlmostFull"];

/** The label matchers of every selector of `metric` in `expr`. */
const selectorsOf = (expr: string, metric: string) => [...expr.matchAll(new RegExp(`\\b${metric}\\{([^}]*)\\}`, "g"))].map((m) => m[1]);

const rulesOf = (run: ProgramRun) => run.get(PROMETHEUS_RULE, "healthcare-backend").inputs.spec.groups;
const alertsOf = (run: ProgramRun): Record<string, any> => Object.fromEntries(rulesOf(run)[1].rules.map((r: any) => [r.alert, r]));
const containerOf = (workload: CapturedResource, name: string) => workload.inputs.spec.template.spec.containers.find((c: any) => c.name === name);

/** Every rule's expression parses, every alert has a duration, a severity and both annotations. */
function assertWellFormedRules(run: ProgramRun): void {
    const groups = rulesOf(run);
    assert.deepStrictEqual(
        groups.map((g: any) => g.name),
        ["healthcare-backend.recording", "healthcare-backend.alerts"],
    );
    for (const group of groups) {
        for (const rule of group.rules) {
            assert.strictEqual(promqlError(rule.expr), undefined, `${rule.record ?? rule.alert}: ${rule.expr}`);
        }
    }
    for (const rule of groups[1].rules) {
        assert.match(rule.for, /^\d+m$/, rule.alert);
        assert.ok(["warning", "critical"].includes(rule.labels.severity), rule.alert);
        assert.ok(rule.annotations.summary && rule.annotations.description, rule.alert);
    }
}

describe("monitoring", () => {
    describe("the statefulset engine (Pulumi.staging.yaml with postgresEngine statefulset)", () => {
        let run: ProgramRun;
        before(async () => {
            run = await runStack(statefulSetStaging(), "staging");
        });

        it("records http_requests_per_second, active_appointments_count, db_connection_pool_usage and queue_depth", () => {
            const [recording] = rulesOf(run);
            assert.strictEqual(recording.name, "healthcare-backend.recording");
            assert.deepStrictEqual(
                Object.fromEntries(recording.rules.map((r: any) => [r.record, r.expr])),
                recordings,
            );
        });

        it("alerts on API errors, unreachable dependencies, the API at its replica ceiling, a missing backup (the CronJob's), database connections near exhaustion and a Redis Cluster not ok", () => {
            const [, alerts] = rulesOf(run);
            const byName = alertsOf(run);
            assert.deepStrictEqual(Object.keys(byName), [
                ...apiAlerts,
                "PostgresBackupMissing",
                "HealthcareDatabaseConnectionsNearExhaustion",
                "HealthcarePostgresDown",
                ...redisAlertsReplicated,
                ...volumeAlerts,
                "HealthcareTlsCertificateExpiring",
            ]);
            const api = `${ns}, job="healthcare-api"`;
            assert.strictEqual(byName.HealthcareApiDependencyDown.expr, `max by (namespace, dependency) (healthcare_dependency_up{${api}}) < 1`);
            assert.strictEqual(
                byName.HealthcareApiPodDependencyDown.expr,
                `(min by (namespace, pod, dependency) (healthcare_dependency_up{${api}}) < 1) unless on (namespace, dependency) ` +
                    `(max by (namespace, dependency) (healthcare_dependency_up{${api}}) < 1)`,
            );
            // Daily at 02:00: 1.5 x 24 h without a successful run, or a CronJob that never succeeded for as long.
            const cronJob = `${ns}, cronjob="postgres-backup"`;
            assert.strictEqual(
                byName.PostgresBackupMissing.expr,
                `time() - max by (namespace, cronjob) (kube_cronjob_status_last_successful_time{${cronJob}}) > 129600 or ` +
                    `(time() - max by (namespace, cronjob) (kube_cronjob_created{${cronJob}}) > 129600 ` +
                    `unless on (namespace, cronjob) kube_cronjob_status_last_successful_time{${cronJob}})`,
            );
            assert.strictEqual(byName.PostgresBackupMissing.labels.severity, "critical");
            assert.match(byName.HealthcareApiHighErrorRate.expr, /code=~"5\.\."\}\[5m\]\)\) \/ sum by \(namespace\) \(rate\(http_requests_total\{.*\}\[5m\]\)\) > 0\.05$/);
            assert.strictEqual(
                byName.HealthcareApiAtMaxReplicas.expr,
                `kube_horizontalpodautoscaler_status_current_replicas{${ns}, horizontalpodautoscaler="healthcare-api"} >= ` +
                    `kube_horizontalpodautoscaler_spec_max_replicas{${ns}, horizontalpodautoscaler="healthcare-api"}`,
            );
            assert.strictEqual(byName.HealthcareDatabaseConnectionsNearExhaustion.expr, `db_connection_pool_usage{${ns}} > 0.85`);
            assert.strictEqual(byName.HealthcareRedisClusterNotOk.expr, `min by (namespace) (redis_cluster_state{${ns}, job="redis-cluster"}) < 1`);
            // None of the operator's metrics: nothing here serves them.
            assert.ok(alerts.rules.every((r: any) => !/\b(cnpg|barman_cloud)_/.test(r.expr)), "no CloudNativePG metric on the statefulset engine");
        });

        it("writes every rule in valid PromQL, every alert with a duration, a severity and annotations", () => {
            assertWellFormedRules(run);
        });

        it("scrapes the API's metrics port and the PostgreSQL and Redis exporters through their own headless Services", () => {
            const monitors = Object.fromEntries(run.ofType(SERVICE_MONITOR).map((m) => [m.name, m.inputs]));
            const services: Record<string, [string, number]> = {
                "healthcare-api": ["healthcare-api-metrics", 9090],
                postgres: ["postgres-metrics", 9187],
                "redis-cluster": ["redis-cluster-metrics", 9121],
            };
            assert.deepStrictEqual(Object.keys(monitors).sort(), Object.keys(services).sort());
            for (const [name, [serviceName, port]] of Object.entries(services)) {
                const monitor = monitors[name];
                // The cluster's kube-prometheus-stack only picks up objects carrying its release label.
                assert.strictEqual(monitor.metadata.labels.release, "kube-prometheus-stack", name);
                assert.strictEqual(monitor.spec.jobLabel, "app.kubernetes.io/name");
                assert.deepStrictEqual(monitor.spec.namespaceSelector, { matchNames: ["healthcare-backend"] });
                assert.deepStrictEqual(
                    monitor.spec.endpoints.map((e: any) => [e.port, e.path]),
                    [["metrics", "/metrics"]],
                );
                const service = run.get(SERVICE, serviceName).inputs;
                assert.strictEqual(service.spec.clusterIP, "None");
                assert.deepStrictEqual(service.spec.ports, [{ name: "metrics", port, targetPort: "metrics", protocol: "TCP" }]);
                // The monitor selects exactly this Service among the stack's Services.
                const selected = run
                    .ofType(SERVICE)
                    .filter((s) => Object.entries(monitor.spec.selector.matchLabels).every(([k, v]) => s.inputs.metadata.labels?.[k] === v));
                assert.deepStrictEqual(selected.map((s) => s.name), [serviceName]);
                assert.strictEqual(service.metadata.labels["app.kubernetes.io/name"], name);
            }
            assert.strictEqual(run.get(PROMETHEUS_RULE, "healthcare-backend").inputs.metadata.labels.release, "kube-prometheus-stack");
            // PodMonitors are CloudNativePG's: the exporter's pod is scraped through its Service.
            assert.deepStrictEqual(run.ofType(POD_MONITOR), []);
        });

        it("runs pinned exporters as restricted sidecars that read credentials from the Secrets, never from argv", () => {
            const sidecars = [
                { workload: "postgres", image: "quay.io/prometheuscommunity/postgres-exporter:v0.20.1", port: 9187, secret: "postgres-exporter-credentials" },
                { workload: "redis-cluster", image: "oliver006/redis_exporter:v1.91.1", port: 9121, secret: "redis-credentials" },
            ];
            for (const { workload, image, port, secret } of sidecars) {
                const exporter = containerOf(run.get(STATEFUL_SET, workload), "exporter");
                assert.strictEqual(exporter.image, image);
                assert.deepStrictEqual(exporter.ports, [{ name: "metrics", containerPort: port, protocol: "TCP" }]);
                assert.strictEqual(exporter.args, undefined);
                assert.strictEqual(exporter.command, undefined);
                // From the Secret: mounted as files (PostgreSQL) or through the environment (Redis).
                const fromSecret = exporter.env.filter((e: any) => e.valueFrom?.secretKeyRef);
                const pod = run.get(STATEFUL_SET, workload).inputs.spec.template.spec;
                const mountedSecrets = (exporter.volumeMounts ?? []).map((m: any) => pod.volumes.find((v: any) => v.name === m.name)?.secret?.secretName);
                assert.ok([...fromSecret.map((e: any) => e.valueFrom.secretKeyRef.name), ...mountedSecrets].includes(secret), workload);
                assert.ok(fromSecret.every((e: any) => e.valueFrom.secretKeyRef.name === secret), workload);
                assert.deepStrictEqual(exporter.livenessProbe.httpGet, { path: "/metrics", port: "metrics" }, workload);
                assert.deepStrictEqual(exporter.readinessProbe.httpGet, { path: "/metrics", port: "metrics" }, workload);
                assert.ok(!JSON.stringify(exporter).includes("mock-secret"), `${workload}: no password in the spec`);
                assert.deepStrictEqual(exporter.securityContext, {
                    allowPrivilegeEscalation: false,
                    readOnlyRootFilesystem: true,
                    runAsNonRoot: true,
                    // Its own ids, not the data store's 999 (tests/least-privilege.test.ts).
                    runAsUser: 10002,
                    runAsGroup: 10002,
                    capabilities: { drop: ["ALL"] },
                    seccompProfile: { type: "RuntimeDefault" },
                });
                assert.ok(exporter.resources.limits.cpu && exporter.resources.limits.memory);
            }
            const postgresEnv = containerOf(run.get(STATEFUL_SET, "postgres"), "exporter").env;
            assert.deepStrictEqual(
                postgresEnv.map((e: any) => [e.name, e.value ?? e.valueFrom.secretKeyRef.key]),
                [
                    ["DATA_SOURCE_URI", "127.0.0.1:5432/healthcare?sslmode=disable"],
                    ["DATA_SOURCE_USER_FILE", "/run/secrets/postgres/username"],
                    ["DATA_SOURCE_PASS_FILE", "/run/secrets/postgres/password"],
                ],
            );
            // No credential of PostgreSQL's pod sits in an environment variable.
            const postgresPod = run.get(STATEFUL_SET, "postgres").inputs.spec.template.spec;
            assert.ok(!JSON.stringify(postgresPod.containers).includes("secretKeyRef"));
        });
    });

    for (const stack of ["staging", "production"] as const) {
        describe(`Pulumi.${stack}.yaml (cloudnative-pg)`, () => {
            let run: ProgramRun;
            let instances: number;
            before(async () => {
                run = await runStack(stackConfig(stack), stack);
                instances = run.get(CLUSTER, "postgres").inputs.spec.instances;
            });

            it("records the API's series and db_connection_pool_usage from the instance manager's backends and max_connections", () => {
                const [recording] = rulesOf(run);
                assert.strictEqual(recording.name, "healthcare-backend.recording");
                assert.deepStrictEqual(Object.fromEntries(recording.rules.map((r: any) => [r.record, r.expr])), cloudNativePgRecordings);
            });

            it("alerts on PostgreSQL down, a missing instance, replication lag, no streaming standby, WAL archiving failing, an old base backup and a fenced instance, from the operator's metrics", () => {
                const byName = alertsOf(run);
                assert.deepStrictEqual(Object.keys(byName), [
                    ...apiAlerts,
                    "PostgresBackupMissing",
                    "HealthcareDatabaseConnectionsNearExhaustion",
                    "HealthcarePostgresDown",
                    "HealthcarePostgresInstanceMissing",
                    "HealthcarePostgresReplicationLag",
                    "HealthcarePostgresNoStreamingStandby",
                    "HealthcarePostgresWalArchivingFailing",
                    "HealthcarePostgresFenced",
                    ...redisAlertsReplicated,
                    ...volumeAlerts,
                    "HealthcareTlsCertificateExpiring",
                ]);
                assert.ok(instances > 1, "the shipped stacks run standbys");
                const expected: Record<string, [string, string, string]> = {
                    // Daily at 02:00: 1.5 x 24 h since the newest base backup the plugin reports, or no instance reporting one.
                    PostgresBackupMissing: [
                        `time() - max by (namespace) (barman_cloud_cloudnative_pg_io_last_available_backup_timestamp{${pg}}) > 129600 or ` +
                            `absent(barman_cloud_cloudnative_pg_io_last_available_backup_timestamp{${pg}})`,
                        "5m",
                        "critical",
                    ],
                    HealthcareDatabaseConnectionsNearExhaustion: [`db_connection_pool_usage{${ns}} > 0.85`, "5m", "warning"],
                    HealthcarePostgresDown: [
                        `(max by (namespace, pod) (cnpg_collector_up{${pg}}) < 1 unless on (namespace, pod) (cnpg_collector_fencing_on{${pg}} == 1)) ` +
                            `or max by (namespace, pod) (up{${pg}}) < 1 or absent(up{${pg}})`,
                        "2m",
                        "critical",
                    ],
                    HealthcarePostgresInstanceMissing: [`count by (namespace) (up{${pg}}) < ${instances}`, "10m", "warning"],
                    HealthcarePostgresReplicationLag: [`max by (namespace, pod) (cnpg_pg_replication_lag{${pg}}) > 300`, "5m", "warning"],
                    HealthcarePostgresNoStreamingStandby: [
                        `max by (namespace, pod) (cnpg_pg_replication_streaming_replicas{${pg}}) < 1 and ` +
                            `on (namespace, pod) (max by (namespace, pod) (cnpg_pg_replication_in_recovery{${pg}}) == 0)`,
                        "5m",
                        "critical",
                    ],
                    // The operator's sample alert LastFailedArchiveTime, scoped to this stack's instances.
                    HealthcarePostgresWalArchivingFailing: [
                        `(cnpg_pg_stat_archiver_last_failed_time{${pg}} - cnpg_pg_stat_archiver_last_archived_time{${pg}}) > 1 ` +
                            `and on (namespace, pod) cnpg_pg_replication_in_recovery{${pg}} == 0`,
                        "5m",
                        "critical",
                    ],
                    HealthcarePostgresFenced: [`max by (namespace, pod) (cnpg_collector_fencing_on{${pg}}) == 1`, "5m", "warning"],
                };
                for (const [alert, [expr, duration, severity]] of Object.entries(expected)) {
                    assert.deepStrictEqual([byName[alert].expr, byName[alert].for, byName[alert].labels.severity], [expr, duration, severity], alert);
                }
                // Nothing of the statefulset engine: no exporter, no CronJob.
                for (const rule of Object.values(byName)) {
                    assert.ok(!/\bpg_(stat_activity_count|settings_max_connections)\b|kube_cronjob_/.test(rule.expr), `${rule.alert}: ${rule.expr}`);
                }
                // The backup alert exists because base backups are scheduled.
                assert.strictEqual(run.ofType(SCHEDULED_BACKUP).length, 1);
            });

            it("writes every rule in valid PromQL, every alert with a duration, a severity and annotations", () => {
                assertWellFormedRules(run);
            });

            it("reads PostgreSQL's series only from the job the instances' PodMonitor sets", () => {
                const monitor = run.get(POD_MONITOR, "postgres").inputs;
                const relabeled = monitor.spec.podMetricsEndpoints.map((e: any) => e.relabelings.find((r: any) => r.targetLabel === "job")?.replacement);
                assert.deepStrictEqual(relabeled, ["postgres"]);
                const metrics = /\b((?:cnpg|barman_cloud)_[a-z_]+|up)\{/g;
                let selectors = 0;
                for (const group of rulesOf(run)) {
                    for (const rule of group.rules) {
                        for (const [, metric] of rule.expr.matchAll(metrics)) {
                            // `up` of another workload (the API's scrape target) is that workload's.
                            for (const matchers of selectorsOf(rule.expr, metric).filter((m) => metric !== "up" || !/job="healthcare-api"/.test(m))) {
                                assert.ok(matchers.startsWith(`${ns}, job="${relabeled[0]}"`), `${rule.record ?? rule.alert}: ${metric}{${matchers}}`);
                                selectors += 1;
                            }
                        }
                    }
                }
                assert.ok(selectors > 10, `found ${selectors} selectors`);
            });

            it("scrapes the instances and the pooler with PodMonitors on the operator's labels, and PostgreSQL through no metrics Service or ServiceMonitor", () => {
                assert.deepStrictEqual(run.ofType(SERVICE_MONITOR).map((m) => m.name).sort(), ["healthcare-api", "redis-cluster"]);
                assert.deepStrictEqual(run.ofType(SERVICE).map((s) => s.name).filter((name) => name.startsWith("postgres")), []);
                const monitors = Object.fromEntries(run.ofType(POD_MONITOR).map((m) => [m.name, m.inputs]));
                assert.deepStrictEqual(Object.keys(monitors).sort(), ["postgres", "postgres-pooler"]);
                assert.ok(run.get(CLUSTER, "postgres"));
                assert.strictEqual(run.get(POOLER, "postgres-pooler").inputs.metadata.name, "postgres-pooler");
                // Every Cluster's instances (a point-in-time recovery's beside the serving one), by their pod
                // role: pooler pods carry cnpg.io/cluster too, and the role pooler.
                const expected: Record<string, { selector: Record<string, string>; job: string; port: number }> = {
                    postgres: { selector: { "cnpg.io/podRole": "instance" }, job: "postgres", port: 9187 },
                    // Every Pooler's pods (<cluster>-pooler): a switch to a recovered Cluster brings a new one.
                    "postgres-pooler": { selector: { "cnpg.io/podRole": "pooler" }, job: "postgres-pooler", port: 9127 },
                };
                const policies = run.ofType(NETWORK_POLICY).map((p) => p.inputs.spec);
                for (const [name, { selector, job, port }] of Object.entries(expected)) {
                    const monitor = monitors[name];
                    assert.strictEqual(monitor.metadata.labels.release, "kube-prometheus-stack", name);
                    assert.deepStrictEqual(monitor.spec.selector, { matchLabels: selector }, name);
                    assert.deepStrictEqual(monitor.spec.namespaceSelector, { matchNames: ["healthcare-backend"] }, name);
                    assert.deepStrictEqual(
                        monitor.spec.podMetricsEndpoints.map((e: any) => [e.port, e.path, e.relabelings]),
                        [["metrics", "/metrics", [{ action: "replace", targetLabel: "job", replacement: job }]]],
                        name,
                    );
                    // Prometheus may reach the port it scrapes: the policies of these very pods admit it there, and only there.
                    const ingress = policies.filter((p) => JSON.stringify(p.podSelector.matchLabels) === JSON.stringify(selector)).flatMap((p) => p.ingress ?? []);
                    const fromPrometheus = ingress.filter((rule: any) => rule.from?.some((f: any) => f.podSelector?.matchLabels?.["app.kubernetes.io/name"] === "prometheus"));
                    assert.deepStrictEqual(fromPrometheus.flatMap((rule: any) => rule.ports.map((p: any) => p.port)), [port], name);
                }
            });

            it("runs no exporter sidecar for PostgreSQL (the instance manager serves its metrics); Redis keeps its exporter", () => {
                assert.deepStrictEqual(run.ofType(STATEFUL_SET).map((s) => s.name), ["redis-cluster"]);
                const cluster = run.get(CLUSTER, "postgres").inputs;
                assert.ok(!JSON.stringify(cluster).includes("postgres-exporter"));
                assert.strictEqual(cluster.spec.monitoring?.enablePodMonitor, undefined, "the deprecated operator-made PodMonitor stays off");
                assert.strictEqual(containerOf(run.get(STATEFUL_SET, "redis-cluster"), "exporter").image, "oliver006/redis_exporter:v1.91.1");
            });
        });
    }

    it("on cloudnative-pg, PostgreSQL's PodMonitors and rules do not depend on the exporters (Redis's do)", async () => {
        const run = await runStack(stackConfig("staging", { metricsExportersEnabled: false }), "staging");
        assert.deepStrictEqual(run.ofType(SERVICE_MONITOR).map((m) => m.name), ["healthcare-api"]);
        assert.deepStrictEqual(run.ofType(POD_MONITOR).map((m) => m.name).sort(), ["postgres", "postgres-pooler"]);
        const [recording] = rulesOf(run);
        assert.strictEqual(recording.rules.find((r: any) => r.record === "db_connection_pool_usage")?.expr, cloudNativePgRecordings.db_connection_pool_usage);
        const alerts = Object.keys(alertsOf(run));
        assert.ok(alerts.includes("HealthcareDatabaseConnectionsNearExhaustion") && alerts.includes("HealthcarePostgresDown"), alerts.join(", "));
        assert.ok(!alerts.some((a) => a.startsWith("HealthcareRedis")), alerts.join(", "));
    });

    it("alerts on a Redis master without a replica, a node count other than the StatefulSet's and slots not served, from the exporters", async () => {
        const byName = alertsOf(await runStack(stackConfig("production"), "production"));
        const redis = `${ns}, job="redis-cluster"`;
        const expected: Record<string, [string, string, string]> = {
            HealthcareRedisSlotsNotServed: [`min by (namespace) (redis_cluster_slots_ok{${redis}}) < 16384`, "5m", "critical"],
            // Six nodes in production: every node must know exactly six.
            HealthcareRedisNodeCountWrong: [`count by (namespace) (redis_cluster_known_nodes{${redis}} != 6) > 0`, "15m", "warning"],
            HealthcareRedisMasterWithoutReplica: [
                `(redis_connected_slaves{${redis}} == 0) and on (namespace, pod) (redis_instance_info{${redis}, role="master"})`,
                "10m",
                "warning",
            ],
        };
        for (const [alert, [expr, duration, severity]] of Object.entries(expected)) {
            assert.deepStrictEqual([byName[alert]?.expr, byName[alert]?.for, byName[alert]?.labels.severity], [expr, duration, severity], alert);
        }
        // A node count change moves the figure with it.
        const eight = alertsOf(await runStack(stackConfig("production", { redisNodes: 8 }), "production"));
        assert.match(eight.HealthcareRedisNodeCountWrong.expr, /!= 8\) > 0$/);
    });

    it("a single-instance Cluster without pooler or backups: one PodMonitor, no standby, replication, archiving or backup alert", async () => {
        const run = await runStack(
            stackConfig("local", { postgresEngine: "cloudnative-pg", installCloudNativePg: true, postgresInstances: 1, postgresPoolerInstances: 0, vpaPostgresMode: "Off" }),
            "local",
        );
        assert.strictEqual(run.get(CLUSTER, "postgres").inputs.spec.instances, 1);
        assert.deepStrictEqual(run.ofType(POOLER), []);
        assert.deepStrictEqual(run.ofType(SCHEDULED_BACKUP), []);
        assert.deepStrictEqual(run.ofType(POD_MONITOR).map((m) => m.name), ["postgres"]);
        assert.deepStrictEqual(Object.keys(alertsOf(run)), [
            ...apiAlerts,
            "HealthcareDatabaseConnectionsNearExhaustion",
            "HealthcarePostgresDown",
            "HealthcarePostgresFenced",
            ...redisAlertsSingleNode,
            ...volumeAlerts,
        ]);
        assertWellFormedRules(run);
    });

    describe("the alerts an on-call engineer expects: the API's scrape target, PostgreSQL down, filling volumes, Redis memory and rejected writes, the TLS certificate", () => {
        const api = `${ns}, job="healthcare-api"`;
        const redis = `${ns}, job="redis-cluster"`;
        /** The volume alerts' expression over these PVC patterns, below the share left. */
        const volumeExpr = (claims: string, share: number) => {
            const sel = `${ns}, persistentvolumeclaim=~"${claims}"`;
            return `max by (namespace, persistentvolumeclaim) (kubelet_volume_stats_available_bytes{${sel}} / kubelet_volume_stats_capacity_bytes{${sel}}) < ${share}`;
        };

        it("on the statefulset engine: the exporter's pg_up, the data, backup and Redis volumes, the platform's certificate", async () => {
            const byName = alertsOf(await runStack(statefulSetStaging(), "staging"));
            const pgSel = `${ns}, job="postgres"`;
            const expected: Record<string, [string, string, string]> = {
                HealthcareApiTargetMissing: [`absent(up{${api}}) or max by (namespace, job) (up{${api}}) < 1`, "5m", "critical"],
                HealthcarePostgresDown: [`max by (namespace, pod) (pg_up{${pgSel}}) < 1 or max by (namespace, pod) (up{${pgSel}}) < 1 or absent(up{${pgSel}})`, "2m", "critical"],
                HealthcareRedisMemoryNearMax: [`max by (namespace, pod) (redis_memory_used_bytes{${redis}} / (redis_memory_max_bytes{${redis}} > 0)) > 0.9`, "10m", "warning"],
                HealthcareRedisWritesRejected: [
                    `sum by (namespace, pod) (increase(redis_errors_total{${redis}, err="OOM"}[5m])) > 0 or sum by (namespace, pod) (increase(redis_evicted_keys_total{${redis}}[5m])) > 0`,
                    "1m",
                    "critical",
                ],
                HealthcareVolumeFillingUp: [volumeExpr("data-postgres-[0-9]+|postgres-backups|data-redis-cluster-[0-9]+", 0.15), "5m", "warning"],
                HealthcareVolumeAlmostFull: [volumeExpr("data-postgres-[0-9]+|postgres-backups|data-redis-cluster-[0-9]+", 0.05), "5m", "critical"],
                // Pulumi.staging.yaml names the platform Gateway's Certificate; either namespace label cert-manager's scrape leaves.
                HealthcareTlsCertificateExpiring: [
                    `min by (name) (certmanager_certificate_expiration_timestamp_seconds{exported_namespace="gateway-system", name="api-staging-tls"} or ` +
                        `certmanager_certificate_expiration_timestamp_seconds{namespace="gateway-system", name="api-staging-tls"}) - time() < 1209600`,
                    "60m",
                    "warning",
                ],
            };
            for (const [alert, [expr, duration, severity]] of Object.entries(expected)) {
                assert.deepStrictEqual([byName[alert]?.expr, byName[alert]?.for, byName[alert]?.labels.severity], [expr, duration, severity], alert);
            }
        });

        it("on cloudnative-pg: each instance's data and WAL volume, no dump volume; production's WAL volumes", async () => {
            const staging = alertsOf(await runStack(stackConfig("staging"), "staging"));
            const production = alertsOf(await runStack(stackConfig("production"), "production"));
            // Staging keeps WAL on the data volume; production gives it a volume of its own (postgresWalStorageSize).
            assert.strictEqual(staging.HealthcareVolumeFillingUp.expr, volumeExpr("(postgres)-[0-9]+|data-redis-cluster-[0-9]+", 0.15));
            assert.strictEqual(production.HealthcareVolumeFillingUp.expr, volumeExpr("(postgres)-[0-9]+|(postgres)-[0-9]+-wal|data-redis-cluster-[0-9]+", 0.15));
            assert.match(production.HealthcareTlsCertificateExpiring.expr, /name="api-production-tls"/);
            assert.match(production.HealthcarePostgresDown.expr, /cnpg_collector_up/);
        });

        it("the TLS alert watches the stack's own certificate when its issuer makes one, none otherwise; a bad monitoringCertificate is refused", async () => {
            const local = alertsOf(await runStack(stackConfig("local"), "local"));
            assert.strictEqual(local.HealthcareTlsCertificateExpiring, undefined, "local serves plain HTTP");
            const localTls = alertsOf(await runStack(stackConfig("local", { ingressTlsEnabled: true, ingressClusterIssuer: "selfsigned" }), "local"));
            assert.match(localTls.HealthcareTlsCertificateExpiring.expr, /exported_namespace="healthcare-backend", name="healthcare-api-tls"/);
            const unnamed = alertsOf(await runStack(stackConfig("production", { monitoringCertificate: "" }), "production"));
            assert.strictEqual(unnamed.HealthcareTlsCertificateExpiring, undefined, "the platform's certificate is unknown unless named");
            const { error, resources } = await runProgram(stackConfig("production", { monitoringCertificate: "api-production-tls" }), "production");
            assert.match(String(error?.message), /monitoringCertificate/);
            assert.deepStrictEqual(resources, []);
        });
    });

    it("the backup alert's age is 1.5 times the schedule's longest gap, on either engine", async () => {
        const sixHourly = { postgresBackupSchedule: "0 */6 * * *" };
        const cnpg = alertsOf(await runStack(stackConfig("staging", sixHourly), "staging")).PostgresBackupMissing.expr;
        assert.match(cnpg, /^time\(\) - max by \(namespace\) \(barman_cloud_cloudnative_pg_io_last_available_backup_timestamp\{[^}]*\}\) > 32400 or absent\(/);
        const statefulSet = alertsOf(await runStack(statefulSetStaging(sixHourly), "staging")).PostgresBackupMissing.expr;
        assert.strictEqual(statefulSet.match(/> 32400/g)?.length, 2, statefulSet);
        assert.match(statefulSet, /kube_cronjob_status_last_successful_time\{namespace="healthcare-backend", cronjob="postgres-backup"\}/);
    });

    it("the prometheus-adapter rules serve exactly the HPA's per-pod metrics, from the recorded series", async () => {
        const rules = prometheusAdapterRules();
        assert.deepStrictEqual(rules, [
            {
                seriesQuery: 'http_requests_per_second{namespace!="",pod!=""}',
                resources: { overrides: { namespace: { resource: "namespace" }, pod: { resource: "pod" } } },
                name: { matches: "^http_requests_per_second$", as: "http_requests_per_second" },
                metricsQuery: "sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)",
            },
            {
                seriesQuery: 'active_appointments_count{namespace!="",pod!=""}',
                resources: { overrides: { namespace: { resource: "namespace" }, pod: { resource: "pod" } } },
                name: { matches: "^active_appointments_count$", as: "active_appointments_count" },
                metricsQuery: "sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)",
            },
        ]);
        const run = await runStack(stackConfig("production"), "production");
        const hpaMetrics = run
            .get("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "healthcare-api")
            .inputs.spec.metrics.filter((m: any) => m.type === "Pods")
            .map((m: any) => m.pods.metric.name);
        assert.deepStrictEqual(rules.map((r) => r.name.as), hpaMetrics);
        const recorded = rulesOf(run)[0].rules.map((r: any) => r.record);
        for (const rule of rules) {
            assert.ok(recorded.includes(rule.name.as), `${rule.name.as} is recorded by the PrometheusRule`);
            assert.strictEqual(promqlError(rule.seriesQuery), undefined, rule.seriesQuery);
            // Per pod: the recorded series keep the labels the adapter maps to namespace and pod.
            const recording = recordingRules({ namespace: "healthcare-backend", exporters: true, postgres: { engine: "statefulset" } }).find((r) => r.record === rule.name.as)!;
            assert.match(recording.expr, /^sum by \(namespace, pod\) /);
        }
    });

    it("docs/monitoring.md documents the same prometheus-adapter rules, for platforms that run their own adapter", () => {
        const page = readFileSync(path.join(projectRoot, "docs", "monitoring.md"), "utf8");
        const start = page.indexOf("\n## prometheus-adapter rules\n");
        assert.ok(start >= 0, "docs/monitoring.md has the section");
        const block = /```yaml\n([\s\S]*?)```/.exec(page.slice(start));
        assert.ok(block, "docs/monitoring.md has the rules as YAML");
        assert.deepStrictEqual(parse(block[1]).rules.custom, prometheusAdapterRules());
    });

    it("the local stack with monitoring on but no exporters scrapes the API only, and drops the rules that need exporters", async () => {
        const run = await runStack(stackConfig("local", { monitoringEnabled: true, metricsExportersEnabled: false }), "local");
        assert.deepStrictEqual(run.ofType(SERVICE_MONITOR).map((m) => m.name), ["healthcare-api"]);
        assert.strictEqual(run.get(SERVICE_MONITOR, "healthcare-api").inputs.metadata.labels.release, undefined);
        const [recording, alerts] = rulesOf(run);
        assert.deepStrictEqual(recording.rules.map((r: any) => r.record), ["http_requests_per_second", "active_appointments_count", "queue_depth"]);
        // The local stack takes no scheduled backups: no backup alert either.
        assert.deepStrictEqual(alerts.rules.map((r: any) => r.alert), [...apiAlerts, ...volumeAlerts]);
        for (const workload of ["postgres", "redis-cluster"]) {
            assert.strictEqual(containerOf(run.get("kubernetes:apps/v1:StatefulSet", workload), "exporter"), undefined, workload);
        }
    });

    describe("runbooks: every alert links to its section of docs/runbooks.md", () => {
        const page = readFileSync(path.join(projectRoot, "docs", "runbooks.md"), "utf8");
        /** Each section's text, by its heading's anchor. */
        const sections = new Map(
            page
                .split(/^## /m)
                .slice(1)
                .map((section) => [anchorOf(section.slice(0, section.indexOf("\n")).trim()), section] as const),
        );
        const variants: Array<[string, () => Promise<ProgramRun>]> = [
            ...shippedStacks.map((stack): [string, () => Promise<ProgramRun>] => [`Pulumi.${stack}.yaml`, () => runStack(stackConfig(stack), stack)]),
            ["staging on the statefulset engine", () => runStack(statefulSetStaging(), "staging")],
        ];
        for (const [variant, run] of variants) {
            it(`${variant}: runbook_url is docs/runbooks.md#<the alert's section>, and that section says what it means, how to confirm, what to do and when it is over`, async () => {
                const alerts = Object.values(alertsOf(await run()));
                assert.ok(alerts.length >= 4, variant);
                for (const rule of alerts) {
                    const url = rule.annotations.runbook_url;
                    assert.strictEqual(url, `docs/runbooks.md#${rule.alert.toLowerCase()}`, rule.alert);
                    const anchor = url.split("#")[1];
                    assert.ok(anchorsOf(page).has(anchor), `docs/runbooks.md has a heading for ${rule.alert} (#${anchor})`);
                    for (const part of ["**What it means.**", "**Confirm.**", "**What to do.**", "**Over when.**"]) {
                        assert.ok(sections.get(anchor)!.includes(part), `docs/runbooks.md#${anchor} has ${part}`);
                    }
                }
            });
        }

        it("monitoringRunbookUrl moves every link to where the team reads the page; a URL with a fragment is refused", async () => {
            const base = "https://git.example.com/clinic/healthcare-backend/blob/main/docs/runbooks.md";
            const alerts = Object.values(alertsOf(await runStack(stackConfig("production", { monitoringRunbookUrl: base }), "production")));
            assert.deepStrictEqual(
                alerts.map((r) => r.annotations.runbook_url),
                alerts.map((r) => `${base}#${r.alert.toLowerCase()}`),
            );
            const { error, resources } = await runProgram(stackConfig("production", { monitoringRunbookUrl: `${base}#top` }), "production");
            assert.match(String(error?.message), /monitoringRunbookUrl/);
            assert.deepStrictEqual(resources, []);
        });

        it("every section of docs/runbooks.md belongs to an alert some variant renders (no stale runbook)", async () => {
            const rendered = new Set<string>();
            for (const [, run] of variants) {
                for (const alert of Object.keys(alertsOf(await run()))) {
                    rendered.add(runbookAnchor(alert));
                }
            }
            assert.deepStrictEqual([...sections.keys()].filter((anchor) => !rendered.has(anchor)), []);
        });
    });

    it("the parser used here does catch PromQL errors", () => {
        assert.notStrictEqual(promqlError("sum(rate(http_requests_total[5m]) /"), undefined);
        assert.notStrictEqual(promqlError('up{job="a"'), undefined);
        assert.strictEqual(alertingRules({ namespace: "x", exporters: false, postgres: { engine: "statefulset" } }).length, 4);
        // A broken rule would be caught: the rules test parses every one.
        const cloudNativePg = alertingRules({ namespace: "x", exporters: false, postgres: { engine: "cloudnative-pg", instances: 3, backup: { longestGapSeconds: 3600 } } });
        assert.notStrictEqual(promqlError(cloudNativePg.find((r) => r.alert === "HealthcarePostgresDown")!.expr.replace(/\)$/, "")), undefined);
    });
});

describe("the metric contract: every metric a rule, a dashboard or the adapter reads has a source", () => {
    const declaredByApi = () => {
        const source = readFileSync(path.join(projectRoot, "app", "src", "metrics.ts"), "utf8");
        const declared = [...source.matchAll(/name: "([a-z_]+)"/g)].map((m) => m[1]);
        // A histogram's series: <name>_bucket, _sum, _count.
        return new Set(declared.flatMap((name) => [name, `${name}_bucket`, `${name}_sum`, `${name}_count`]));
    };
    /** Who reads each metric: rule, dashboard panel or adapter rule, over every shipped stack and staging on the statefulset engine. */
    const readers = async () => {
        const read = new Map<string, string[]>();
        const note = (expr: string, reader: string) => {
            for (const metric of metricsIn(expr)) {
                read.set(metric, [...(read.get(metric) ?? []), reader]);
            }
        };
        const runs = [
            ...shippedStacks.map((stack) => runStack(stackConfig(stack), stack)),
            runStack(statefulSetStaging(), "staging"),
        ];
        for (const run of await Promise.all(runs)) {
            for (const group of rulesOf(run)) {
                for (const rule of group.rules) {
                    note(rule.expr, `rule ${rule.record ?? rule.alert}`);
                }
            }
            for (const configMap of run.ofType("kubernetes:core/v1:ConfigMap").filter((c) => c.inputs.metadata.labels?.grafana_dashboard === "1")) {
                const [json] = Object.values(configMap.inputs.data as Record<string, string>);
                for (const panel of JSON.parse(json).panels) {
                    for (const target of panel.targets) {
                        note(target.expr, `dashboard ${configMap.name}: ${panel.title}`);
                    }
                }
            }
        }
        for (const rule of prometheusAdapterRules()) {
            note(rule.seriesQuery, `adapter rule ${rule.name.as}`);
        }
        return read;
    };

    it("every selector names a metric the stand-in API declares, a recording rule records, or lib/metrics.ts' externalMetrics lists with what serves it; every listed one is read", async () => {
        const api = declaredByApi();
        const recorded = new Set<string>([...Object.values(hpaMetrics), ...Object.values(recordedMetrics)]);
        const read = await readers();
        const unknown = [...read.entries()].filter(([metric]) => !api.has(metric) && !recorded.has(metric) && !(metric in externalMetrics));
        assert.deepStrictEqual(unknown, [], "metrics read with no source: a name changed in one place only");
        assert.deepStrictEqual(Object.keys(externalMetrics).filter((metric) => !read.has(metric)), [], "listed metrics nobody reads");
        assert.ok(read.size > 40, `found ${read.size} metrics`);
    });

    it("the check catches a metric renamed in one place only", () => {
        assert.deepStrictEqual(metricsIn('sum by (pod) (rate(redis_errors_total{err="OOM"}[5m])) / on (pod) group_left up and absent(pg_up)'), ["redis_errors_total", "up", "pg_up"]);
        // The rule's name for Redis's memory renamed, the list and the exporter unchanged: not a known metric.
        const renamed = metricsIn(alertingRules({ namespace: "x", exporters: true, postgres: { engine: "statefulset" } }).find((r) => r.alert === "HealthcareRedisMemoryNearMax")!.expr.replace("redis_memory_used_bytes", "redis_used_memory_bytes"));
        assert.ok(renamed.some((metric) => !(metric in externalMetrics)), renamed.join(", "));
    });
});

describe("the API's metrics contract", () => {
    it("is what the stand-in API (app/) exposes: the metric names and the code label the rules read", () => {
        const source = readFileSync(path.join(projectRoot, "app", "src", "metrics.ts"), "utf8");
        const declared = [...source.matchAll(/name: "([a-z_]+)"/g)].map((m) => m[1]);
        for (const metric of Object.values(apiMetrics)) {
            assert.ok(declared.includes(metric), `app/src/metrics.ts declares ${metric} (declares ${declared.join(", ")})`);
        }
        // The error-rate alert selects code=~"5..".
        assert.match(source, /name: "http_requests_total",[\s\S]*?labelNames: \[[^\]]*"code"/);
        // No recorded name may also be a scraped one: the rule would collide with its own source.
        for (const recorded of [...Object.values(hpaMetrics), ...Object.values(recordedMetrics)]) {
            assert.ok(!declared.includes(recorded), `app/src/metrics.ts must not expose the recorded series ${recorded}`);
        }
    });
});
