import * as assert from "assert";
import { parseSettings } from "../config";
import { runProgram } from "../harness/mockProgram";
import { stackConfig, onStatefulSetEngine } from "../harness/stackConfig";
import { stackSettings } from "../cli/ops/workspace";

/**
 * Runs the real program with the stack file plus `overrides` and asserts that it stops before
 * registering anything, with one message that holds every expected fragment (key, bad value, expectation).
 */
async function expectRejected(stack: string, overrides: Record<string, unknown>, ...fragments: string[]): Promise<string> {
    const { error, resources } = await runProgram(stackConfig(stack, overrides), stack);
    assert.ok(error, "the program should have failed");
    assert.strictEqual(error.name, "SettingsError", error.stack);
    for (const fragment of fragments) {
        assert.ok(error.message.includes(fragment), `message should include ${JSON.stringify(fragment)}:\n${error.message}`);
    }
    assert.deepStrictEqual(
        resources.map((r) => `${r.type} ${r.name}`),
        [],
        "nothing may be registered when validation fails",
    );
    return error.message;
}

/** The stack file plus `overrides`, read by the settings module as a deployment would. */
const settings = (stack: string, overrides: Record<string, unknown> = {}) => {
    const values = Object.fromEntries(Object.entries(stackConfig(stack, overrides)).map(([k, v]) => [k.replace(/^healthcare-backend:/, ""), v]));
    return parseSettings({ project: "healthcare-backend", stack, get: (k) => values[k], keys: () => Object.keys(values) });
};

const localResources = { requests: { cpu: "250m", memory: "512Mi" }, limits: { cpu: "1000m", memory: "1Gi" } };
/** Staging on the statefulset engine (the local stack's): one server, no pooler, no standbys. */
/** No off-cluster backup target: the shipped staging and production name one. */
const noBucket = { postgresBackupS3Endpoint: "", postgresBackupS3Bucket: "", postgresBackupS3CredentialsSecret: "", postgresBackupS3Egress: "" };
/** The local stack on the production engine, as Pulumi.local.yaml describes it (with the VPA's PostgreSQL mode Off). */
const localCloudNativePg = { postgresEngine: "cloudnative-pg", postgresInstances: 1, postgresPoolerInstances: 1, vpaPostgresMode: "Off", installCloudNativePg: true };

