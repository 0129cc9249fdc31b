import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { dataLayout } from "../components/postgres";
import { redisConfig } from "../components/redisCluster";
import { parseSettings, Settings } from "../config";
import { ProgramRun, runStack } from "../harness/mockProgram";
import { stackConfig, onStatefulSetEngine } from "../harness/stackConfig";

function settingsOf(stack: string): Settings {
    const values = Object.fromEntries(Object.entries(stackConfig(stack)).map(([k, v]) => [k.replace(/^healthcare-backend:/, ""), v]));
    return parseSettings({ project: "healthcare-backend", stack, get: (k) => values[k], keys: () => Object.keys(values) });
}

const containerOf = (resource: any, name: string) => resource.inputs.spec.template.spec.containers.find((c: any) => c.name === name);

/** Staging on the statefulset engine (the local stack's): one server, no pooler, no standbys. */

describe("Api", () => {
    let run: ProgramRun;
    before(async () => {
        run = await runStack(stackConfig("staging"), "staging");
    });

    it("never drops below the desired count during a rollout", () => {
        const deployment = run.get("kubernetes:apps/v1:Deployment", "healthcare-api");
        assert.deepStrictEqual(deployment.inputs.spec.strategy, { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: "25%" } });
    });

    it("probes startup, readiness and liveness on the health port and exposes http, metrics and health", () => {
        const api = containerOf(run.get("kubernetes:apps/v1:Deployment", "healthcare-api"), "api");
        assert.deepStrictEqual(api.startupProbe.httpGet, { path: "/healthz", port: "health" });
        assert.deepStrictEqual(api.readinessProbe.httpGet, { path: "/readyz", port: "health" });
        assert.deepStrictEqual(api.livenessProbe.httpGet, { path: "/healthz", port: "health" });
        assert.deepStrictEqual(
            api.ports.map((p: any) => [p.name, p.containerPort]),
            [
                ["http", 8080],
                ["metrics", 9090],
                ["health", 8081],
            ],
        );
        const service = run.get("kubernetes:core/v1:Service", "healthcare-api").inputs.spec;
        assert.deepStrictEqual(
            service.ports.map((p: any) => [p.name, p.port, p.targetPort]),
            [
                ["http", 80, "http"],
                ["metrics", 9090, "metrics"],
                ["health", 8081, "health"],
            ],
        );
    });

    it("runs without a service account token, spread across nodes, with a read-only root filesystem", () => {
        const pod = run.get("kubernetes:apps/v1:Deployment", "healthcare-api").inputs.spec.template.spec;
        assert.strictEqual(pod.automountServiceAccountToken, false);
        assert.strictEqual(run.get("kubernetes:core/v1:ServiceAccount", "healthcare-api").inputs.automountServiceAccountToken, false);
        assert.ok(pod.topologySpreadConstraints.some((c: any) => c.topologyKey === "kubernetes.io/hostname"));
        assert.strictEqual(pod.containers[0].securityContext.readOnlyRootFilesystem, true);
    });

    it("connects to PostgreSQL through the pooler with TLS verified against the cluster's CA, and to Redis, through service names and Secret references", () => {
        const config = run.get("kubernetes:core/v1:ConfigMap", "healthcare-api-config").inputs.data;
        assert.strictEqual(config.DATABASE_HOST, "postgres-pooler.healthcare-backend.svc.cluster.local");
        assert.strictEqual(config.DATABASE_PORT, "5432");
        assert.strictEqual(config.DATABASE_NAME, "healthcare");
        assert.strictEqual(config.DATABASE_POOL_MAX, "10");
        assert.strictEqual(config.DATABASE_SSL_MODE, "verify-full");
        assert.strictEqual(config.DATABASE_SSL_ROOT_CERT, "/run/secrets/database-ca/ca.crt");
        assert.strictEqual(config.REDIS_CLUSTER_NODES.split(",").length, 6);
        // Redis: the API's ACL user, TLS verified against the nodes' CA with the fixed name in their certificate.
        assert.strictEqual(config.REDIS_USERNAME, "healthcare-api");
        assert.strictEqual(config.REDIS_TLS_CA_FILE, "/run/secrets/redis-ca/ca.crt");
        assert.strictEqual(config.REDIS_TLS_SERVERNAME, "redis-cluster");
        const deployment = run.get("kubernetes:apps/v1:Deployment", "healthcare-api");
        const api = containerOf(deployment, "api");
        assert.deepStrictEqual(
            api.env.map((e: any) => [e.name, e.valueFrom.secretKeyRef.name, e.valueFrom.secretKeyRef.key]),
            [
                ["DATABASE_USER", "postgres-app-credentials", "username"],
                ["DATABASE_PASSWORD", "postgres-app-credentials", "password"],
                ["REDIS_PASSWORD", "redis-credentials", "api-password"],
            ],
        );
        // The CA the operator signs the server's (and the pooler's) certificate with, read-only, key ca.crt only.
        const redisCa = deployment.inputs.spec.template.spec.volumes.find((v: any) => v.name === "redis-ca");
        assert.deepStrictEqual(redisCa.secret, { secretName: "redis-cluster-tls", items: [{ key: "ca.crt", path: "ca.crt" }], defaultMode: 0o444 }, "the CA alone, never the nodes' key");
        const ca = deployment.inputs.spec.template.spec.volumes.find((v: any) => v.name === "database-ca");
        assert.deepStrictEqual(ca.secret, { secretName: "postgres-ca", items: [{ key: "ca.crt", path: "ca.crt" }], defaultMode: 0o444 });
        assert.deepStrictEqual(
            api.volumeMounts.find((m: any) => m.name === "database-ca"),
            { name: "database-ca", mountPath: "/run/secrets/database-ca", readOnly: true },
        );
    });

    it("on the statefulset engine connects to the server's Service directly, without TLS settings or a CA volume", async () => {
        const direct = await runStack(stackConfig("staging", onStatefulSetEngine), "staging");
        const config = direct.get("kubernetes:core/v1:ConfigMap", "healthcare-api-config").inputs.data;
        assert.strictEqual(config.DATABASE_HOST, "postgres.healthcare-backend.svc.cluster.local");
        assert.strictEqual(config.DATABASE_PORT, "5432");
        assert.strictEqual(config.DATABASE_POOL_MAX, "10");
        assert.strictEqual(config.DATABASE_SSL_MODE, undefined);
        assert.strictEqual(config.DATABASE_SSL_ROOT_CERT, undefined);
        const deployment = direct.get("kubernetes:apps/v1:Deployment", "healthcare-api");
        const api = containerOf(deployment, "api");
        assert.deepStrictEqual(
            api.env.map((e: any) => [e.name, e.valueFrom.secretKeyRef.name, e.valueFrom.secretKeyRef.key]),
            [
                ["DATABASE_USER", "postgres-credentials", "username"],
                ["DATABASE_PASSWORD", "postgres-credentials", "password"],
                ["REDIS_PASSWORD", "redis-credentials", "api-password"],
            ],
        );
        // No database CA: only the Redis nodes' (redisTls).
        assert.deepStrictEqual(deployment.inputs.spec.template.spec.volumes.map((v: any) => v.name), ["tmp", "redis-ca"]);
        assert.deepStrictEqual(api.volumeMounts.map((m: any) => m.name), ["tmp", "redis-ca"]);
    });

    it("sizes each pod's database pool from apiDatabasePoolSize", async () => {
        const other = await runStack(stackConfig("staging", { apiDatabasePoolSize: 4 }), "staging");
        assert.strictEqual(other.get("kubernetes:core/v1:ConfigMap", "healthcare-api-config").inputs.data.DATABASE_POOL_MAX, "4");
    });

    it("rolls the pods when a setting in the ConfigMap changes: a new content-named, immutable ConfigMap", async () => {
        const other = await runStack(stackConfig("staging", { apiReadyPath: "/ready" }), "staging");
        const configMapName = (r: ProgramRun) => r.get("kubernetes:core/v1:ConfigMap", "healthcare-api-config").inputs.metadata.name;
        const referenced = (r: ProgramRun) => containerOf(r.get("kubernetes:apps/v1:Deployment", "healthcare-api"), "api").envFrom[0].configMapRef.name;
        assert.match(configMapName(run), /^healthcare-api-config-[a-f0-9]{10}$/);
        assert.strictEqual(referenced(run), configMapName(run));
        assert.notStrictEqual(configMapName(other), configMapName(run));
        assert.strictEqual(referenced(other), configMapName(other));
        assert.strictEqual(run.get("kubernetes:core/v1:ConfigMap", "healthcare-api-config").inputs.immutable, true);
    });

    it("publishes the API through an HTTPRoute on the platform Gateway's HTTPS listener, across namespaces, with no Ingress", () => {
        const route = run.get("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", "healthcare-api");
        assert.deepStrictEqual(route.inputs.metadata.name, "healthcare-api");
        assert.deepStrictEqual(route.inputs.metadata.namespace, "healthcare-backend");
        assert.deepStrictEqual(route.inputs.spec, {
            parentRefs: [{ name: "public", namespace: "gateway-system", sectionName: "https-staging" }],
            hostnames: ["api.staging.healthcare.example.com"],
            rules: [{ matches: [{ path: { type: "PathPrefix", value: "/" } }], backendRefs: [{ name: "healthcare-api", port: 80 }] }],
        });
        // The platform's Gateway is not the stack's to create or annotate.
        assert.deepStrictEqual(run.ofType("kubernetes:gateway.networking.k8s.io/v1:Gateway"), []);
        assert.deepStrictEqual(run.ofType("kubernetes:networking.k8s.io/v1:Ingress"), []);
        assert.strictEqual(run.outputs.apiUrl, "https://api.staging.healthcare.example.com");
    });

    it("local: creates its Gateway of Envoy Gateway's class in its namespace, the route on its http listener, after the add-ons", async () => {
        const local = await runStack(stackConfig("local"), "local");
        const gateway = local.get("kubernetes:gateway.networking.k8s.io/v1:Gateway", "gateway");
        assert.deepStrictEqual(gateway.inputs.metadata.name, "healthcare-api");
        assert.deepStrictEqual(gateway.inputs.metadata.namespace, "healthcare-backend");
        assert.strictEqual(gateway.inputs.metadata.annotations, undefined, "plain HTTP: no certificate to ask for");
        assert.deepStrictEqual(gateway.inputs.spec, {
            gatewayClassName: "envoy-gateway",
            listeners: [{ name: "http", protocol: "HTTP", port: 8088, hostname: "localhost", allowedRoutes: { namespaces: { from: "Same" } } }],
        });
        const route = local.get("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", "healthcare-api");
        assert.deepStrictEqual(route.inputs.spec.parentRefs, [{ name: "healthcare-api", sectionName: "http" }]);
        const release = (name: string) => local.get("kubernetes:helm.sh/v3:Release", name).urn!;
        assert.ok(gateway.options.dependsOn!.includes(release("envoy-gateway")), "the Gateway waits for the chart that brings its CRD");
        assert.ok(route.options.dependsOn!.includes(release("envoy-gateway")));
        assert.deepStrictEqual(local.ofType("kubernetes:networking.k8s.io/v1:Ingress"), []);
        const none = await runStack(stackConfig("local", { ingressEnabled: false }), "local");
        assert.deepStrictEqual([...none.ofType("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"), ...none.ofType("kubernetes:gateway.networking.k8s.io/v1:Gateway")], []);
    });

    it("local TLS: an https listener whose certificate cert-manager's gateway-shim issues from the annotation, and plain HTTP redirected", async () => {
        const local = await runStack(stackConfig("local", { ingressTlsEnabled: true, ingressClusterIssuer: "selfsigned" }), "local");
        const gateway = local.get("kubernetes:gateway.networking.k8s.io/v1:Gateway", "gateway").inputs;
        assert.deepStrictEqual(gateway.metadata.annotations, { "cert-manager.io/cluster-issuer": "selfsigned" });
        assert.deepStrictEqual(gateway.spec.listeners[1], {
            name: "https",
            protocol: "HTTPS",
            port: 8443,
            hostname: "localhost",
            tls: { mode: "Terminate", certificateRefs: [{ kind: "Secret", name: "healthcare-api-tls" }] },
            allowedRoutes: { namespaces: { from: "Same" } },
        });
        assert.deepStrictEqual(local.get("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", "healthcare-api").inputs.spec.parentRefs, [
            { name: "healthcare-api", sectionName: "https" },
        ]);
        const redirect = local.get("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", "healthcare-api-https-redirect").inputs.spec;
        assert.deepStrictEqual(redirect, {
            parentRefs: [{ name: "healthcare-api", sectionName: "http" }],
            hostnames: ["localhost"],
            rules: [{ filters: [{ type: "RequestRedirect", requestRedirect: { scheme: "https", port: 8443, statusCode: 301 } }] }],
        });
        assert.strictEqual(local.outputs.apiUrl, "https://localhost");
    });

    it("an Ingress where the platform runs a maintained ingress controller: its class, TLS through cert-manager", async () => {
        const staging = await runStack(
            stackConfig("staging", { apiExposure: "ingress", ingressClassName: "haproxy", ingressControllerNamespace: "haproxy-controller", ingressClusterIssuer: "letsencrypt" }),
            "staging",
        );
        const ingress = staging.get("kubernetes:networking.k8s.io/v1:Ingress", "healthcare-api").inputs;
        assert.strictEqual(ingress.spec.ingressClassName, "haproxy");
        assert.deepStrictEqual(ingress.spec.tls, [{ hosts: ["api.staging.healthcare.example.com"], secretName: "healthcare-api-tls" }]);
        assert.strictEqual(ingress.metadata.annotations["cert-manager.io/cluster-issuer"], "letsencrypt");
        assert.strictEqual(ingress.metadata.annotations["pulumi.com/skipAwait"], undefined);
        assert.deepStrictEqual(staging.ofType("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"), []);
        const skipping = await runStack(
            stackConfig("local", { apiExposure: "ingress", ingressClassName: "traefik", ingressControllerNamespace: "traefik", ingressSkipAwait: true }),
            "local",
        );
        assert.strictEqual(skipping.get("kubernetes:networking.k8s.io/v1:Ingress", "healthcare-api").inputs.metadata.annotations["pulumi.com/skipAwait"], "true");
    });
});

