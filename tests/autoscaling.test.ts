import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { Autoscaling } from "../components/autoscaling";
import { ComponentArgsError } from "../lib/args";
import { CapturedResource, ProgramRun, runStack } from "../harness/mockProgram";
import { ShippedStack, shippedStacks, stackConfig, onStatefulSetEngine } from "../harness/stackConfig";
import { HPA, PDB, PROMETHEUS_RULE, SERVICE_MONITOR, VPA } from "./support/resourceTypes";

/** The seed's numbers per stack, and what each stack's cluster provides. */
const expected: Record<
    ShippedStack,
    {
        replicas: [number, number];
        customMetrics: boolean;
        vpa: boolean;
        monitoring: boolean;
        apiMinAvailable?: number;
        redisMaxUnavailable?: number;
        /** What runs PostgreSQL: a StatefulSet sized by the VPA at pod creation, or a CloudNativePG Cluster whose operator sizes (and budgets) its pods. */
        postgres: { apiVersion: string; kind: string; vpaMode: string };
    }
> = {
    // kind with the add-ons the local stack installs (metrics-server, VPA, Prometheus Operator and
    // adapter); one API pod and one Redis node, so no budget.
    local: { replicas: [1, 3], customMetrics: true, vpa: true, monitoring: true, postgres: { apiVersion: "apps/v1", kind: "StatefulSet", vpaMode: "Initial" } },
    staging: {
        replicas: [3, 20],
        customMetrics: true,
        vpa: true,
        monitoring: true,
        apiMinAvailable: 2,
        redisMaxUnavailable: 1,
        postgres: { apiVersion: "postgresql.cnpg.io/v1", kind: "Cluster", vpaMode: "Off" },
    },
    production: {
        replicas: [10, 100],
        customMetrics: true,
        vpa: true,
        monitoring: true,
        apiMinAvailable: 2,
        redisMaxUnavailable: 1,
        postgres: { apiVersion: "postgresql.cnpg.io/v1", kind: "Cluster", vpaMode: "Off" },
    },
};

/** Staging on the statefulset engine (the local stack's): one server, no pooler, no standbys. */

const resourceMetrics = [
    { type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 70 } } },
    { type: "Resource", resource: { name: "memory", target: { type: "Utilization", averageUtilization: 80 } } },
];
const customMetrics = [
    { type: "Pods", pods: { metric: { name: "http_requests_per_second" }, target: { type: "AverageValue", averageValue: "1000" } } },
    { type: "Pods", pods: { metric: { name: "active_appointments_count" }, target: { type: "AverageValue", averageValue: "500" } } },
];
const behavior = {
    scaleUp: {
        stabilizationWindowSeconds: 30,
        selectPolicy: "Max",
        policies: [
            { type: "Pods", value: 5, periodSeconds: 15 },
            { type: "Percent", value: 100, periodSeconds: 15 },
        ],
    },
    scaleDown: {
        stabilizationWindowSeconds: 300,
        selectPolicy: "Min",
        policies: [
            { type: "Percent", value: 50, periodSeconds: 60 },
            { type: "Pods", value: 2, periodSeconds: 60 },
        ],
    },
};
/** The seed's VPA bounds. */
const bounds = {
    "healthcare-api": { container: "api", min: { cpu: "250m", memory: "512Mi" }, max: { cpu: "4000m", memory: "8Gi" } },
    "redis-cluster": { container: "redis", min: { cpu: "100m", memory: "256Mi" }, max: { cpu: "2000m", memory: "4Gi" } },
    postgres: { container: "postgres", min: { cpu: "500m", memory: "1Gi" }, max: { cpu: "4000m", memory: "16Gi" } },
};

const podCount = (run: ProgramRun, pdb: CapturedResource): number => {
    const selector = pdb.inputs.spec.selector.matchLabels;
    const matches = (labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);
    const hpa = run.ofType(HPA)[0];
    const workloads = [...run.ofType("kubernetes:apps/v1:Deployment"), ...run.ofType("kubernetes:apps/v1:StatefulSet")].filter((w) =>
        matches(w.inputs.spec.template.metadata.labels),
    );
    assert.strictEqual(workloads.length, 1, `budget ${pdb.name} selects the pods of exactly one workload`);
    const [workload] = workloads;
    // The fewest pods it can run: the HPA's minimum when the HPA owns the scale.
    return workload.inputs.spec.replicas ?? (hpa && hpa.inputs.spec.scaleTargetRef.name === workload.inputs.metadata.name ? hpa.inputs.spec.minReplicas : 1);
};