describe("bad input is rejected before anything is registered", () => {
    it("min replicas above max replicas", async () => {
        await expectRejected("local", { apiMinReplicas: 5, apiMaxReplicas: 3 }, "healthcare-backend:apiMinReplicas = 5", "at most apiMaxReplicas (3)");
    });

    it("a non-positive count", async () => {
        await expectRejected("local", { apiMinReplicas: 0 }, "healthcare-backend:apiMinReplicas = \"0\"", "a whole number >= 1");
        await expectRejected("staging", { redisNodes: -6 }, "healthcare-backend:redisNodes = \"-6\"", "a whole number >= 1");
    });

    it("a non-integer count", async () => {
        await expectRejected("staging", { apiMaxReplicas: "2.5" }, "healthcare-backend:apiMaxReplicas = \"2.5\"", "a whole number >= 1");
        await expectRejected("staging", { redisReplicasPerMaster: "one" }, "healthcare-backend:redisReplicasPerMaster = \"one\"", "a whole number >= 0");
    });

    it("a byte quantity written as 500mb", async () => {
        await expectRejected(
            "local",
            { apiResources: { ...localResources, limits: { cpu: "1", memory: "500mb" } } },
            "healthcare-backend:apiResources.limits.memory = \"500mb\"",
            "a positive byte quantity",
            "did you mean 500Mi?",
        );
    });

    it("a CPU quantity written as 2 cores", async () => {
        await expectRejected(
            "staging",
            { postgresResources: { requests: { cpu: "2 cores", memory: "2Gi" }, limits: { cpu: "4", memory: "8Gi" } } },
            "healthcare-backend:postgresResources.requests.cpu = \"2 cores\"",
            "a positive CPU quantity such as 250m or 2",
        );
    });

    it("a negative quantity such as -1Gi", async () => {
        await expectRejected("production", { redisStorageSize: "-1Gi" }, "healthcare-backend:redisStorageSize = \"-1Gi\"", "a positive byte quantity");
    });

    it("memory given in millibytes (512m)", async () => {
        await expectRejected(
            "local",
            { redisResources: { requests: { cpu: "100m", memory: "512m" }, limits: { cpu: "500m", memory: "1Gi" } } },
            "healthcare-backend:redisResources.requests.memory = \"512m\"",
            "did you mean 512Mi?",
        );
    });

    it("requests above limits", async () => {
        await expectRejected(
            "production",
            { apiResources: { requests: { cpu: "4000m", memory: "8Gi" }, limits: { cpu: "2000m", memory: "4Gi" } } },
            "healthcare-backend:apiResources.requests.cpu = \"4000m\" is invalid; expected at most limits.cpu (2000m)",
            "healthcare-backend:apiResources.requests.memory = \"8Gi\" is invalid; expected at most limits.memory (4Gi)",
        );
    });

    it("an unknown key inside a structured setting (a typo)", async () => {
        await expectRejected(
            "local",
            { apiResources: { requests: localResources.requests, limits: { cpu: "1", memroy: "1Gi" } } },
            "healthcare-backend:apiResources.limits.memroy = \"1Gi\" is not a known key",
            "did you mean memory?",
            "healthcare-backend:apiResources.limits.memory is missing",
        );
        await expectRejected("local", { apiResources: { ...localResources, limit: localResources.limits } }, "apiResources.limit = ", "did you mean limits?");
    });

    it("an unknown top-level setting (a typo)", async () => {
        await expectRejected("local", { apiMinReplica: 2 }, "healthcare-backend:apiMinReplica = \"2\" is not a setting of this program", "did you mean apiMinReplicas?");
    });

    it("a structured setting that is missing", async () => {
        await expectRejected("staging", { redisResources: undefined }, "healthcare-backend:redisResources is not set", "Pulumi.staging.yaml");
    });

    it("a missing image in staging and in production", async () => {
        for (const stack of ["staging", "production"]) {
            await expectRejected(stack, { apiImageRepository: "" }, "healthcare-backend:apiImageRepository = \"\"", "the API image's registry and repository");
        }
    });

    it("a tag inside the image repository", async () => {
        await expectRejected("staging", { apiImageRepository: "registry.example.com/api:2.0" }, "(put the tag in apiImageTag)");
    });

    it("a mutable tag in production: latest, or no tag at all", async () => {
        await expectRejected("production", { apiImageTag: "latest" }, "healthcare-backend:apiImageTag = \"latest\"", "an immutable version in production");
        await expectRejected("production", { apiImageTag: "" }, "healthcare-backend:apiImageTag = \"\"", "an immutable version in production");
    });

    it("accepts a digest in production even without a tag", async () => {
        const digest = `sha256:${"a".repeat(64)}`;
        const { error } = await runProgram(stackConfig("production", { apiImageTag: "", apiImageDigest: digest }), "production");
        assert.ifError(error);
    });

    it("a malformed digest", async () => {
        await expectRejected("production", { apiImageDigest: "sha256:abc" }, "healthcare-backend:apiImageDigest = \"sha256:abc\"", "sha256:<64 hex digits>");
    });

    it("a branch tag in production (main), and every other tag that is not a semantic version, naming what production expects", async () => {
        for (const tag of ["main", "stable", "1.4", "2024-06-01", "sha-3f2a1b0"]) {
            await expectRejected(
                "production",
                { apiImageTag: tag },
                `healthcare-backend:apiImageTag = ${JSON.stringify(tag)} is invalid`,
                "set apiImageDigest (sha256:<64 hex digits>, preferred) or a semantic version tag such as 1.4.2 or v1.4.2",
            );
        }
    });

    it("accepts in production a semantic version tag, or any tag with a digest; staging keeps any tag", () => {
        for (const tag of ["1.4.2", "v1.4.2", "1.4.2-rc.1", "10.0.0"]) {
            assert.strictEqual(stackSettings("production", { apiImageTag: tag }).api.image.tag, tag);
        }
        const digest = `sha256:${"a".repeat(64)}`;
        assert.strictEqual(stackSettings("production", { apiImageTag: "main", apiImageDigest: digest }).api.image.ref, `registry.example.com/healthcare/healthcare-api:main@${digest}`);
        assert.strictEqual(stackSettings("staging", { apiImageTag: "main" }).api.image.tag, "main");
    });

    it("malformed data-store and exporter digests, all in one message", async () => {
        await expectRejected(
            "staging",
            {
                postgresImageDigest: "sha256:abc",
                redisImageDigest: "8.2.3",
                postgresExporterImage: "quay.io/prometheuscommunity/postgres-exporter:v0.20.1@sha256:xyz",
                postgresBackupS3ClientImage: "rclone/rclone:1.75.1@md5:0123",
            },
            'healthcare-backend:postgresImageDigest = "sha256:abc" is invalid; expected a digest of the form sha256:<64 hex digits>, or empty to pull by tag',
            'healthcare-backend:redisImageDigest = "8.2.3" is invalid',
            'healthcare-backend:postgresExporterImage = "quay.io/prometheuscommunity/postgres-exporter:v0.20.1@sha256:xyz" is invalid; expected a digest after @ of the form sha256:<64 hex digits>',
            'healthcare-backend:postgresBackupS3ClientImage = "rclone/rclone:1.75.1@md5:0123" is invalid',
        );
    });

    it("a Redis topology that cannot form a cluster", async () => {
        await expectRejected("staging", { redisNodes: 4 }, "healthcare-backend:redisNodes = 4", "at least 3 masters (6, 8, ...)");
        await expectRejected("local", { redisNodes: 2 }, "healthcare-backend:redisNodes = 2", "1 node (single master, no replicas)");
        await expectRejected("staging", { redisNodes: 1, redisReplicasPerMaster: 1 }, "healthcare-backend:redisNodes = 1");
    });

    it("a production Redis Cluster without replicas", async () => {
        await expectRejected("production", { redisNodes: 3, redisReplicasPerMaster: 0 }, "healthcare-backend:redisReplicasPerMaster = 0", "at least 1 in production");
    });

    it("a production stack with no explicit kube context", async () => {
        await expectRejected("production", { kubeContext: "" }, "healthcare-backend:kubeContext = \"\"", "the kubeconfig context of the production cluster");
    });

    it("an environment that contradicts the stack's name", async () => {
        await expectRejected("production", { environment: "local" }, "healthcare-backend:environment = \"local\"", "\"production\" for the stack named production");
    });

    it("plain HTTP in production", async () => {
        await expectRejected("production", { ingressTlsEnabled: false }, "healthcare-backend:ingressTlsEnabled = false", "true in staging and production");
    });

    it("a privileged port, which restricted containers cannot bind", async () => {
        await expectRejected("local", { apiPort: 80 }, "healthcare-backend:apiPort = \"80\"", "a whole number from 1024 to 65535");
    });

    it("two API ports that collide", async () => {
        await expectRejected("local", { apiHealthPort: 8080 }, "healthcare-backend:apiHealthPort = 8080", "a port other than apiPort and apiMetricsPort");
    });

    it("a floating PostgreSQL version", async () => {
        await expectRejected("staging", { postgresVersion: "17" }, "healthcare-backend:postgresVersion = \"17\"", "an exact PostgreSQL version");
    });

    it("a data PriorityClass name that is not a DNS subdomain, or takes the reserved system- prefix", async () => {
        await expectRejected("staging", { dataPriorityClassName: "Data_Stores" }, "healthcare-backend:dataPriorityClassName = \"Data_Stores\"", "a DNS subdomain name");
        await expectRejected("production", { dataPriorityClassName: "system-data" }, "healthcare-backend:dataPriorityClassName = \"system-data\"", "does not start with system-");
    });

    it("lists every problem in one message", async () => {
        const message = await expectRejected(
            "production",
            { apiMinReplicas: 200, apiImageTag: "latest", kubeContext: "", redisNodes: 5, postgresStorageSize: "lots" },
            "apiMinReplicas",
            "apiImageTag",
            "kubeContext",
            "redisNodes",
            "postgresStorageSize",
        );
        assert.match(message, /Stack "production" has 5 configuration problems; nothing was deployed/);
    });
});

