import * as assert from "assert";
import { names } from "../../lib/names";
import { ControlPlane } from "../../harness/engine/controlPlane";
import { OperationResult, Step } from "../../harness/engine/engine";
import { ShippedStack } from "../../harness/stackConfig";
import { describeStep, eventually, getObject } from "./support";

/** A day-2 change: config set, then checked on the cluster after `up`. */
export interface DayTwoChange {
    title: string;
    /** Short name for the table. */
    step: string;
    config: Record<string, string | number | boolean>;
    /** The resources to unprotect first (`pulumi state unprotect`), as the runbook's step does; none when undefined. */
    unprotect?: (urn: string) => boolean;
    check(context: { cluster: ControlPlane; namespace: string; up: OperationResult }): Promise<void>;
}

/** The step of a resource (by kind and name) in an operation, or undefined. */
function stepOf(up: OperationResult, type: string, name: string): Step | undefined {
    return up.steps.find((s) => s.type === type && s.urn.endsWith(`::${name}`) && s.op !== "same");
}

const jobType = "kubernetes:batch/v1:Job";
const statefulSetType = "kubernetes:apps/v1:StatefulSet";
const clusterType = "kubernetes:postgresql.cnpg.io/v1:Cluster";

/** redisNodes to `nodes`: the scale-in Job before the StatefulSet, the reconcile Job after it. */
function redisNodes(nodes: number): DayTwoChange {
    return {
        title: `redisNodes -> ${nodes}: the scale Jobs run in the program's order, ${nodes} nodes ready`,
        step: `redisNodes ${nodes}`,
        config: { redisNodes: nodes },
        async check({ cluster, namespace, up }) {
            const scaleIn = stepOf(up, jobType, names.redis.scaleInJob);
            const statefulSet = stepOf(up, statefulSetType, names.redis.statefulSet);
            const reconcile = stepOf(up, jobType, names.redis.reconcileJob);
            assert.ok(scaleIn && statefulSet && reconcile, `steps: ${up.steps.filter((s) => s.op !== "same").map(describeStep).join("; ")}`);
            assert.strictEqual(statefulSet.op, "update");
            assert.ok(scaleIn.finished! < statefulSet.started, "scale-in finished before the StatefulSet changed");
            assert.ok(statefulSet.finished! < reconcile.started, "reconcile started after the StatefulSet was ready");
            const s = getObject(cluster, "statefulset", names.redis.statefulSet, namespace);
            assert.strictEqual(s.spec.replicas, nodes);
            assert.strictEqual(s.status.readyReplicas, nodes);
            for (const job of [names.redis.scaleInJob, names.redis.reconcileJob]) {
                assert.strictEqual(getObject(cluster, "job", job, namespace).status.succeeded, 1, `${job} succeeded`);
            }
            // The API's settings: the ConfigMap its pod template names now.
            const api = getObject(cluster, "deployment", names.api.deployment, namespace);
            const configMap = getObject(cluster, "configmap", api.spec.template.spec.containers[0].envFrom[0].configMapRef.name, namespace);
            assert.strictEqual(String(configMap.data.REDIS_CLUSTER_NODES).split(",").length, nodes, "the API's seed list follows the cluster");
            const apiConfigMaps = JSON.parse(cluster.kubectl(["get", "configmaps", "-n", namespace, "-o", "json"])).items.filter((c: any) => c.metadata.name.startsWith(names.api.configMap));
            assert.deepStrictEqual(apiConfigMaps.map((c: any) => c.metadata.name), [configMap.metadata.name], "the old ConfigMap is gone after the rollout");
        },
    };
}

const poolerType = "kubernetes:postgresql.cnpg.io/v1:Pooler";
const scheduledBackupType = "kubernetes:postgresql.cnpg.io/v1:ScheduledBackup";
const recovered = "postgres-pitr-20261203t100000z";
const recoveryTime = "2026-12-03T10:00:00Z";
const clusterOf = (cluster: ControlPlane, namespace: string, name: string) => getObject(cluster, "clusters.postgresql.cnpg.io", name, namespace);

/**
 * `npm run ops -- restore --to`'s three deployments (docs/postgres.md#point-in-time-recovery-cloudnative-pg)
 * on the real engine: a second Cluster beside the first, the switch in place, and the old Cluster
 * released from the stack yet kept in Kubernetes; no Cluster is ever updated or replaced by it.
 */