describe("Gateway", () => {
    it("refuses bad args before registering anything", async () => {
        await pulumi.runtime.setMocks({ newResource: (a) => ({ id: `${a.name}-id`, state: a.inputs }), call: (a) => a.inputs }, "healthcare-backend", "test", false);
        const { Gateway } = await import("../components/gateway");
        assert.throws(
            () =>
                new Gateway("gateway", {
                    namespace: pulumi.output("healthcare-backend"),
                    instance: "test",
                    name: "Public",
                    className: "envoy-gateway",
                    host: "localhost",
                    ports: { http: 8088, https: 8088 },
                    tls: { secretName: "healthcare-api-tls" },
                }),
            (e: Error) => e.name === "ComponentArgsError" && /name "Public" is not a Gateway name/.test(e.message) && /ports.http and ports.https are both 8088/.test(e.message),
        );
    });
});

describe("Postgres", () => {
    it("mounts its volume where the image declares it, with PGDATA one level down", () => {
        assert.deepStrictEqual(dataLayout(17), { mountPath: "/var/lib/postgresql/data", pgdata: "/var/lib/postgresql/data/pgdata" });
        assert.deepStrictEqual(dataLayout(18), { mountPath: "/var/lib/postgresql", pgdata: "/var/lib/postgresql/data" });
    });

    it("statefulset engine: runs the pinned official image as uid 999 with writable PGDATA, socket and tmp under a read-only root", async () => {
        const run = await runStack(stackConfig("staging", onStatefulSetEngine), "staging");
        const statefulSet = run.get("kubernetes:apps/v1:StatefulSet", "postgres").inputs;
        const pod = statefulSet.spec.template.spec;
        const postgres = containerOf({ inputs: statefulSet }, "postgres");
        assert.strictEqual(postgres.image, "postgres:17.6");
        assert.deepStrictEqual([pod.securityContext.runAsUser, pod.securityContext.fsGroup], [999, 999]);
        assert.strictEqual(postgres.securityContext.readOnlyRootFilesystem, true);
        assert.deepStrictEqual(
            postgres.volumeMounts.map((m: any) => m.mountPath),
            ["/var/lib/postgresql/data", "/var/run/postgresql", "/tmp", "/dev/shm", "/run/secrets/postgres"],
        );
        assert.strictEqual(postgres.env.find((e: any) => e.name === "PGDATA").value, "/var/lib/postgresql/data/pgdata");
        assert.match(postgres.readinessProbe.exec.command.join(" "), /pg_isready/);
        assert.strictEqual(statefulSet.spec.serviceName, "postgres-headless");
        // The superuser's credentials as files from its Secret (POSTGRES_*_FILE), none in the environment.
        assert.deepStrictEqual(
            postgres.env.filter((e: any) => e.name.startsWith("POSTGRES_")).map((e: any) => [e.name, e.value]),
            [
                ["POSTGRES_USER_FILE", "/run/secrets/postgres/username"],
                ["POSTGRES_PASSWORD_FILE", "/run/secrets/postgres/password"],
                ["POSTGRES_DB", "healthcare"],
            ],
        );
        assert.ok(postgres.env.every((e: any) => e.valueFrom?.secretKeyRef === undefined));
        const credentials = pod.volumes.find((v: any) => v.name === "credentials").secret;
        assert.deepStrictEqual([credentials.secretName, credentials.defaultMode], ["postgres-superuser", 0o440]);
        assert.strictEqual(run.get("kubernetes:core/v1:Service", "postgres-headless").inputs.spec.clusterIP, "None");
        assert.strictEqual(run.get("kubernetes:core/v1:Service", "postgres").inputs.spec.type, "ClusterIP");
    });

    it("statefulset engine: uses the storage class from config, and the cluster default when it is empty", async () => {
        const withClass = await runStack(stackConfig("staging", { ...onStatefulSetEngine, postgresStorageClass: "fast-ssd" }), "staging");
        const claim = (r: ProgramRun) => r.get("kubernetes:apps/v1:StatefulSet", "postgres").inputs.spec.volumeClaimTemplates[0];
        assert.strictEqual(claim(withClass).spec.storageClassName, "fast-ssd");
        const withoutClass = await runStack(stackConfig("staging", onStatefulSetEngine), "staging");
        assert.strictEqual(claim(withoutClass).spec.storageClassName, undefined);
        // A version bump must not touch the claim template, which would replace the StatefulSet.
        assert.strictEqual(claim(withoutClass).metadata.labels["app.kubernetes.io/version"], undefined);
    });

    it("cloudnative-pg engine: runs the operator's operand image, no StatefulSet, and the data and WAL volumes on the configured class", async () => {
        const withClass = await runStack(stackConfig("production", { postgresStorageClass: "fast-ssd" }), "production");
        const cluster = (r: ProgramRun) => r.get("kubernetes:postgresql.cnpg.io/v1:Cluster", "postgres").inputs.spec;
        assert.strictEqual(cluster(withClass).imageName, "ghcr.io/cloudnative-pg/postgresql:17.6-standard-trixie");
        assert.deepStrictEqual(cluster(withClass).storage, { size: "100Gi", storageClass: "fast-ssd" });
        assert.deepStrictEqual(cluster(withClass).walStorage, { size: "20Gi", storageClass: "fast-ssd" });
        assert.deepStrictEqual(withClass.ofType("kubernetes:apps/v1:StatefulSet").map((s) => s.name), ["redis-cluster"]);
        const withoutClass = await runStack(stackConfig("production"), "production");
        assert.deepStrictEqual(cluster(withoutClass).storage, { size: "100Gi" });
        assert.deepStrictEqual(cluster(withoutClass).walStorage, { size: "20Gi" });
    });
});