describe("PostgreSQL engines are validated before anything is registered", () => {
    it("an unknown engine", async () => {
        await expectRejected("local", { postgresEngine: "patroni" }, 'healthcare-backend:postgresEngine = "patroni" is invalid', "one of statefulset, cloudnative-pg");
    });

    it("more than one server on the statefulset engine", async () => {
        await expectRejected(
            "local",
            { postgresInstances: 2 },
            "healthcare-backend:postgresInstances = 2 is invalid",
            "expected 1 with postgresEngine statefulset",
            "standbys need postgresEngine cloudnative-pg",
        );
    });

    it("fewer than three instances in production on cloudnative-pg", async () => {
        for (const instances of [1, 2]) {
            await expectRejected(
                "production",
                { postgresInstances: instances },
                `healthcare-backend:postgresInstances = ${instances} is invalid`,
                "expected 3 or more in production",
                "one synchronous standby remains while another is down",
            );
        }
        // Staging's two are enough there.
        const { error } = await runProgram(stackConfig("staging", { postgresInstances: 2 }), "staging");
        assert.ifError(error);
    });

    it("a pooler, a WAL volume or an import on the statefulset engine", async () => {
        await expectRejected(
            "local",
            { postgresPoolerInstances: 1 },
            "healthcare-backend:postgresPoolerInstances = 1 is invalid",
            "expected 0 with postgresEngine statefulset (the pooler is cloudnative-pg's)",
        );
        await expectRejected(
            "local",
            { postgresWalStorageSize: "10Gi" },
            'healthcare-backend:postgresWalStorageSize = "10Gi" is invalid',
            "expected empty with postgresEngine statefulset (a WAL volume of its own needs cloudnative-pg)",
        );
        // The import moves a statefulset stack's database into a Cluster: the engine must be cloudnative-pg.
        await expectRejected("local", { postgresMigration: "import" }, 'healthcare-backend:postgresMigration = "import" is invalid', "expected empty unless postgresEngine is cloudnative-pg");
    });

    it("more connections than a server without a pooler should serve", async () => {
        await expectRejected(
            "staging",
            { ...onStatefulSetEngine, apiMaxReplicas: 200 },
            'healthcare-backend:postgresEngine = "statefulset" is invalid',
            "apiMaxReplicas x apiDatabasePoolSize = 200 x 10 = 2000 connections at the HPA's ceiling",
            "more than PostgreSQL should serve directly (1000)",
            "use postgresEngine cloudnative-pg with postgresPoolerInstances >= 1",
        );
        // cloudnative-pg without its pooler: production's 100 pods x 10 and the reserve pass the ceiling.
        await expectRejected(
            "production",
            { postgresPoolerInstances: 0 },
            "healthcare-backend:postgresPoolerInstances = 0 is invalid",
            "100 x 10 = 1000 connections",
            "plus 20 reserved = 1020, more than PostgreSQL should serve directly (1000)",
        );
        // Under the ceiling, a direct connection is fine: staging's 20 x 10.
        const { error } = await runProgram(stackConfig("staging", { postgresPoolerInstances: 0 }), "staging");
        assert.ifError(error);
    });

    it("staging and production without an off-cluster backup target, unless the stack accepts in-cluster backups", async () => {
        for (const stack of ["staging", "production"]) {
            const engine = stack === "staging" ? onStatefulSetEngine : { ...onStatefulSetEngine, postgresWalStorageSize: "", apiDatabasePoolSize: 9 };
            await expectRejected(
                stack,
                { ...engine, ...noBucket },
                'healthcare-backend:postgresBackupS3Bucket = "" is invalid',
                `an off-cluster backup target in ${stack}`,
                "postgresBackupInClusterOnly: true to accept backups that are lost with the cluster",
            );
            const { error } = await runProgram(stackConfig(stack, { ...engine, ...noBucket, postgresBackupInClusterOnly: true }), stack);
            assert.ifError(error);
        }
        // The local stack's backups may stay beside its disposable data.
        const { error } = await runProgram(stackConfig("local", { postgresBackupSchedule: "0 2 * * *" }), "local");
        assert.ifError(error);
    });

    it("cloudnative-pg with a backup schedule and no bucket, which postgresBackupInClusterOnly does not excuse", async () => {
        await expectRejected(
            "local",
            { ...localCloudNativePg, postgresBackupSchedule: "0 2 * * *" },
            'healthcare-backend:postgresBackupS3Bucket = "" is invalid',
            "a bucket with postgresEngine cloudnative-pg: its base backups and WAL archive go to object storage",
            "or postgresBackupSchedule empty for none",
        );
        const message = await expectRejected(
            "production",
            { ...noBucket, postgresBackupInClusterOnly: true },
            'healthcare-backend:postgresBackupS3Bucket = "" is invalid',
            "a bucket with postgresEngine cloudnative-pg",
        );
        // One problem, and no advice that would not help (production needs its schedule; the in-cluster opt-out is the statefulset engine's).
        assert.match(message, /has 1 configuration problem;/);
        assert.doesNotMatch(message, /postgresBackupSchedule empty|postgresBackupInClusterOnly: true/);
        // Without a schedule the local stack runs the operator with no backups.
        const { error } = await runProgram(stackConfig("local", localCloudNativePg), "local");
        assert.ifError(error);
    });

    it("the CloudNativePG add-on without cert-manager", async () => {
        await expectRejected(
            "local",
            { installCloudNativePg: true, installCertManager: false, selfSignedClusterIssuer: "" },
            "healthcare-backend:installCloudNativePg = true is invalid",
            "expected false unless installCertManager is true",
            "the Barman Cloud plugin's certificates come from cert-manager",
        );
    });

    it("reads the engine, instances, connection sizing and pooler per shipped stack", () => {
        const local = settings("local").postgres;
        assert.deepStrictEqual([local.engine, local.instances, local.image, local.maxConnections, local.pooler, local.walStorage], ["statefulset", 1, "postgres:17.6", 3 * 10 + 20, undefined, undefined]);
        const staging = settings("staging").postgres;
        assert.deepStrictEqual([staging.engine, staging.instances, staging.image], ["cloudnative-pg", 2, "ghcr.io/cloudnative-pg/postgresql:17.6-standard-trixie"]);
        assert.deepStrictEqual(staging.pooler, { instances: 2, maxClientConnections: 200, serverPoolSize: 50 });
        assert.strictEqual(staging.maxConnections, 2 * 50 + 20);
        const production = settings("production").postgres;
        assert.deepStrictEqual([production.instances, production.walStorage], [3, { size: "20Gi", className: undefined }]);
        assert.deepStrictEqual(production.pooler, { instances: 2, maxClientConnections: 1000, serverPoolSize: 50 });
        // A small stack's pooler opens no more server connections than its clients could use.
        assert.deepStrictEqual(settings("staging", { apiMaxReplicas: 3, apiDatabasePoolSize: 5 }).postgres.pooler, { instances: 2, maxClientConnections: 15, serverPoolSize: 15 });
    });
});