const pointInTimeRecovery: DayTwoChange[] = [
    {
        title: "point-in-time recovery, recover: a new Cluster bootstrapped from the archive beside the serving one, which is untouched",
        step: "recover to a moment",
        config: { postgresRecoveryCluster: recovered, postgresRecoverySource: "postgres", postgresRecoveryTargetTime: recoveryTime },
        async check({ cluster, namespace, up }) {
            assert.strictEqual(stepOf(up, clusterType, recovered)?.op, "create");
            assert.strictEqual(stepOf(up, clusterType, names.cloudNativePg.cluster), undefined, "the serving Cluster unchanged");
            const spec = clusterOf(cluster, namespace, recovered).spec;
            assert.deepStrictEqual(spec.bootstrap.recovery.recoveryTarget, { targetTime: recoveryTime });
            assert.strictEqual(spec.externalClusters[0].plugin.parameters.serverName, "postgres");
            assert.strictEqual(getObject(cluster, "poolers.postgresql.cnpg.io", names.cloudNativePg.poolerOf("postgres"), namespace).spec.cluster.name, "postgres", "the API stays");
        },
    },
    {
        title: "point-in-time recovery, switch: a Pooler and a ScheduledBackup of the recovered Cluster replace the old ones (their cluster is immutable), the API follows with its CA",
        step: "switch to the recovered Cluster",
        config: { postgresCluster: recovered },
        async check({ cluster, namespace, up }) {
            const { poolerOf, scheduledBackupOf } = names.cloudNativePg;
            assert.strictEqual(stepOf(up, poolerType, poolerOf(recovered))?.op, "create");
            assert.strictEqual(stepOf(up, poolerType, poolerOf("postgres"))?.op, "delete");
            assert.strictEqual(stepOf(up, scheduledBackupType, scheduledBackupOf(recovered))?.op, "create");
            assert.strictEqual(stepOf(up, scheduledBackupType, scheduledBackupOf("postgres"))?.op, "delete");
            // The new Pooler exists before the API rolls to it; the old one goes only once the roll is done.
            const created = stepOf(up, poolerType, poolerOf(recovered))!;
            const rolled = stepOf(up, "kubernetes:apps/v1:Deployment", names.api.deployment)!;
            const deleted = stepOf(up, poolerType, poolerOf("postgres"))!;
            assert.strictEqual(rolled?.op, "update");
            assert.ok(created.finished! < rolled.started && rolled.finished! < deleted.started, up.steps.filter((s) => s.op !== "same").map(describeStep).join("; "));
            assert.deepStrictEqual(up.steps.filter((s) => s.type === clusterType && s.op !== "same").map(describeStep), [], "no Cluster changes");
            assert.strictEqual(getObject(cluster, "poolers.postgresql.cnpg.io", poolerOf(recovered), namespace).spec.cluster.name, recovered);
            assert.strictEqual(getObject(cluster, "scheduledbackups.postgresql.cnpg.io", scheduledBackupOf(recovered), namespace).spec.cluster.name, recovered);
            const api = getObject(cluster, "deployment", names.api.deployment, namespace).spec.template.spec;
            assert.ok(api.volumes.some((v: any) => v.secret?.secretName === `${recovered}-ca`), "the API verifies the recovered Cluster's CA");
            const settings = getObject(cluster, "configmap", api.containers[0].envFrom[0].configMapRef.name, namespace);
            assert.match(settings.data.DATABASE_HOST, new RegExp(`^${poolerOf(recovered)}\\.`), "the API connects to the recovered Cluster's Pooler");
        },
    },
    {
        title: "point-in-time recovery, finish: the old Cluster leaves the stack and stays in Kubernetes; the recovered one shows no diff",
        step: "release the old Cluster",
        config: { postgresRecoveryCluster: "", postgresRecoverySource: "", postgresRecoveryTargetTime: "", postgresRelease: "postgres" },
        unprotect: (urn) => urn.endsWith(`$${clusterType}::${names.cloudNativePg.cluster}`),
        async check({ cluster, namespace, up }) {
            assert.strictEqual(stepOf(up, clusterType, names.cloudNativePg.cluster)?.op, "delete");
            assert.strictEqual(stepOf(up, clusterType, recovered), undefined, "its bootstrap is ignoreChanges: no diff once the recovery settings are gone");
            assert.ok(clusterOf(cluster, namespace, names.cloudNativePg.cluster), "retainOnDelete: the old Cluster still runs");
            // The runbook's last step, by hand: the operator deletes it once nothing needs it.
            cluster.kubectl(["delete", "clusters.postgresql.cnpg.io", names.cloudNativePg.cluster, "-n", namespace, "--wait=false"]);
        },
    },
];