describe("RedisCluster", () => {
    it("gives data half of the memory limit (the rest is headroom for forks and buffers) and never evicts silently", () => {
        const config = redisConfig(settingsOf("production").redis);
        assert.match(config, new RegExp(`^maxmemory ${Math.floor(2 * 2 ** 30 * 0.5)}$`, "m"));
        assert.match(config, /^maxmemory-policy noeviction$/m);
        assert.match(config, /^cluster-enabled yes$/m);
    });

    it("opens the data port and the cluster bus, spreads nodes across hosts and forms the cluster after they start", async () => {
        const run = await runStack(stackConfig("production"), "production");
        const statefulSet = run.get("kubernetes:apps/v1:StatefulSet", "redis-cluster");
        const redis = containerOf(statefulSet, "redis");
        assert.deepStrictEqual(
            redis.ports.map((p: any) => [p.name, p.containerPort]),
            [
                ["redis", 6379],
                ["cluster-bus", 16379],
            ],
        );
        assert.strictEqual(redis.image, "redis:8.2.3");
        assert.strictEqual(statefulSet.inputs.spec.podManagementPolicy, "Parallel");
        const antiAffinity = statefulSet.inputs.spec.template.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0];
        assert.strictEqual(antiAffinity.podAffinityTerm.topologyKey, "kubernetes.io/hostname");
        assert.strictEqual(run.get("kubernetes:core/v1:Service", "redis-cluster-headless").inputs.spec.publishNotReadyAddresses, true);
        const job = run.get("kubernetes:batch/v1:Job", "redis-cluster-reconcile");
        const statefulSetUrn = job.options.dependsOn.find((urn) => urn.endsWith("::redis-cluster") && urn.includes("StatefulSet"));
        assert.ok(statefulSetUrn, `the reconcile Job waits for the StatefulSet: ${job.options.dependsOn.join(", ")}`);
        // The password reaches redis-cli through the environment, never through argv.
        const reconcile = containerOf(job, "reconcile");
        assert.ok(reconcile.env.some((e: any) => e.name === "REDISCLI_AUTH" && e.valueFrom.secretKeyRef.name === "redis-credentials"));
        assert.ok(!JSON.stringify(reconcile.command).includes("-a"));
    });
});