describe("settings module", () => {
    const source = (values: Record<string, string>) => ({
        project: "healthcare-backend",
        stack: "local",
        get: (key: string) => values[key],
        keys: () => Object.keys(values),
    });

    it("derives the image reference, masters and a read-only settings object", () => {
        const config = stackConfig("local", { apiImageDigest: `sha256:${"b".repeat(64)}` });
        const values = Object.fromEntries(Object.entries(config).map(([k, v]) => [k.replace(/^healthcare-backend:/, ""), v]));
        const settings = parseSettings(source(values));
        assert.strictEqual(settings.api.image.ref, `healthcare-api-local:dev@sha256:${"b".repeat(64)}`);
        assert.strictEqual(settings.redis.masters, 1);
        assert.ok(Object.isFrozen(settings) && Object.isFrozen(settings.api.resources.limits));
    });

    it("falls back to the declared defaults for unset scalars", () => {
        assert.throws(
            () => parseSettings(source({})),
            (error: Error) =>
                // environment defaults to production, so a bare stack must name its image and context.
                error.message.includes("healthcare-backend:apiImageRepository") &&
                error.message.includes("healthcare-backend:kubeContext") &&
                error.message.includes("healthcare-backend:apiResources is not set"),
        );
    });
});

// --- Network security settings ---
describe("network settings", () => {
    it("a pod selector that is not key=value pairs, or has a bad key", async () => {
        await expectRejected(
            "staging",
            { prometheusPodSelector: "app.kubernetes.io/name:prometheus", gatewayPodSelector: "app=envoy,-bad=x" },
            'healthcare-backend:prometheusPodSelector = "app.kubernetes.io/name:prometheus" is invalid; expected a pod selector of comma-separated key=value labels',
            '"app.kubernetes.io/name:prometheus" is not key=value',
            '"-bad" is not a label key',
        );
        await expectRejected("local", { prometheusPodSelector: "app=a, app=b" }, '"app" is given twice');
    });

    it("a namespace that is not a DNS label", async () => {
        await expectRejected("production", { gatewayPodNamespace: "Envoy_Gateway" }, 'healthcare-backend:gatewayPodNamespace = "Envoy_Gateway"', "a namespace name");
        await expectRejected(
            "production",
            { apiExposure: "ingress", ingressClassName: "haproxy", ingressControllerNamespace: "Ingress_Nginx" },
            'healthcare-backend:ingressControllerNamespace = "Ingress_Nginx"',
            "a namespace name",
        );
    });

    it("external destinations that are not canonical CIDR:port entries", async () => {
        const message = await expectRejected(
            "production",
            { apiExternalEgress: "203.0.113.7/24:443, api.example.com:443, 198.51.100.0/24, 198.51.100.0/24:70000, 203.0.113.0/24:443 203.0.113.0/24:443" },
            'healthcare-backend:apiExternalEgress = "203.0.113.7/24:443" is invalid; expected a CIDR block without host bits (did you mean 203.0.113.0/24:443?)',
            '"api.example.com:443" is invalid; expected CIDR:port entries',
            '"198.51.100.0/24" is invalid; expected CIDR:port entries',
            '"198.51.100.0/24:70000" is invalid; expected a port from 1 to 65535',
            '"203.0.113.0/24:443" is listed twice',
        );
        assert.match(message, /has 5 configuration problems/);
        await expectRejected("local", { apiExternalEgress: "2001:db8::1/32:443" }, "(did you mean 2001:db8::/32:443?)");
    });

    it("DNS servers that are not canonical CIDR blocks, a bad DNS namespace, and no DNS peer at all", async () => {
        const message = await expectRejected(
            "production",
            { clusterDnsCidrs: "169.254.20.10, 169.254.20.10/24, 10.96.0.10/32 10.96.0.10/32", clusterDnsPodSelector: "k8s-app" },
            'healthcare-backend:clusterDnsCidrs = "169.254.20.10" is invalid; expected CIDR blocks separated by commas, e.g. 169.254.20.10/32 (NodeLocal DNSCache)',
            'healthcare-backend:clusterDnsCidrs = "169.254.20.10/24" is invalid; expected a CIDR block without host bits (did you mean 169.254.20.0/24?)',
            'healthcare-backend:clusterDnsCidrs = "10.96.0.10/32" is listed twice',
            'healthcare-backend:clusterDnsPodSelector = "k8s-app" is invalid; expected a pod selector of comma-separated key=value labels',
        );
        assert.match(message, /has 4 configuration problems/);
        await expectRejected("staging", { clusterDnsNamespace: "Kube_System" }, 'healthcare-backend:clusterDnsNamespace = "Kube_System" is invalid; expected a namespace name (a DNS label), or empty to reach DNS by clusterDnsCidrs only');
        await expectRejected(
            "local",
            { clusterDnsNamespace: "" },
            'healthcare-backend:clusterDnsCidrs = "" is empty; expected the DNS servers\' addresses (e.g. 169.254.20.10/32) while clusterDnsNamespace is empty: with neither, the API and the Redis Jobs could resolve no name',
        );
    });

    it("an ACME challenge other than http01 or dns01", async () => {
        await expectRejected("production", { ingressAcmeChallenge: "HTTP-01" }, 'healthcare-backend:ingressAcmeChallenge = "HTTP-01" is invalid; expected one of http01, dns01');
    });

    it("reads the DNS peers and whether cert-manager runs HTTP-01 solver pods, per shipped stack", () => {
        for (const stack of ["local", "staging", "production"]) {
            assert.deepStrictEqual(settings(stack).network.dns, { pods: { namespace: "kube-system", podLabels: { "k8s-app": "kube-dns" } }, cidrs: [] }, stack);
        }
        assert.deepStrictEqual(settings("staging", { clusterDnsNamespace: "", clusterDnsCidrs: "169.254.20.10/32, fd00::a/128" }).network.dns, { pods: undefined, cidrs: ["169.254.20.10/32", "fd00::a/128"] });
        assert.strictEqual(settings("local").ingress.tls.http01Solvers, false, "local serves plain HTTP");
        // Staging and production attach to the platform's Gateway: its certificate, and its solvers, are in its namespace.
        assert.strictEqual(settings("staging").ingress.tls.http01Solvers, false);
        assert.strictEqual(settings("production").ingress.tls.http01Solvers, false);
        const onIngress = { apiExposure: "ingress", ingressClassName: "haproxy", ingressControllerNamespace: "haproxy-controller", ingressClusterIssuer: "letsencrypt" };
        assert.strictEqual(settings("production", onIngress).ingress.tls.http01Solvers, true, "an Ingress's certificate is in the stack's namespace");
        assert.strictEqual(settings("production", { ...onIngress, ingressAcmeChallenge: "dns01" }).ingress.tls.http01Solvers, false);
        assert.strictEqual(settings("local", { ingressTlsEnabled: true, ingressClusterIssuer: "selfsigned" }).ingress.tls.http01Solvers, false, "the stack's own self-signed issuer");
        assert.strictEqual(
            settings("local", { ingressTlsEnabled: true, ingressClusterIssuer: "letsencrypt-staging" }).ingress.tls.http01Solvers,
            true,
            "the stack's own Gateway: cert-manager solves beside it, in the stack's namespace",
        );
    });

    it("reads selectors and IPv4 and IPv6 destinations into typed settings", () => {
        const values = Object.fromEntries(
            Object.entries(stackConfig("local", { apiExternalEgress: "203.0.113.0/24:443,2001:db8::/32:8443", prometheusPodSelector: "app.kubernetes.io/name=prometheus, prometheus=k8s" })).map(
                ([k, v]) => [k.replace(/^healthcare-backend:/, ""), v],
            ),
        );
        const settings = parseSettings({ project: "healthcare-backend", stack: "local", get: (k) => values[k], keys: () => Object.keys(values) });
        assert.deepStrictEqual(settings.network.apiExternalEgress, [
            { cidr: "203.0.113.0/24", port: 443 },
            { cidr: "2001:db8::/32", port: 8443 },
        ]);
        assert.deepStrictEqual(settings.network.prometheus, { namespace: "monitoring", podLabels: { "app.kubernetes.io/name": "prometheus", prometheus: "k8s" } });
        assert.deepStrictEqual(settings.network.publicEntry, {
            namespace: "envoy-gateway-system",
            podLabels: {
                "app.kubernetes.io/name": "envoy",
                "app.kubernetes.io/component": "proxy",
                "gateway.envoyproxy.io/owning-gateway-name": "healthcare-api",
                "gateway.envoyproxy.io/owning-gateway-namespace": "healthcare-backend",
            },
        });
    });
});

