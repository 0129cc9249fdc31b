import * as assert from "assert";
import { mockPassword, ProgramRun, runStack, unwrapSecret } from "../harness/mockProgram";
import { ShippedStack, shippedStacks, stackConfig } from "../harness/stackConfig";

/** The seed's numbers per stack (../shared/seed/kubernetes-autoscaling-summary.md), and staging's documented sizes. */
const expected: Record<
    ShippedStack,
    {
        replicas: [number, number];
        api: [string, string, string, string];
        postgres: [string, string, string, string, string];
        redis: { nodes: number; replicas: number; resources: [string, string, string, string]; storage: string };
    }
> = {
    local: {
        replicas: [1, 3],
        api: ["250m", "512Mi", "1000m", "1Gi"],
        postgres: ["250m", "512Mi", "1000m", "2Gi", "5Gi"],
        redis: { nodes: 1, replicas: 0, resources: ["100m", "256Mi", "500m", "512Mi"], storage: "10Gi" },
    },
    staging: {
        replicas: [3, 20],
        api: ["1000m", "2Gi", "2000m", "4Gi"],
        postgres: ["1000m", "2Gi", "2000m", "8Gi", "50Gi"],
        redis: { nodes: 6, replicas: 1, resources: ["250m", "512Mi", "1000m", "1Gi"], storage: "10Gi" },
    },
    production: {
        replicas: [10, 100],
        api: ["2000m", "4Gi", "4000m", "8Gi"],
        postgres: ["2000m", "8Gi", "4000m", "16Gi", "100Gi"],
        redis: { nodes: 6, replicas: 1, resources: ["500m", "1Gi", "1000m", "2Gi"], storage: "10Gi" },
    },
};

const resources = ([cpuRequest, memoryRequest, cpuLimit, memoryLimit]: string[]) => ({
    requests: { cpu: cpuRequest, memory: memoryRequest },
    limits: { cpu: cpuLimit, memory: memoryLimit },
});

/** CPU and memory of a container's resources (ephemeral storage is the program's, not the stack's: tests/least-privilege.test.ts). */
const compute = (r: any) => ({
    requests: { cpu: r.requests.cpu, memory: r.requests.memory },
    limits: { cpu: r.limits.cpu, memory: r.limits.memory },
});

const container = (workload: any, name: string) => {
    const found = workload.inputs.spec.template.spec.containers.find((c: any) => c.name === name);
    assert.ok(found, `container ${name} in ${workload.name}`);
    return found;
};

