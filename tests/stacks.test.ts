import * as assert from "assert";
import { mockPassword, ProgramRun, runStack, unwrapSecret } from "../harness/mockProgram";
import { ShippedStack, shippedStacks, stackConfig, onStatefulSetEngine } from "../harness/stackConfig";
import { allContainers, podTemplates } from "../analysis/podTemplates";
import { CLUSTER, HELM_RELEASE, OBJECT_STORE, POOLER, SCHEDULED_BACKUP } from "./support/resourceTypes";

/** The seed's numbers per stack (../shared/seed/kubernetes-autoscaling-summary.md), and staging's documented sizes. */
const expected: Record<
    ShippedStack,
    {
        replicas: [number, number];
        api: [string, string, string, string];
        postgres: [string, string, string, string, string];
        /** What runs PostgreSQL: the local stack's single server, or CloudNativePG's primary and standbys (the seed's resources and storage per instance). */
        postgresEngine: { engine: "statefulset" } | { engine: "cloudnative-pg"; instances: number; walStorage?: string; maxClientConnections: number; retention: string; bucket: string };
        redis: { nodes: number; replicas: number; resources: [string, string, string, string]; storage: string };
    }
> = {
    local: {
        replicas: [1, 3],
        api: ["250m", "512Mi", "1000m", "1Gi"],
        postgres: ["250m", "512Mi", "1000m", "2Gi", "5Gi"],
        postgresEngine: { engine: "statefulset" },
        redis: { nodes: 1, replicas: 0, resources: ["100m", "256Mi", "500m", "512Mi"], storage: "10Gi" },
    },
    staging: {
        replicas: [3, 20],
        api: ["1000m", "2Gi", "2000m", "4Gi"],
        postgres: ["1000m", "2Gi", "2000m", "8Gi", "50Gi"],
        // A primary and a synchronous standby; 20 API pods x 10 connections reach PgBouncer; backups kept 3 days.
        postgresEngine: { engine: "cloudnative-pg", instances: 2, maxClientConnections: 200, retention: "3d", bucket: "healthcare-staging-backups" },
        redis: { nodes: 6, replicas: 1, resources: ["250m", "512Mi", "1000m", "1Gi"], storage: "10Gi" },
    },
    production: {
        replicas: [10, 100],
        api: ["2000m", "4Gi", "4000m", "8Gi"],
        postgres: ["2000m", "8Gi", "4000m", "16Gi", "100Gi"],
        // A primary and two standbys (one synchronous at least), WAL on a volume of its own; 100 API pods x 10 connections; backups kept 14 days.
        postgresEngine: { engine: "cloudnative-pg", instances: 3, walStorage: "20Gi", maxClientConnections: 1000, retention: "14d", bucket: "healthcare-production-backups" },
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

/** The PostgreSQL objects whose names depend on the engine. */
const postgresNames = (engine: "statefulset" | "cloudnative-pg") =>
    engine === "statefulset"
        ? { secret: "postgres-credentials", password: "postgres-password", host: "postgres.healthcare-backend.svc.cluster.local" }
        : { secret: "postgres-app-credentials", password: "postgres-app-password", host: "postgres-pooler.healthcare-backend.svc.cluster.local" };

const container = (workload: any, name: string) => {
    const found = workload.inputs.spec.template.spec.containers.find((c: any) => c.name === name);
    assert.ok(found, `container ${name} in ${workload.name}`);
    return found;
};

/**
 * Stateful resources are protected from deletion and replacement (outside local), and nothing else is.
 * The statefulset engine's data: its StatefulSet, Secret, password and backup volume; cloudnative-pg's:
 * the Cluster (which holds the volumes), the API role's Secret and password.
 */
function assertProtection(run: ProgramRun, protectData: boolean, engine: "statefulset" | "cloudnative-pg"): void {
    const postgres =
        engine === "statefulset"
            ? [
                  "kubernetes:apps/v1:StatefulSet::postgres",
                  "kubernetes:core/v1:Secret::postgres-credentials",
                  "random:index/randomPassword:RandomPassword::postgres-password",
                  // The superuser's, the exporter's and the backups' roles: a new password would lock each out.
                  ...["superuser", "exporter", "backup"].flatMap((role) => [
                      `kubernetes:core/v1:Secret::${role === "superuser" ? "postgres-superuser" : `postgres-${role}-credentials`}`,
                      `random:index/randomPassword:RandomPassword::postgres-${role}-password`,
                  ]),
                  // The backups outlive the database they back up.
                  "kubernetes:core/v1:PersistentVolumeClaim::postgres-backups",
              ]
            : [
                  `${CLUSTER}::postgres`,
                  "kubernetes:core/v1:Secret::postgres-app-credentials",
                  "random:index/randomPassword:RandomPassword::postgres-app-password",
              ];
    const protectedNames = [
        // Deleting the namespace would delete every volume and backup in it.
        "kubernetes:core/v1:Namespace::healthcare-backend",
        ...postgres,
        "kubernetes:apps/v1:StatefulSet::redis-cluster",
        "kubernetes:core/v1:Secret::redis-credentials",
        ...["api", "exporter", "maintenance", "node", "replication"].map((u) => `random:index/randomPassword:RandomPassword::redis-${u}-password`),
    ];
    // Every one of them is there (the backup volume only where the stack takes scheduled backups).
    const registered = run.resources.map((r) => `${r.type}::${r.name}`);
    const backups = run.ofType("kubernetes:batch/v1:CronJob").some((c) => c.name === "postgres-backup");
    for (const key of protectedNames.filter((k) => backups || !k.includes("PersistentVolumeClaim"))) {
        assert.ok(registered.includes(key), `${key} is registered`);
    }
    for (const resource of run.resources) {
        const key = `${resource.type}::${resource.name}`;
        const wanted = protectData && protectedNames.includes(key);
        assert.strictEqual(resource.options.protect, wanted, `protect ${key}`);
        // A retained StatefulSet would collide with its own replacement (fixed name): protected only; so is
        // the Namespace. The Cluster is retained: the operator keeps its instances and volumes if it leaves the program.
        // The Redis cluster's content-named ConfigMaps are kept in every stack when a change names new ones
        // (a rollback or a Job retry can still mount the previous generation); a new generation never reuses a name.
        const keptGeneration = ["kubernetes:core/v1:ConfigMap::redis-cluster-config", "kubernetes:core/v1:ConfigMap::redis-cluster-job-scripts"].includes(key);
        const retained = keptGeneration || (wanted && resource.type !== "kubernetes:apps/v1:StatefulSet" && resource.type !== "kubernetes:core/v1:Namespace");
        assert.strictEqual(resource.options.retainOnDelete, retained, `retainOnDelete ${key}`);
    }
    const statefulSets = engine === "statefulset" ? ["postgres", "redis-cluster"] : ["redis-cluster"];
    for (const name of statefulSets) {
        const annotations = run.get("kubernetes:apps/v1:StatefulSet", name).inputs.metadata.annotations ?? {};
        const policy = protectData ? "orphan" : undefined;
        assert.strictEqual(annotations["pulumi.com/deletionPropagationPolicy"], policy, `${name}: a replacement keeps the pods`);
    }
}

/** Staging on the statefulset engine (the local stack's): one server, no pooler, no standbys. */

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
                const [cpuRequest, memoryRequest, cpuLimit, memoryLimit, storage] = want.postgres;
                const engine = want.postgresEngine;
                if (engine.engine === "statefulset") {
                    const statefulSet = run.get("kubernetes:apps/v1:StatefulSet", "postgres");
                    assert.strictEqual(statefulSet.inputs.spec.replicas, 1);
                    assert.deepStrictEqual(compute(container(statefulSet, "postgres").resources), resources([cpuRequest, memoryRequest, cpuLimit, memoryLimit]));
                    assert.strictEqual(statefulSet.inputs.spec.volumeClaimTemplates[0].spec.resources.requests.storage, storage);
                    assert.deepStrictEqual(run.ofType(CLUSTER), []);
                } else {
                    // Each instance gets the seed's resources and storage; the WAL volume is production's only.
                    const cluster = run.get(CLUSTER, "postgres").inputs.spec;
                    assert.strictEqual(cluster.instances, engine.instances);
                    assert.deepStrictEqual(compute(cluster.resources), resources([cpuRequest, memoryRequest, cpuLimit, memoryLimit]));
                    assert.deepStrictEqual(cluster.storage, { size: storage });
                    assert.deepStrictEqual(cluster.walStorage, engine.walStorage && { size: engine.walStorage });
                    assert.ok(!run.ofType("kubernetes:apps/v1:StatefulSet").some((s) => s.name === "postgres"), "no StatefulSet: the operator runs the instances");
                }
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
                // Cluster add-ons live in their own namespaces (Helm releases, Envoy Gateway's EnvoyProxy) or are
                // cluster-scoped (ClusterIssuer, GatewayClass, PriorityClass, the previewer's ClusterRole and binding).
                const clusterWide = [
                    "kubernetes:core/v1:Namespace",
                    "kubernetes:helm.sh/v3:Release",
                    "kubernetes:cert-manager.io/v1:ClusterIssuer",
                    "kubernetes:gateway.networking.k8s.io/v1:GatewayClass",
                    "kubernetes:gateway.envoyproxy.io/v1alpha1:EnvoyProxy",
                    "kubernetes:scheduling.k8s.io/v1:PriorityClass",
                    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole",
                    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding",
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

            it("goes with its namespace on a destroy: its built-in objects, its custom resources unless it installs their operators; nothing cluster-scoped", () => {
                const namespace = run.get("kubernetes:core/v1:Namespace", "healthcare-backend");
                assert.ok(namespace.urn);
                // The operators' releases go in the same destroy: their custom resources are deleted one by one, before them.
                const installsOperators = run.ofType(HELM_RELEASE).length > 0;
                const builtInGroup = (type: string) => {
                    const group = type.split(":")[1].split("/")[0];
                    return !group.includes(".") || ["networking.k8s.io", "rbac.authorization.k8s.io", "scheduling.k8s.io", "discovery.k8s.io"].includes(group);
                };
                const going: string[] = [];
                for (const resource of run.resources.filter((r) => r.read === undefined)) {
                    const key = `${resource.type} ${resource.name}`;
                    const inNamespace = resource.type.startsWith("kubernetes:") && resource.type !== "kubernetes:core/v1:Namespace" && resource.inputs.metadata?.namespace === "healthcare-backend";
                    // Never on a component: the engine passes deletedWith on to every child, the cluster-scoped ones included.
                    const expected: string | undefined = inNamespace && (builtInGroup(resource.type) || !installsOperators) ? namespace.urn : undefined;
                    assert.strictEqual(resource.options.deletedWith, expected, `deletedWith of ${key}`);
                    if (expected) {
                        going.push(key);
                    }
                }
                for (const workload of ["kubernetes:apps/v1:Deployment healthcare-api", "kubernetes:apps/v1:StatefulSet redis-cluster", "kubernetes:batch/v1:Job redis-cluster-scale-in"]) {
                    assert.ok(going.includes(workload), `${workload} goes with the namespace`);
                }
                assert.strictEqual(going.some((k) => !builtInGroup(k.split(" ")[0])), !installsOperators, "custom resources go with it exactly when the stack installs no operator");
            });

            it("enforces the restricted Pod Security Standard on the namespace", () => {
                const namespace = run.get("kubernetes:core/v1:Namespace", "healthcare-backend");
                for (const mode of ["enforce", "audit", "warn"]) {
                    assert.strictEqual(namespace.inputs.metadata.labels[`pod-security.kubernetes.io/${mode}`], "restricted");
                }
            });

            it("keeps generated passwords secret and out of the stack outputs", () => {
                const postgres = postgresNames(want.postgresEngine.engine);
                for (const [secretName, passwordName, key] of [
                    [postgres.secret, postgres.password, "password"],
                    // One password per Redis ACL user, each under its own key.
                    ...["api", "exporter", "maintenance", "node", "replication"].map((u) => ["redis-credentials", `redis-${u}-password`, `${u}-password`]),
                ]) {
                    const secret = run.get("kubernetes:core/v1:Secret", secretName);
                    const data = unwrapSecret(secret.inputs.stringData) as Record<string, string>;
                    assert.strictEqual(data[key], mockPassword(passwordName));
                }
                const outputs = JSON.stringify(run.outputs);
                assert.ok(!outputs.includes("mock-secret"), `outputs hold no password: ${outputs}`);
                const configMap = run.get("kubernetes:core/v1:ConfigMap", "healthcare-api-config");
                assert.ok(!JSON.stringify(configMap.inputs).includes("mock-secret"), "the API ConfigMap holds no password");
            });

            it("protects stateful resources from deletion and replacement outside local", () => {
                assertProtection(run, stack !== "local", want.postgresEngine.engine);
            });

            if (want.postgresEngine.engine === "cloudnative-pg") {
                const engine = want.postgresEngine;
                const clusterSpec = () => run.get(CLUSTER, "postgres").inputs.spec;

                it(`runs PostgreSQL as a CloudNativePG Cluster: ${engine.instances} instances, a synchronous standby, never two on one host, spread over zones`, () => {
                    const spec = clusterSpec();
                    assert.strictEqual(run.get(CLUSTER, "postgres").inputs.metadata.name, "postgres");
                    // A commit returns once a standby has it: a lost primary loses no acknowledged write. With one
                    // standby (staging) it waits only while that standby is up, so a roll never stops writes.
                    const durability = engine.instances >= 3 ? "required" : "preferred";
                    assert.deepStrictEqual(spec.postgresql.synchronous, { method: "any", number: 1, dataDurability: durability });
                    assert.deepStrictEqual(spec.affinity, { enablePodAntiAffinity: true, podAntiAffinityType: "required", topologyKey: "kubernetes.io/hostname" });
                    assert.deepStrictEqual(spec.topologySpreadConstraints, [
                        {
                            maxSkew: 1,
                            topologyKey: "topology.kubernetes.io/zone",
                            whenUnsatisfiable: "ScheduleAnyway",
                            labelSelector: { matchLabels: { "cnpg.io/cluster": "postgres", "cnpg.io/podRole": "instance" } },
                        },
                    ]);
                    assert.strictEqual(spec.imageName, "ghcr.io/cloudnative-pg/postgresql:17.6-standard-trixie");
                    assert.strictEqual(spec.priorityClassName, `healthcare-backend-${stack}-data`);
                });

                it("bootstraps the database owned by the API's own role (its password from the stack's Secret), with no remote superuser", () => {
                    const spec = clusterSpec();
                    assert.strictEqual(spec.enableSuperuserAccess, false);
                    assert.deepStrictEqual(spec.bootstrap, { initdb: { database: "healthcare", owner: "healthcare", secret: { name: "postgres-app-credentials" } } });
                    const secret = run.get("kubernetes:core/v1:Secret", "postgres-app-credentials").inputs;
                    assert.strictEqual(secret.type, "kubernetes.io/basic-auth");
                    assert.deepStrictEqual(unwrapSecret(secret.stringData), { username: "healthcare", password: mockPassword("postgres-app-password") });
                });

                it(`puts PgBouncer in front (transaction mode, 2 pods, ${engine.maxClientConnections} clients each) and sizes max_connections for its server pools`, () => {
                    const pooler = run.get(POOLER, "postgres-pooler").inputs.spec;
                    assert.deepStrictEqual(pooler.cluster, { name: "postgres" });
                    assert.strictEqual(pooler.instances, 2);
                    assert.strictEqual(pooler.type, "rw");
                    assert.strictEqual(pooler.pgbouncer.poolMode, "transaction");
                    // Every API pod's pool at the HPA's ceiling: apiMaxReplicas x apiDatabasePoolSize.
                    const [, maxReplicas] = want.replicas;
                    assert.strictEqual(engine.maxClientConnections, maxReplicas * 10);
                    assert.deepStrictEqual(pooler.pgbouncer.parameters, { max_client_conn: String(engine.maxClientConnections), default_pool_size: "50" });
                    // Two poolers' server pools (2 x 50) and the reserve (20).
                    assert.deepStrictEqual(clusterSpec().postgresql.parameters, { max_connections: "120" });
                    // The API verifies the pooler's name against the server certificate (sslmode=verify-full).
                    assert.deepStrictEqual(clusterSpec().certificates.serverAltDNSNames, [
                        "postgres-pooler",
                        "postgres-pooler.healthcare-backend",
                        "postgres-pooler.healthcare-backend.svc",
                        "postgres-pooler.healthcare-backend.svc.cluster.local",
                    ]);
                });

                it(`archives the WAL and takes daily base backups to the off-cluster bucket, kept ${engine.retention}`, () => {
                    assert.deepStrictEqual(clusterSpec().plugins, [{ name: "barman-cloud.cloudnative-pg.io", isWALArchiver: true, parameters: { barmanObjectName: "postgres-backups" } }]);
                    const store = run.get(OBJECT_STORE, "postgres-backups").inputs.spec;
                    assert.strictEqual(store.retentionPolicy, engine.retention);
                    assert.strictEqual(store.configuration.destinationPath, `s3://${engine.bucket}`);
                    assert.strictEqual(store.configuration.endpointURL, "https://s3.eu-central-1.amazonaws.com");
                    // Credentials by reference to the Secret created outside the program, never the keys.
                    assert.deepStrictEqual(store.configuration.s3Credentials, {
                        accessKeyId: { name: "postgres-backup-s3", key: "AWS_ACCESS_KEY_ID" },
                        secretAccessKey: { name: "postgres-backup-s3", key: "AWS_SECRET_ACCESS_KEY" },
                    });
                    const backup = run.get(SCHEDULED_BACKUP, "postgres-backup").inputs.spec;
                    // The operator's schedules have a seconds field: 02:00 UTC daily.
                    assert.strictEqual(backup.schedule, "0 0 2 * * *");
                    assert.deepStrictEqual(backup.cluster, { name: "postgres" });
                    assert.strictEqual(backup.method, "plugin");
                    assert.deepStrictEqual(backup.pluginConfiguration, { name: "barman-cloud.cloudnative-pg.io" });
                    assert.strictEqual(backup.immediate, true);
                    // The Cluster waits for its object store.
                    const storeUrn = run.get(OBJECT_STORE, "postgres-backups").urn!;
                    assert.ok(run.get(CLUSTER, "postgres").options.dependsOn.includes(storeUrn));
                });

                it("runs no StatefulSet, backup CronJob, backup volume or exporter sidecar for PostgreSQL", () => {
                    assert.deepStrictEqual(run.ofType("kubernetes:apps/v1:StatefulSet").map((s) => s.name), ["redis-cluster"]);
                    // Redis's periodic reconcile is the only CronJob.
                    assert.deepStrictEqual(run.ofType("kubernetes:batch/v1:CronJob").map((c) => c.name), ["redis-cluster-reconcile-periodic"]);
                    assert.deepStrictEqual(run.ofType("kubernetes:core/v1:PersistentVolumeClaim"), []);
                    assert.ok(!run.ofType("kubernetes:core/v1:Secret").some((s) => s.name === "postgres-credentials"));
                    assert.strictEqual(run.outputs.postgresBackupCronJob, "(cloudnative-pg: ScheduledBackup postgres-backup and the WAL archive)");
                });
            }

            it("exports the service hosts and secret names", () => {
                assert.strictEqual(run.outputs.namespaceName, "healthcare-backend");
                const postgres = postgresNames(want.postgresEngine.engine);
                assert.strictEqual(run.outputs.postgresHost, postgres.host);
                assert.strictEqual(run.outputs.apiServiceHost, "healthcare-api.healthcare-backend.svc.cluster.local");
                assert.strictEqual(run.outputs.postgresSecretName, postgres.secret);
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

    it("staging on the statefulset engine protects the StatefulSet, its Secret, its password and the backup volume", async () => {
        const run = await runStack(stackConfig("staging", onStatefulSetEngine), "staging");
        assertProtection(run, true, "statefulset");
        assert.deepStrictEqual(run.ofType(CLUSTER), []);
        assert.strictEqual(run.outputs.postgresHost, "postgres.healthcare-backend.svc.cluster.local");
        assert.strictEqual(run.outputs.postgresSecretName, "postgres-credentials");
    });

    it("a one-instance Cluster has no synchronous standby to wait for", async () => {
        const run = await runStack(stackConfig("staging", { postgresInstances: 1 }), "staging");
        const spec = run.get(CLUSTER, "postgres").inputs.spec;
        assert.strictEqual(spec.instances, 1);
        assert.strictEqual(spec.postgresql.synchronous, undefined);
    });

    it("production runs an API image that cannot change under it: a semantic version tag or a digest", async () => {
        const run = await runStack(stackConfig("production"), "production");
        const image: string = container(run.get("kubernetes:apps/v1:Deployment", "healthcare-api"), "api").image;
        assert.match(image, /:v?\d+\.\d+\.\d+(-[\w.-]+)?$|@sha256:[a-f0-9]{64}$/);
    });

    it("every data-store and exporter container runs the digest its setting pins, on both engines", async () => {
        const digest = (c: string) => `sha256:${c.repeat(64)}`;
        const pins = {
            postgresImageDigest: digest("1"),
            redisImageDigest: digest("2"),
            postgresExporterImage: `quay.io/prometheuscommunity/postgres-exporter:v0.20.1@${digest("3")}`,
            redisExporterImage: `oliver006/redis_exporter:v1.91.1@${digest("4")}`,
            postgresBackupS3ClientImage: `rclone/rclone:1.75.1@${digest("5")}`,
        };
        const images = (run: ProgramRun) => new Set(podTemplates(run.resources).flatMap((t) => allContainers(t.spec).map((c) => c.image as string)));
        // The statefulset engine with object-storage backups runs all five images (staging's bucket settings).
        const statefulSet = images(await runStack(stackConfig("staging", { ...onStatefulSetEngine, ...pins }), "staging"));
        assert.deepStrictEqual(
            [...statefulSet].filter((i) => !i.startsWith("registry.example.com/healthcare/healthcare-api")).sort(),
            [`postgres:17.6@${digest("1")}`, `redis:8.2.3@${digest("2")}`, pins.postgresExporterImage, pins.redisExporterImage, pins.postgresBackupS3ClientImage].sort(),
        );
        const cluster = await runStack(stackConfig("production", pins), "production");
        assert.strictEqual(cluster.get(CLUSTER, "postgres").inputs.spec.imageName, `ghcr.io/cloudnative-pg/postgresql:17.6-standard-trixie@${digest("1")}`);
        assert.ok(images(cluster).has(`redis:8.2.3@${digest("2")}`));
        const release = cluster.outputs.release as Record<string, string>;
        assert.strictEqual(release.postgresImageDigest, digest("1"));
        assert.strictEqual(release.redisImageDigest, digest("2"));
    });
});