// --- How the API is published: the Gateway API or an Ingress ---
describe("API exposure settings", () => {

    it("every shipped stack publishes through the Gateway API: local on a Gateway it creates, staging and production on the platform's HTTPS listener", () => {
        assert.deepStrictEqual(settings("local").ingress.gateway, { name: "healthcare-api", namespace: undefined, sectionName: undefined, className: "envoy-gateway" });
        for (const stack of ["staging", "production"]) {
            const s = settings(stack);
            assert.strictEqual(s.ingress.exposure, "gateway", stack);
            assert.deepStrictEqual(s.ingress.gateway, { name: "public", namespace: "gateway-system", sectionName: `https-${stack}`, className: undefined });
            assert.strictEqual(s.ingress.className, "");
        }
    });

    it("an exposure other than gateway or ingress", async () => {
        await expectRejected("local", { apiExposure: "nodeport" }, 'healthcare-backend:apiExposure = "nodeport" is invalid; expected one of gateway, ingress');
    });

    it("a Gateway that is not named, or a platform Gateway without its HTTPS listener in production", async () => {
        await expectRejected("local", { gatewayName: "" }, 'healthcare-backend:gatewayName = "" is invalid; expected the name of the Gateway the API\'s HTTPRoute attaches to (apiExposure is gateway)');
        await expectRejected(
            "production",
            { gatewaySectionName: "" },
            "healthcare-backend:gatewaySectionName = \"\" is empty; expected the platform Gateway's HTTPS listener for ingressHost in staging and production",
        );
        await expectRejected("staging", { gatewayNamespace: "Gateway_System" }, 'healthcare-backend:gatewayNamespace = "Gateway_System" is invalid; expected the Gateway\'s namespace (a DNS label)');
    });

    it("a platform Gateway with an issuer: its listener holds the certificate, the stack's issuer would do nothing", async () => {
        await expectRejected(
            "staging",
            { ingressClusterIssuer: "letsencrypt" },
            'healthcare-backend:ingressClusterIssuer = "letsencrypt" is invalid; expected empty while the API attaches to the platform\'s Gateway (gatewayClassName empty)',
        );
    });

    it("the stack's own Gateway lives in its namespace, on the listener the program picks", async () => {
        const message = await expectRejected(
            "local",
            { gatewayNamespace: "gateway-system", gatewaySectionName: "web" },
            'healthcare-backend:gatewayNamespace = "gateway-system" is invalid; expected empty while gatewayClassName is set',
            'healthcare-backend:gatewaySectionName = "web" is invalid; expected empty while gatewayClassName is set',
        );
        assert.match(message, /has 2 configuration problems/);
    });

    it("an Ingress needs its class and its controller's namespace named: no retired default", async () => {
        const message = await expectRejected(
            "production",
            { apiExposure: "ingress" },
            'healthcare-backend:ingressClassName = "" is invalid; expected the IngressClass of the cluster\'s ingress controller (apiExposure is ingress)',
            'healthcare-backend:ingressControllerNamespace = "" is invalid; expected a namespace name (a DNS label): the ingress controller\'s, as apiExposure is ingress',
        );
        assert.match(message, /has 2 configuration problems/);
        const s = settings("production", { apiExposure: "ingress", ingressClassName: "haproxy", ingressControllerNamespace: "haproxy-controller" });
        assert.strictEqual(s.ingress.gateway, undefined);
        assert.deepStrictEqual(s.network.publicEntry, { namespace: "haproxy-controller", podLabels: {} });
    });

    it("installIngressNginx, retired with ingress-nginx, says what replaces it", async () => {
        await expectRejected(
            "local",
            { installIngressNginx: true },
            'healthcare-backend:installIngressNginx = "true" is no longer a setting of this program; expected nothing: ingress-nginx is retired upstream',
            "apiExposure: gateway; installEnvoyGateway: true",
        );
    });
});