export const dayTwoChanges: Record<ShippedStack, DayTwoChange[]> = {
    local: [
        {
            title: "apiMinReplicas 1 -> 2 reaches the HPA",
            step: "apiMinReplicas 2",
            config: { apiMinReplicas: 2 },
            async check({ cluster, namespace }) {
                assert.strictEqual(getObject(cluster, "hpa", names.autoscaling.apiHpa, namespace).spec.minReplicas, 2);
            },
        },
    ],
    staging: [
        {
            title: "PostgreSQL on CloudNativePG: more instances, a larger volume and new resources update the Cluster in place",
            step: "postgres 3 instances, 60Gi, resources",
            config: {
                postgresInstances: 3,
                postgresStorageSize: "60Gi",
                postgresResources: JSON.stringify({ requests: { cpu: "1000m", memory: "2Gi" }, limits: { cpu: "3000m", memory: "8Gi" } }),
            },
            async check({ cluster, namespace, up }) {
                const step = stepOf(up, clusterType, names.cloudNativePg.cluster);
                assert.strictEqual(step?.op, "update", `the Cluster's step: ${step && describeStep(step)}`);
                const pg = getObject(cluster, "clusters.postgresql.cnpg.io", names.cloudNativePg.cluster, namespace);
                assert.ok(pg.metadata.generation > 1, "updated, not re-created");
                assert.strictEqual(pg.spec.instances, 3);
                assert.strictEqual(pg.spec.storage.size, "60Gi");
                assert.strictEqual(pg.spec.resources.limits.cpu, "3000m");
            },
        },
        redisNodes(8),
        redisNodes(6),
        {
            title: "a Redis memory limit (redis.conf's maxmemory) rolls the nodes in place: a new content-named ConfigMap (the previous one kept), the same StatefulSet",
            step: "redis memory 1536Mi",
            config: { redisResources: JSON.stringify({ requests: { cpu: "250m", memory: "512Mi" }, limits: { cpu: "1000m", memory: "1536Mi" } }) },
            async check({ cluster, namespace, up }) {
                const statefulSet = getObject(cluster, "statefulset", names.redis.statefulSet, namespace);
                assert.ok(statefulSet.metadata.generation > 1, "updated, not re-created");
                const mounted = statefulSet.spec.template.spec.volumes.find((v: any) => v.configMap)?.configMap.name;
                assert.match(getObject(cluster, "configmap", mounted, namespace).data["redis.conf"], /^maxmemory 805306368$/m, "50% of 1536Mi");
                const podConfigMaps = JSON.parse(cluster.kubectl(["get", "configmaps", "-n", namespace, "-o", "json"])).items
                    .map((c: any) => c.metadata.name)
                    .filter((name: string) => /^redis-cluster-config-[a-f0-9]+$/.test(name));
                // Kept (retainOnDelete): a pod of the previous revision or a rollback can still mount it.
                assert.ok(podConfigMaps.includes(mounted) && podConfigMaps.length >= 2, `the previous ConfigMap is kept beside ${mounted}: ${podConfigMaps}`);
                assert.ok(!stepOf(up, jobType, names.redis.reconcileJob), "the Jobs are untouched");
            },
        },
        ...pointInTimeRecovery,
    ],
    production: [
        {
            title: "a new image tag rolls the API in place",
            step: "apiImageTag 1.0.1",
            config: { apiImageTag: "1.0.1" },
            async check({ cluster, namespace }) {
                const deployment = await eventually(
                    "the rollout to 1.0.1 complete",
                    () => {
                        const d = getObject(cluster, "deployment", names.api.deployment, namespace);
                        const done = d.status.observedGeneration >= d.metadata.generation && d.status.updatedReplicas === d.status.replicas && d.status.availableReplicas === d.status.replicas;
                        return done ? d : undefined;
                    },
                    60_000,
                );
                assert.match(deployment.spec.template.spec.containers[0].image, /:1\.0\.1$/);
                assert.ok(deployment.metadata.generation > 1, "the Deployment was updated, not re-created");
            },
        },
        {
            title: "PostgreSQL resources and the API's host (its HTTPRoute) change in place",
            step: "postgres resources, route host",
            config: {
                postgresResources: JSON.stringify({ requests: { cpu: "2000m", memory: "8Gi" }, limits: { cpu: "6000m", memory: "24Gi" } }),
                ingressHost: "api2.healthcare.example.com",
            },
            async check({ cluster, namespace }) {
                const postgres = getObject(cluster, "clusters.postgresql.cnpg.io", names.cloudNativePg.cluster, namespace);
                assert.strictEqual(postgres.spec.resources.limits.memory, "24Gi");
                assert.ok(postgres.metadata.generation > 1, "updated, not re-created");
                const route = getObject(cluster, "httproutes.gateway.networking.k8s.io", names.api.httpRoute, namespace);
                assert.deepStrictEqual(route.spec.hostnames, ["api2.healthcare.example.com"]);
                assert.strictEqual(route.metadata.generation, 2, "updated, not re-created");
            },
        },
        {
            title: "apiPort 8080 -> 8000: the container, Service and NetworkPolicy follow, in place",
            step: "apiPort 8000",
            config: { apiPort: 8000 },
            async check({ cluster, namespace }) {
                const deployment = getObject(cluster, "deployment", names.api.deployment, namespace);
                const ports = deployment.spec.template.spec.containers[0].ports.map((p: any) => `${p.name}:${p.containerPort}`);
                assert.deepStrictEqual(ports.sort(), ["health:8081", "http:8000", "metrics:9090"]);
                const service = getObject(cluster, "service", names.api.service, namespace);
                assert.ok(service.spec.ports.some((p: any) => p.name === "http" && p.targetPort === "http"));
                const policy = getObject(cluster, "networkpolicy", names.networkPolicy.api, namespace);
                assert.match(JSON.stringify(policy.spec.ingress), /8000/);
            },
        },
    ],
};