describe("autoscaling and availability on the shipped stacks", () => {
    for (const stack of shippedStacks) {
        describe(`Pulumi.${stack}.yaml`, () => {
            const want = expected[stack];
            let run: ProgramRun;
            before(async () => {
                run = await runStack(stackConfig(stack), stack);
            });

            it(`scales healthcare-api ${want.replicas.join("-")} on CPU 70%, memory 80%${want.customMetrics ? ", 1000 requests/s and 500 appointments per pod" : " (no custom metrics adapter)"}`, () => {
                const hpa = run.get(HPA, "healthcare-api");
                assert.strictEqual(hpa.inputs.metadata.name, "healthcare-api");
                assert.deepStrictEqual(hpa.inputs.spec.scaleTargetRef, { apiVersion: "apps/v1", kind: "Deployment", name: "healthcare-api" });
                assert.deepStrictEqual([hpa.inputs.spec.minReplicas, hpa.inputs.spec.maxReplicas], want.replicas);
                assert.deepStrictEqual(hpa.inputs.spec.metrics, want.customMetrics ? [...resourceMetrics, ...customMetrics] : resourceMetrics);
            });

            it("scales up after 30 s by the larger of 5 pods or 100%, down after 300 s by the smaller of 50% or 2 pods", () => {
                assert.deepStrictEqual(run.get(HPA, "healthcare-api").inputs.spec.behavior, behavior);
            });

            it("leaves the Deployment's replica count to the HPA", () => {
                assert.strictEqual(run.get("kubernetes:apps/v1:Deployment", "healthcare-api").inputs.spec.replicas, undefined);
            });

            if (want.vpa) {
                const postgresSizing = want.postgres.vpaMode === "Off" ? "PostgreSQL (recommendations only: the operator sizes its pods)" : "PostgreSQL (at pod creation)";
                it(`sizes the API (recommendations only), ${postgresSizing} and Redis (at pod creation) within the seed's bounds`, () => {
                    const vpas = run.ofType(VPA);
                    assert.deepStrictEqual(vpas.map((v) => v.name).sort(), ["healthcare-api", "postgres", "redis-cluster"]);
                    const modes: Record<string, string> = { "healthcare-api": "Off", postgres: want.postgres.vpaMode, "redis-cluster": "Initial" };
                    const targets: Record<string, { apiVersion: string; kind: string }> = {
                        "healthcare-api": { apiVersion: "apps/v1", kind: "Deployment" },
                        "redis-cluster": { apiVersion: "apps/v1", kind: "StatefulSet" },
                        postgres: { apiVersion: want.postgres.apiVersion, kind: want.postgres.kind },
                    };
                    for (const vpa of vpas) {
                        const b = bounds[vpa.name as keyof typeof bounds];
                        assert.deepStrictEqual(vpa.inputs.spec.targetRef, { ...targets[vpa.name], name: vpa.name });
                        // No updatePolicy.minReplicas: nothing here may evict a single pod.
                        assert.deepStrictEqual(vpa.inputs.spec.updatePolicy, { updateMode: modes[vpa.name] }, vpa.name);
                        assert.deepStrictEqual(vpa.inputs.spec.resourcePolicy.containerPolicies, [
                            {
                                containerName: b.container,
                                minAllowed: b.min,
                                maxAllowed: b.max,
                                controlledResources: ["cpu", "memory"],
                                controlledValues: "RequestsOnly",
                            },
                            { containerName: "*", mode: "Off" },
                        ]);
                    }
                });

                it("ships no VPA that acts on the CPU or memory the HPA scales on", () => {
                    const hpaTarget = run.get(HPA, "healthcare-api").inputs.spec.scaleTargetRef;
                    const onHpaTarget = run.ofType(VPA).filter((v) => v.inputs.spec.targetRef.kind === hpaTarget.kind && v.inputs.spec.targetRef.name === hpaTarget.name);
                    assert.strictEqual(onHpaTarget.length, 1);
                    assert.strictEqual(onHpaTarget[0].inputs.spec.updatePolicy.updateMode, "Off");
                });
            } else {
                it("creates no VerticalPodAutoscaler (a bare cluster has no VPA CRD)", () => {
                    assert.deepStrictEqual(run.ofType(VPA), []);
                });
            }

            const postgresBudget = want.postgres.kind === "Cluster" ? "PostgreSQL none from the program (the operator keeps its own)" : "PostgreSQL none (one pod)";
            it(`budgets disruptions: API ${want.apiMinAvailable ? `at least ${want.apiMinAvailable} available` : "none (one pod)"}, Redis ${want.redisMaxUnavailable ? "one node at a time" : "none (one node)"}, ${postgresBudget}`, () => {
                const byName = Object.fromEntries(run.ofType(PDB).map((p) => [p.name, p.inputs.spec]));
                const budget = (minAvailable?: number, maxUnavailable?: number) =>
                    minAvailable === undefined && maxUnavailable === undefined ? undefined : { minAvailable, maxUnavailable };
                const shown = (spec: any) => (spec ? { minAvailable: spec.minAvailable, maxUnavailable: spec.maxUnavailable } : undefined);
                assert.deepStrictEqual(shown(byName["healthcare-api"]), budget(want.apiMinAvailable, undefined));
                assert.deepStrictEqual(shown(byName["redis-cluster"]), budget(undefined, want.redisMaxUnavailable));
                assert.strictEqual(byName.postgres, undefined);
                // No budget of the program's selects the operator's PostgreSQL pods either.
                assert.ok(!run.ofType(PDB).some((p) => p.inputs.spec.selector.matchLabels["cnpg.io/cluster"] !== undefined));
                assert.deepStrictEqual(run.ofType(PDB).map((p) => p.name).sort(), ["healthcare-api", "redis-cluster"].filter((n) => byName[n]));
                for (const spec of Object.values(byName)) {
                    assert.strictEqual(spec.unhealthyPodEvictionPolicy, "AlwaysAllow");
                }
            });

            it("ships no budget that blocks every voluntary eviction", () => {
                for (const pdb of run.ofType(PDB)) {
                    const pods = podCount(run, pdb);
                    const { minAvailable, maxUnavailable } = pdb.inputs.spec;
                    const evictable = minAvailable !== undefined ? pods - minAvailable : Math.min(maxUnavailable, pods);
                    assert.ok(evictable >= 1, `${pdb.name}: with ${pods} pod(s) the budget must allow at least one eviction`);
                }
            });

            it(`${want.monitoring ? "creates" : "creates no"} ServiceMonitor or PrometheusRule (Prometheus Operator CRDs)`, () => {
                assert.strictEqual(run.ofType(SERVICE_MONITOR).length > 0, want.monitoring);
                assert.strictEqual(run.ofType(PROMETHEUS_RULE).length, want.monitoring ? 1 : 0);
            });
        });
    }

    describe("the local stack on a bare cluster, without its add-ons", () => {
        it("turns off the CRD-backed objects and custom metrics, keeping the HPA on CPU and memory", async () => {
            const run = await runStack(
                stackConfig("local", {
                    installVpa: false,
                    installPrometheusStack: false,
                    vpaEnabled: false,
                    monitoringEnabled: false,
                    metricsExportersEnabled: false,
                    apiHpaCustomMetrics: false,
                }),
                "local",
            );
            assert.deepStrictEqual(run.ofType(VPA), []);
            assert.deepStrictEqual(run.get(HPA, "healthcare-api").inputs.spec.metrics, resourceMetrics);
            assert.deepStrictEqual(run.ofType(SERVICE_MONITOR), []);
            assert.deepStrictEqual(run.ofType(PROMETHEUS_RULE), []);
        });
    });

    describe("settings that change the shape", () => {
        it("without the HPA the Deployment runs apiMinReplicas pods and the API's VPA may resize them", async () => {
            const run = await runStack(stackConfig("staging", { apiHpaEnabled: false, vpaApiMode: "Recreate" }), "staging");
            assert.deepStrictEqual(run.ofType(HPA), []);
            assert.strictEqual(run.get("kubernetes:apps/v1:Deployment", "healthcare-api").inputs.spec.replicas, 3);
            assert.deepStrictEqual(run.get(VPA, "healthcare-api").inputs.spec.updatePolicy, { updateMode: "Recreate" });
            // The at-max alert needs the HPA.
            const alerts = run.get(PROMETHEUS_RULE, "healthcare-backend").inputs.spec.groups[1].rules.map((r: any) => r.alert);
            assert.ok(!alerts.includes("HealthcareApiAtMaxReplicas"), alerts.join(", "));
        });

        it("a stack that opts in lets the VPA evict its single PostgreSQL pod (statefulset engine), and says so to the updater", async () => {
            const run = await runStack(stackConfig("staging", { ...onStatefulSetEngine, vpaPostgresMode: "Recreate", vpaEvictSingleReplica: true }), "staging");
            assert.deepStrictEqual(run.get(VPA, "postgres").inputs.spec.targetRef, { apiVersion: "apps/v1", kind: "StatefulSet", name: "postgres" });
            // The updater skips controllers with fewer than 2 pods unless minReplicas says otherwise.
            assert.deepStrictEqual(run.get(VPA, "postgres").inputs.spec.updatePolicy, { updateMode: "Recreate", minReplicas: 1 });
            // The six-node Redis Cluster may be resized one node at a time without any opt-in.
            const redis = await runStack(stackConfig("production", { vpaRedisMode: "Recreate" }), "production");
            assert.deepStrictEqual(redis.get(VPA, "redis-cluster").inputs.spec.updatePolicy, { updateMode: "Recreate" });
        });

        it("staging on the statefulset engine: PostgreSQL's VPA sizes the StatefulSet's pods at creation, and no budget covers its one pod", async () => {
            const run = await runStack(stackConfig("staging", onStatefulSetEngine), "staging");
            const vpa = run.get(VPA, "postgres").inputs.spec;
            assert.deepStrictEqual(vpa.targetRef, { apiVersion: "apps/v1", kind: "StatefulSet", name: "postgres" });
            assert.deepStrictEqual(vpa.updatePolicy, { updateMode: "Initial" });
            assert.deepStrictEqual(run.ofType(PDB).map((p) => p.name).sort(), ["healthcare-api", "redis-cluster"]);
        });

        it("the component refuses a VPA that acts on an operator-managed PostgreSQL", async () => {
            // Mocks from a run (the component registers as any program resource would).
            await runStack(stackConfig("staging"), "staging");
            const target = (kind: string, operatorManaged: boolean, min: number) => ({
                apiVersion: operatorManaged ? "postgresql.cnpg.io/v1" : "apps/v1",
                kind,
                name: pulumi.output("postgres"),
                container: "postgres",
                podSelector: { "cnpg.io/cluster": "postgres" },
                replicas: { min, max: min },
                operatorManaged,
            });
            const api = { apiVersion: "apps/v1", kind: "Deployment", name: pulumi.output("healthcare-api"), container: "api", podSelector: { app: "api" }, replicas: { min: 3, max: 20 } };
            const redis = { apiVersion: "apps/v1", kind: "StatefulSet", name: pulumi.output("redis-cluster"), container: "redis", podSelector: { app: "redis" }, replicas: { min: 6, max: 6 } };
            const settings = (postgres: string) => ({
                hpa: { enabled: true, customMetrics: false },
                apiPdbMinAvailable: 2,
                vpa: { enabled: true, modes: { api: "Off", postgres, redis: "Initial" }, evictSingleReplica: false },
            });
            for (const mode of ["Initial", "Recreate", "InPlaceOrRecreate"]) {
                assert.throws(
                    () =>
                        new Autoscaling(`bad-${mode}`, {
                            namespace: pulumi.output("healthcare-backend"),
                            settings: settings(mode) as any,
                            api,
                            postgres: target("Cluster", true, 3),
                            redis,
                        }),
                    (e: unknown) =>
                        e instanceof ComponentArgsError &&
                        (e as Error).message.includes(`settings.vpa.modes.postgres is ${mode}; it must be Off where an operator sizes PostgreSQL's pods`),
                    mode,
                );
            }
        });

        it("a multi-node Redis Cluster on the local stack gets its one-node-at-a-time budget", async () => {
            const run = await runStack(stackConfig("local", { redisNodes: 6, redisReplicasPerMaster: 1 }), "local");
            assert.strictEqual(run.get(PDB, "redis-cluster").inputs.spec.maxUnavailable, 1);
        });
    });
});