describe("autoscaling, availability and monitoring settings are rejected before anything is registered", () => {
    it("an API budget that blocks every eviction: minAvailable 2 with one local replica", async () => {
        await expectRejected(
            "local",
            { apiPdbMinAvailable: 2 },
            "healthcare-backend:apiPdbMinAvailable = 2 is invalid",
            "less than apiMinReplicas (1), or 0 for no budget",
            "blocks every voluntary eviction",
        );
    });

    it("an API budget equal to the fewest replicas the HPA keeps", async () => {
        await expectRejected("staging", { apiMinReplicas: 2 }, "healthcare-backend:apiPdbMinAvailable = 2 is invalid", "less than apiMinReplicas (2)");
    });

    it("a VPA that acts on the CPU and memory the HPA scales on", async () => {
        for (const mode of ["Recreate", "Initial", "InPlaceOrRecreate"]) {
            await expectRejected(
                "production",
                { vpaApiMode: mode },
                `healthcare-backend:vpaApiMode = "${mode}" is invalid`,
                '"Off" (recommendations only) while apiHpaEnabled is true',
                "fights it",
            );
        }
    });

    it("a VPA that would evict the single PostgreSQL pod (statefulset engine) without the stack opting in", async () => {
        await expectRejected(
            "staging",
            { ...onStatefulSetEngine, vpaPostgresMode: "Recreate" },
            'healthcare-backend:vpaPostgresMode = "Recreate" is invalid',
            "PostgreSQL runs a single pod",
            "set vpaEvictSingleReplica = true",
        );
    });

    it("a VPA that acts on an operator-managed PostgreSQL (cloudnative-pg), in any mode but Off, even with the opt-in", async () => {
        for (const mode of ["Initial", "Recreate", "InPlaceOrRecreate"]) {
            await expectRejected(
                "staging",
                { vpaPostgresMode: mode, vpaEvictSingleReplica: true },
                `healthcare-backend:vpaPostgresMode = "${mode}" is invalid`,
                '"Off" (recommendations only) with postgresEngine cloudnative-pg',
                "the operator sizes its instances' pods",
            );
        }
        // With the VPAs off, the mode is not used.
        const { error } = await runProgram(stackConfig("staging", { vpaEnabled: false, vpaPostgresMode: "Initial" }), "staging");
        assert.ifError(error);
    });

    it("a VPA that would evict a one-node Redis Cluster without the stack opting in", async () => {
        await expectRejected(
            "local",
            { vpaEnabled: true, vpaRedisMode: "InPlaceOrRecreate" },
            'healthcare-backend:vpaRedisMode = "InPlaceOrRecreate" is invalid',
            "single node (redisNodes = 1)",
        );
    });

    it("the deprecated VPA mode Auto", async () => {
        await expectRejected("production", { vpaRedisMode: "Auto" }, 'healthcare-backend:vpaRedisMode = "Auto" is invalid', "Auto is deprecated upstream");
    });

    it("custom HPA metrics without the rules that record them", async () => {
        await expectRejected(
            "staging",
            { monitoringEnabled: false },
            "healthcare-backend:apiHpaCustomMetrics = true is invalid",
            "false while monitoringEnabled is false",
        );
    });

    it("a Prometheus selector label that is not key=value", async () => {
        await expectRejected("production", { monitoringSelectorLabel: "release" }, 'healthcare-backend:monitoringSelectorLabel = "release" is invalid', "key=value");
    });

    it("an exporter image that is not pinned", async () => {
        await expectRejected("staging", { redisExporterImage: "oliver006/redis_exporter:latest" }, "healthcare-backend:redisExporterImage", "pinned to an exact version");
        await expectRejected("staging", { postgresExporterImage: "quay.io/prometheuscommunity/postgres-exporter" }, "healthcare-backend:postgresExporterImage", "not latest");
    });

    it("a Redis version without cluster-announce-hostname", async () => {
        await expectRejected("production", { redisVersion: "6.2.14" }, 'healthcare-backend:redisVersion = "6.2.14" is invalid', "7.0.0 or later");
    });

    it("lists every autoscaling problem in one message", async () => {
        const message = await expectRejected(
            "local",
            { apiPdbMinAvailable: 1, vpaEnabled: true, vpaPostgresMode: "Recreate", vpaApiMode: "Initial", apiHpaCustomMetrics: true, monitoringEnabled: false },
            "apiPdbMinAvailable",
            "vpaPostgresMode",
            "vpaApiMode",
            "apiHpaCustomMetrics",
        );
        assert.match(message, /Stack "local" has 4 configuration problems; nothing was deployed/);
    });
});