describe("awaits: a Service goes unawaited only where a workload's await already proves the pods behind it ready", () => {
    const skipsAwait = (r: { inputs: any }) => r.inputs.metadata?.annotations?.["pulumi.com/skipAwait"] === "true";
    const selects = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels?.[k] === v);

    for (const [stack, expected] of [
        ["local", ["healthcare-api", "postgres"]],
        ["staging", ["healthcare-api"]],
        ["production", ["healthcare-api"]],
    ] as const) {
        it(`${stack}: each unawaited Service (${expected.join(", ")}) selects exactly one awaited Deployment or StatefulSet, on ports its pods name; what publishes the API waits for its Deployment`, async () => {
            const run = await runStack(stackConfig(stack), stack);
            const services = run.ofType("kubernetes:core/v1:Service");
            const skipping = services.filter(skipsAwait);
            assert.deepStrictEqual(skipping.map((s) => s.inputs.metadata.name).sort(), [...expected].sort());
            // Headless Services are never awaited by the provider; every other one is awaited unless listed above.
            for (const service of skipping) {
                assert.notStrictEqual(service.inputs.spec.clusterIP, "None", `${service.name}: headless Services need no annotation`);
                const workloads = [...run.ofType("kubernetes:apps/v1:Deployment"), ...run.ofType("kubernetes:apps/v1:StatefulSet")].filter((w) =>
                    selects(service.inputs.spec.selector, w.inputs.spec.template.metadata.labels),
                );
                assert.strictEqual(workloads.length, 1, `${service.name} selects the pods of ${workloads.map((w) => w.name).join(", ") || "nothing"}`);
                const [workload] = workloads;
                assert.ok(!skipsAwait(workload), `${workload.name} is awaited`);
                const portNames = workload.inputs.spec.template.spec.containers.flatMap((c: any) => (c.ports ?? []).map((p: any) => p.name));
                for (const port of service.inputs.spec.ports) {
                    assert.ok(portNames.includes(port.targetPort), `${service.name} port ${port.name} targets ${port.targetPort}, a port of ${workload.name}'s pods`);
                }
            }
            const deployment = run.get("kubernetes:apps/v1:Deployment", "healthcare-api");
            const route = run.get("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", "healthcare-api");
            assert.ok(route.options.dependsOn.includes(deployment.urn!), `the HTTPRoute waits for the Deployment: ${route.options.dependsOn.join(", ")}`);
        });
    }

    it("an Ingress, too, waits for the API's Deployment", async () => {
        const run = await runStack(stackConfig("staging", { apiExposure: "ingress", ingressClassName: "haproxy", ingressControllerNamespace: "haproxy-controller" }), "staging");
        const ingress = run.get("kubernetes:networking.k8s.io/v1:Ingress", "healthcare-api");
        assert.ok(ingress.options.dependsOn.includes(run.get("kubernetes:apps/v1:Deployment", "healthcare-api").urn!));
    });
});
