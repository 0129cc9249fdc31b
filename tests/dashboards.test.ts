import * as assert from "assert";
import { existsSync, readFileSync } from "fs";
import * as path from "path";
import { stackDashboards } from "../components/dashboards";
import { queriesOf } from "../lib/grafana";
import { dashboardPicture, dashboardPictures } from "../cli/dashboardSvg";
import { ProgramRun, runProgram, runStack } from "../harness/mockProgram";
import { onStatefulSetEngine, projectRoot, shippedStacks, stackConfig } from "../harness/stackConfig";
import { promqlError } from "./support/promql";
import { CONFIG_MAP, HELM_RELEASE } from "./support/resourceTypes";

/** The dashboard ConfigMaps of a run: name -> the dashboard's JSON model. */
function dashboardsOf(run: ProgramRun): Record<string, any> {
    return Object.fromEntries(
        run
            .ofType(CONFIG_MAP)
            .filter((c) => c.inputs.metadata.labels?.["app.kubernetes.io/component"] === "dashboard")
            .map((c) => {
                const entries = Object.entries(c.inputs.data as Record<string, string>);
                assert.strictEqual(entries.length, 1, c.name);
                return [c.name, { labels: c.inputs.metadata.labels, key: entries[0][0], model: JSON.parse(entries[0][1]) }];
            }),
    );
}