describe("shipped stacks", () => {
    for (const stack of shippedStacks) {
        describe(`Pulumi.${stack}.yaml`, () => {
            let run: ProgramRun;
            const want = expected[stack];
            before(async () => {
                run = await runStack(stackConfig(stack), stack);
            });

            it("deploys the API as Deployment healthcare-api, container api, with the seed's resources", () => {
                const deployment = run.get("kubernetes:apps/v1:Deployment", "healthcare-api");
                assert.strictEqual(deployment.inputs.metadata.name, "healthcare-api");
                assert.deepStrictEqual(compute(container(deployment, "api").resources), resources(want.api));
            });

            it("leaves the replica count to the HPA, which keeps the API between the seed's minimum and maximum", () => {
                const deployment = run.get("kubernetes:apps/v1:Deployment", "healthcare-api");
                // A replicas value would fight the HPA under server-side apply (pulumi-kubernetes #2491).
                assert.strictEqual(deployment.inputs.spec.replicas, undefined);
                const hpa = run.get("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "healthcare-api");
                assert.deepStrictEqual([hpa.inputs.spec.minReplicas, hpa.inputs.spec.maxReplicas], want.replicas);
            });

            it("sizes PostgreSQL as the seed says", () => {
                const statefulSet = run.get("kubernetes:apps/v1:StatefulSet", "postgres");
                const [cpuRequest, memoryRequest, cpuLimit, memoryLimit, storage] = want.postgres;
                assert.strictEqual(statefulSet.inputs.spec.replicas, 1);
                assert.deepStrictEqual(compute(container(statefulSet, "postgres").resources), resources([cpuRequest, memoryRequest, cpuLimit, memoryLimit]));
                assert.strictEqual(statefulSet.inputs.spec.volumeClaimTemplates[0].spec.resources.requests.storage, storage);
            });

            it("sizes the Redis Cluster as the seed says", () => {
                const statefulSet = run.get("kubernetes:apps/v1:StatefulSet", "redis-cluster");
                assert.strictEqual(statefulSet.inputs.spec.replicas, want.redis.nodes);
                assert.deepStrictEqual(compute(container(statefulSet, "redis").resources), resources(want.redis.resources));
                assert.strictEqual(statefulSet.inputs.spec.volumeClaimTemplates[0].spec.resources.requests.storage, want.redis.storage);
                for (const [jobName, containerName] of [
                    ["redis-cluster-scale-in", "scale-in"],
                    ["redis-cluster-reconcile", "reconcile"],
                ]) {
                    const job = run.get("kubernetes:batch/v1:Job", jobName);
                    const env = Object.fromEntries(container(job, containerName).env.map((e: any) => [e.name, e.value]));
                    assert.strictEqual(env.REDIS_REPLICAS, String(want.redis.replicas), jobName);
                    assert.strictEqual(env.REDIS_NODES.split(" ").length, want.redis.nodes, jobName);
                }
            });

            it("puts every namespaced object in healthcare-backend, through the stack's explicit provider", () => {
                const kubernetesObjects = run.resources.filter((r) => r.type.startsWith("kubernetes:") && r.read === undefined);
                assert.ok(kubernetesObjects.length > 10);
                // Cluster add-ons live in their own namespaces (Helm releases) or are cluster-scoped (ClusterIssuer, PriorityClass).
                const clusterWide = [
                    "kubernetes:core/v1:Namespace",
                    "kubernetes:helm.sh/v3:Release",
                    "kubernetes:cert-manager.io/v1:ClusterIssuer",
                    "kubernetes:scheduling.k8s.io/v1:PriorityClass",
                ];
                for (const object of kubernetesObjects) {
                    assert.match(object.provider, /pulumi:providers:kubernetes::kubernetes::/, `${object.type} ${object.name} uses the explicit provider`);
                    if (!clusterWide.includes(object.type)) {
                        assert.strictEqual(object.inputs.metadata.namespace, "healthcare-backend", `${object.type} ${object.name}`);
                    }
                }
                const [provider] = run.ofType("pulumi:providers:kubernetes");
                assert.strictEqual(provider.inputs.context, stackConfig(stack)["healthcare-backend:kubeContext"]);
            });

            it("enforces the restricted Pod Security Standard on the namespace", () => {
                const namespace = run.get("kubernetes:core/v1:Namespace", "healthcare-backend");
                for (const mode of ["enforce", "audit", "warn"]) {
                    assert.strictEqual(namespace.inputs.metadata.labels[`pod-security.kubernetes.io/${mode}`], "restricted");
                }
            });

            it("keeps generated passwords secret and out of the stack outputs", () => {
                for (const [secretName, passwordName] of [
                    ["postgres-credentials", "postgres-password"],
                    ["redis-credentials", "redis-password"],
                ]) {
                    const secret = run.get("kubernetes:core/v1:Secret", secretName);
                    const data = unwrapSecret(secret.inputs.stringData) as Record<string, string>;
                    assert.strictEqual(data.password, mockPassword(passwordName));
                }
                const outputs = JSON.stringify(run.outputs);
                assert.ok(!outputs.includes("mock-secret"), `outputs hold no password: ${outputs}`);
                const configMap = run.get("kubernetes:core/v1:ConfigMap", "healthcare-api-config");
                assert.ok(!JSON.stringify(configMap.inputs).includes("mock-secret"), "the API ConfigMap holds no password");
            });

            it("protects stateful resources from deletion and replacement outside local", () => {
                const protectedNames = [
                    "kubernetes:apps/v1:StatefulSet::postgres",
                    "kubernetes:apps/v1:StatefulSet::redis-cluster",
                    "kubernetes:core/v1:Secret::postgres-credentials",
                    "kubernetes:core/v1:Secret::redis-credentials",
                    "random:index/randomPassword:RandomPassword::postgres-password",
                    "random:index/randomPassword:RandomPassword::redis-password",
                    // The backups outlive the database they back up.
                    "kubernetes:core/v1:PersistentVolumeClaim::postgres-backups",
                ];
                for (const resource of run.resources) {
                    const key = `${resource.type}::${resource.name}`;
                    const wanted = stack !== "local" && protectedNames.includes(key);
                    assert.strictEqual(resource.options.protect, wanted, `protect ${key}`);
                    // A retained StatefulSet would collide with its own replacement (fixed name): protected only.
                    const retained = wanted && resource.type !== "kubernetes:apps/v1:StatefulSet";
                    assert.strictEqual(resource.options.retainOnDelete, retained, `retainOnDelete ${key}`);
                }
                for (const name of ["postgres", "redis-cluster"]) {
                    const annotations = run.get("kubernetes:apps/v1:StatefulSet", name).inputs.metadata.annotations ?? {};
                    const policy = stack === "local" ? undefined : "orphan";
                    assert.strictEqual(annotations["pulumi.com/deletionPropagationPolicy"], policy, `${name}: a replacement keeps the pods`);
                }
            });

            it("exports the service hosts and secret names", () => {
                assert.strictEqual(run.outputs.namespaceName, "healthcare-backend");
                assert.strictEqual(run.outputs.postgresHost, "postgres.healthcare-backend.svc.cluster.local");
                assert.strictEqual(run.outputs.apiServiceHost, "healthcare-api.healthcare-backend.svc.cluster.local");
                assert.strictEqual(run.outputs.postgresSecretName, "postgres-credentials");
                assert.strictEqual(run.outputs.redisSecretName, "redis-credentials");
                assert.strictEqual((run.outputs.redisSeedNodes as string[]).length, want.redis.nodes);
            });
        });
    }

    it("local fits the seed's local footprint: 3 pods", async () => {
        const run = await runStack(stackConfig("local"), "local");
        const pods =
            run.get("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "healthcare-api").inputs.spec.minReplicas +
            run.get("kubernetes:apps/v1:StatefulSet", "postgres").inputs.spec.replicas +
            run.get("kubernetes:apps/v1:StatefulSet", "redis-cluster").inputs.spec.replicas;
        assert.strictEqual(pods, 3);
    });

    it("production refuses to deploy an image that can change under it", async () => {
        const run = await runStack(stackConfig("production"), "production");
        const image: string = container(run.get("kubernetes:apps/v1:Deployment", "healthcare-api"), "api").image;
        assert.match(image, /:(?!latest$)[\w.-]+$|@sha256:[a-f0-9]{64}$/);
    });
});
