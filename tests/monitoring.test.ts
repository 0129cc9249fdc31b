import { parser } from "@prometheus-io/lezer-promql";
import * as assert from "assert";
import { readFileSync } from "fs";
import * as path from "path";
import { parse } from "yaml";
import { alertingRules, prometheusAdapterRules, recordingRules } from "../components/monitoring";
import { apiMetrics, hpaMetrics, recordedMetrics } from "../lib/metrics";
import { CapturedResource, ProgramRun, runStack } from "../harness/mockProgram";
import { projectRoot, stackConfig } from "../harness/stackConfig";

const SERVICE_MONITOR = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor";
const PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule";
const SERVICE = "kubernetes:core/v1:Service";

/** Where the PromQL parser (the one Prometheus' own UI uses) finds a syntax error, or undefined. */
function promqlError(expr: string): string | undefined {
    let error: string | undefined;
    parser.parse(expr).iterate({
        enter(node) {
            if (node.type.isError && error === undefined) {
                error = `at ${node.from}: ${JSON.stringify(expr.slice(Math.max(0, node.from - 20), node.from + 20))}`;
            }
        },
    });
    return error;
}

const ns = 'namespace="healthcare-backend"';
/** The recording rules, expression by expression. */
const recordings = {
    http_requests_per_second: `sum by (namespace, pod) (rate(http_requests_total{${ns}, job="healthcare-api"}[2m]))`,
    active_appointments_count:
        `sum by (namespace, pod) (healthcare_active_appointments{${ns}, job="healthcare-api"}) / on (namespace) group_left ` +
        `count by (namespace) (healthcare_active_appointments{${ns}, job="healthcare-api"})`,
    queue_depth: `max by (namespace, queue) (healthcare_queue_depth{${ns}, job="healthcare-api"})`,
    db_connection_pool_usage:
        `sum by (namespace) (pg_stat_activity_count{${ns}, job="postgres"}) / on (namespace) ` +
        `max by (namespace) (pg_settings_max_connections{${ns}, job="postgres"} - pg_settings_superuser_reserved_connections{${ns}, job="postgres"})`,
};

const rulesOf = (run: ProgramRun) => run.get(PROMETHEUS_RULE, "healthcare-backend").inputs.spec.groups;
const containerOf = (workload: CapturedResource, name: string) => workload.inputs.spec.template.spec.containers.find((c: any) => c.name === name);

describe("monitoring", () => {
    for (const stack of ["staging", "production"]) {
        describe(`Pulumi.${stack}.yaml`, () => {
            let run: ProgramRun;
            before(async () => {
                run = await runStack(stackConfig(stack), stack);
            });

            it("records http_requests_per_second, active_appointments_count, db_connection_pool_usage and queue_depth", () => {
                const [recording] = rulesOf(run);
                assert.strictEqual(recording.name, "healthcare-backend.recording");
                assert.deepStrictEqual(
                    Object.fromEntries(recording.rules.map((r: any) => [r.record, r.expr])),
                    recordings,
                );
            });

            it("alerts on API errors, unreachable dependencies, the API at its replica ceiling, a missing backup, database connections near exhaustion and a Redis Cluster not ok", () => {
                const [, alerts] = rulesOf(run);
                const byName = Object.fromEntries(alerts.rules.map((r: any) => [r.alert, r]));
                assert.deepStrictEqual(Object.keys(byName), [
                    "HealthcareApiHighErrorRate",
                    "HealthcareApiDependencyDown",
                    "HealthcareApiPodDependencyDown",
                    "HealthcareApiAtMaxReplicas",
                    "PostgresBackupMissing",
                    "HealthcareDatabaseConnectionsNearExhaustion",
                    "HealthcareRedisClusterNotOk",
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
                for (const rule of alerts.rules) {
                    assert.match(rule.for, /^\d+m$/, rule.alert);
                    assert.ok(["warning", "critical"].includes(rule.labels.severity), rule.alert);
                    assert.ok(rule.annotations.summary && rule.annotations.description, rule.alert);
                }
            });

            it("writes every rule in valid PromQL", () => {
                for (const group of rulesOf(run)) {
                    for (const rule of group.rules) {
                        assert.strictEqual(promqlError(rule.expr), undefined, `${rule.record ?? rule.alert}: ${rule.expr}`);
                    }
                }
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
            });

            it("runs pinned exporters as restricted sidecars that read credentials from the Secrets, never from argv", () => {
                const sidecars = [
                    { workload: "postgres", image: "quay.io/prometheuscommunity/postgres-exporter:v0.20.1", port: 9187, secret: "postgres-exporter-credentials" },
                    { workload: "redis-cluster", image: "oliver006/redis_exporter:v1.91.1", port: 9121, secret: "redis-credentials" },
                ];
                for (const { workload, image, port, secret } of sidecars) {
                    const exporter = containerOf(run.get("kubernetes:apps/v1:StatefulSet", workload), "exporter");
                    assert.strictEqual(exporter.image, image);
                    assert.deepStrictEqual(exporter.ports, [{ name: "metrics", containerPort: port, protocol: "TCP" }]);
                    assert.strictEqual(exporter.args, undefined);
                    assert.strictEqual(exporter.command, undefined);
                    // From the Secret: mounted as files (PostgreSQL) or through the environment (Redis).
                    const fromSecret = exporter.env.filter((e: any) => e.valueFrom?.secretKeyRef);
                    const pod = run.get("kubernetes:apps/v1:StatefulSet", workload).inputs.spec.template.spec;
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
                const postgresEnv = containerOf(run.get("kubernetes:apps/v1:StatefulSet", "postgres"), "exporter").env;
                assert.deepStrictEqual(
                    postgresEnv.map((e: any) => [e.name, e.value ?? e.valueFrom.secretKeyRef.key]),
                    [
                        ["DATA_SOURCE_URI", "127.0.0.1:5432/healthcare?sslmode=disable"],
                        ["DATA_SOURCE_USER_FILE", "/run/secrets/postgres/username"],
                        ["DATA_SOURCE_PASS_FILE", "/run/secrets/postgres/password"],
                    ],
                );
                // No credential of PostgreSQL's pod sits in an environment variable.
                const postgresPod = run.get("kubernetes:apps/v1:StatefulSet", "postgres").inputs.spec.template.spec;
                assert.ok(!JSON.stringify(postgresPod.containers).includes("secretKeyRef"));
            });
        });
    }

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
            const recording = recordingRules({ namespace: "healthcare-backend", exporters: true }).find((r) => r.record === rule.name.as)!;
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
        assert.deepStrictEqual(alerts.rules.map((r: any) => r.alert), ["HealthcareApiHighErrorRate", "HealthcareApiDependencyDown", "HealthcareApiPodDependencyDown", "HealthcareApiAtMaxReplicas"]);
        for (const workload of ["postgres", "redis-cluster"]) {
            assert.strictEqual(containerOf(run.get("kubernetes:apps/v1:StatefulSet", workload), "exporter"), undefined, workload);
        }
    });

    it("the parser used here does catch PromQL errors", () => {
        assert.notStrictEqual(promqlError("sum(rate(http_requests_total[5m]) /"), undefined);
        assert.notStrictEqual(promqlError('up{job="a"'), undefined);
        assert.strictEqual(alertingRules({ namespace: "x", exporters: false }).length, 3);
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