describe("dashboards: Grafana dashboards as code, shipped as ConfigMaps for kube-prometheus-stack's sidecar", () => {
    for (const stack of shippedStacks) {
        it(`Pulumi.${stack}.yaml ships the API, PostgreSQL, Redis Cluster and capacity dashboards with the sidecar's label, every query valid PromQL scoped to the namespace`, async () => {
            const dashboards = dashboardsOf(await runStack(stackConfig(stack), stack));
            assert.deepStrictEqual(Object.keys(dashboards).sort(), ["healthcare-dashboard-api", "healthcare-dashboard-capacity", "healthcare-dashboard-postgres", "healthcare-dashboard-redis"]);
            for (const [name, { labels, key, model }] of Object.entries(dashboards)) {
                // kube-prometheus-stack's Grafana sidecar loads ConfigMaps labelled grafana_dashboard: "1".
                assert.strictEqual(labels.grafana_dashboard, "1", name);
                assert.strictEqual(key, `${model.uid}.json`, name);
                assert.ok(model.panels.length >= 4, `${name} has its panels`);
                for (const panel of model.panels) {
                    assert.ok(panel.targets.length > 0, `${name}: ${panel.title}`);
                    assert.deepStrictEqual(panel.datasource, { type: "prometheus", uid: "${datasource}" }, `${name}: ${panel.title}`);
                    assert.ok(panel.gridPos.x + panel.gridPos.w <= 24, `${name}: ${panel.title} fits Grafana's 24 columns`);
                    for (const target of panel.targets) {
                        assert.strictEqual(promqlError(target.expr), undefined, `${name}: ${panel.title}: ${target.expr}`);
                        assert.match(target.expr, /namespace="healthcare-backend"/, `${name}: ${panel.title}: ${target.expr}`);
                    }
                }
            }
        });
    }

    it("the PostgreSQL dashboard reads the engine's metrics: the exporter's on statefulset, the operator's on cloudnative-pg (with replication and backups)", async () => {
        const exprs = (run: ProgramRun) => JSON.stringify(dashboardsOf(run)["healthcare-dashboard-postgres"].model.panels.flatMap((p: any) => p.targets.map((t: any) => t.expr)));
        const statefulSet = exprs(await runStack(stackConfig("staging", onStatefulSetEngine), "staging"));
        assert.match(statefulSet, /pg_stat_activity_count/);
        assert.match(statefulSet, /kube_cronjob_status_last_successful_time\{namespace=\\"healthcare-backend\\", cronjob=\\"postgres-backup\\"\}/);
        assert.doesNotMatch(statefulSet, /cnpg_/);
        const cloudNativePg = exprs(await runStack(stackConfig("production"), "production"));
        for (const metric of ["cnpg_backends_total", "cnpg_pg_replication_lag", "barman_cloud_cloudnative_pg_io_last_available_backup_timestamp", "db_connection_pool_usage"]) {
            assert.ok(cloudNativePg.includes(metric), metric);
        }
    });

    it("the API dashboard shows the HPA's replicas against its range and its custom metrics; the volumes panel watches the alerts' PVCs", () => {
        const [api, , , capacity] = stackDashboards({
            namespace: "healthcare-backend",
            postgresEngine: "cloudnative-pg",
            exporters: true,
            apiHpa: "healthcare-api",
            objectStoreBackups: true,
            volumeClaims: "(postgres)-[0-9]+|data-redis-cluster-[0-9]+",
        });
        const apiQueries = queriesOf(api).map((q) => q.expr);
        for (const metric of ["kube_horizontalpodautoscaler_spec_min_replicas", "kube_horizontalpodautoscaler_spec_max_replicas", "active_appointments_count", "http_request_duration_seconds_bucket"]) {
            assert.ok(apiQueries.some((e) => e.includes(metric)), metric);
        }
        assert.ok(queriesOf(capacity).some((q) => q.expr.includes('persistentvolumeclaim=~"(postgres)-[0-9]+|data-redis-cluster-[0-9]+"')));
    });

    it("without the exporters no Redis dashboard, without monitoring or with monitoringDashboardLabel empty none at all; a bad label is refused", async () => {
        const noExporters = dashboardsOf(await runStack(stackConfig("local", { metricsExportersEnabled: false }), "local"));
        assert.deepStrictEqual(Object.keys(noExporters).sort(), ["healthcare-dashboard-api", "healthcare-dashboard-capacity"]);
        assert.deepStrictEqual(dashboardsOf(await runStack(stackConfig("production", { monitoringDashboardLabel: "" }), "production")), {});
        const off = stackConfig("local", { monitoringEnabled: false, metricsExportersEnabled: false, apiHpaCustomMetrics: false });
        assert.deepStrictEqual(dashboardsOf(await runStack(off, "local")), {});
        const { error, resources } = await runProgram(stackConfig("production", { monitoringDashboardLabel: "a=1,b=2" }), "production");
        assert.match(String(error?.message), /monitoringDashboardLabel/);
        assert.deepStrictEqual(resources, []);
    });

    it("the local stack's kube-prometheus-stack runs Grafana with a sidecar that loads exactly this label from every namespace", async () => {
        const release = (await runStack(stackConfig("local"), "local")).ofType(HELM_RELEASE).find((r) => r.inputs.chart === "kube-prometheus-stack");
        assert.ok(release, "local installs kube-prometheus-stack");
        assert.deepStrictEqual(release.inputs.values.grafana, {
            enabled: true,
            sidecar: { dashboards: { enabled: true, label: "grafana_dashboard", labelValue: "1", searchNamespace: "ALL" } },
        });
        assert.deepStrictEqual(release.inputs.values["kube-state-metrics"], { metricLabelsAllowlist: ["nodes=[topology.kubernetes.io/zone]"] });
    });

    it("docs/dashboard-*.svg are the production stack's dashboards as npm run docs:dashboards renders them, each pictured in docs/monitoring.md", async () => {
        const page = readFileSync(path.join(projectRoot, "docs", "monitoring.md"), "utf8");
        const pictures = await dashboardPictures();
        assert.strictEqual(pictures.length, 4);
        for (const { configMap, svg } of pictures) {
            const file = dashboardPicture(configMap);
            const relative = path.relative(projectRoot, file);
            assert.ok(existsSync(file), `${relative} exists: run npm run docs:dashboards`);
            assert.strictEqual(readFileSync(file, "utf8"), svg, `${relative} is stale: run npm run docs:dashboards`);
            assert.ok(page.includes(`](${path.basename(file)})`), `docs/monitoring.md shows ${path.basename(file)}`);
            assert.match(svg, /not a screenshot/);
        }
    });
});
