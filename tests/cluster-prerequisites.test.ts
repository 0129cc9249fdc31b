import * as assert from "assert";
import { ClusterPrerequisites, oldestSupportedKubernetes, platformRequirements, prerequisiteProblems } from "../components/clusterPrerequisites";
import { stackSettings } from "../cli/ops/workspace";
import { MockCluster, mockKubernetesVersion, runProgram, runStack } from "../harness/mockProgram";
import { onStatefulSetEngine, stackConfig } from "../harness/stackConfig";

/** What the platform must serve for staging: every API of its features, none of which it installs. */
const stagingApis: Record<string, string> = {
    "postgresql.cnpg.io/v1/Cluster": "CRD clusters.postgresql.cnpg.io, needed by postgresEngine",
    "postgresql.cnpg.io/v1/Pooler": "CRD poolers.postgresql.cnpg.io, needed by postgresPoolerInstances",
    "postgresql.cnpg.io/v1/ScheduledBackup": "CRD scheduledbackups.postgresql.cnpg.io, needed by postgresBackupSchedule",
    "barmancloud.cnpg.io/v1/ObjectStore": "CRD objectstores.barmancloud.cnpg.io, needed by postgresBackupS3Bucket",
    "autoscaling.k8s.io/v1/VerticalPodAutoscaler": "CRD verticalpodautoscalers.autoscaling.k8s.io, needed by vpaEnabled",
    "monitoring.coreos.com/v1/ServiceMonitor": "CRD servicemonitors.monitoring.coreos.com, needed by monitoringEnabled",
    "monitoring.coreos.com/v1/PrometheusRule": "CRD prometheusrules.monitoring.coreos.com, needed by monitoringEnabled",
    "monitoring.coreos.com/v1/PodMonitor": "CRD podmonitors.monitoring.coreos.com, needed by monitoringEnabled",
    // Redis's own issuer and certificates (redisTls): cert-manager is the platform's.
    "cert-manager.io/v1/Issuer": "CRD issuers.cert-manager.io, needed by redisTls",
    "cert-manager.io/v1/Certificate": "CRD certificates.cert-manager.io, needed by redisTls",
    // The HTTPRoute's; the Gateway (and its certificate) is the platform's.
    "gateway.networking.k8s.io/v1/HTTPRoute": "CRD httproutes.gateway.networking.k8s.io, needed by apiExposure",
};
/** Staging published through an Ingress whose certificate cert-manager issues: the ClusterIssuer is the platform's. */
const onIngress = { apiExposure: "ingress", ingressClassName: "haproxy", ingressControllerNamespace: "haproxy", ingressClusterIssuer: "letsencrypt" };
const customMetrics = ["custom.metrics.k8s.io/v1beta2", "custom.metrics.k8s.io/v1beta1"];

/** Runs a stack on a mock cluster; returns the error and what was registered before it. */
async function onCluster(stack: string, cluster: MockCluster, overrides: Record<string, unknown> = {}) {
    const outcome = await runProgram(stackConfig(stack, overrides), stack, undefined, { cluster });
    const created = outcome.resources.filter((r) => r.custom && !r.read && r.type.startsWith("kubernetes:") && !r.type.startsWith("pulumi:providers:"));
    return { error: outcome.error, created };
}

/** The problem lines of a prerequisites error. */
const problemLines = (error?: Error) => (error?.message ?? "").split("\n").filter((l) => l.startsWith("  - "));

describe("cluster prerequisites: what the platform must provide, checked before anything is created", () => {
    it("staging and production need every API of their features and the custom-metrics API; the platform's Gateway holds the certificate, so no ClusterIssuer", () => {
        for (const stack of ["staging", "production"]) {
            const requirements = platformRequirements(stackSettings(stack));
            assert.deepStrictEqual(
                requirements.apis.flatMap((a) => a.servedAs).sort(),
                [...Object.keys(stagingApis), ...customMetrics].sort(),
                stack,
            );
            assert.strictEqual(requirements.clusterIssuer, undefined, stack);
        }
    });

    it("local needs nothing: its own add-ons install every CRD, prometheus-adapter and its self-signed issuer", () => {
        assert.deepStrictEqual(platformRequirements(stackSettings("local")), { apis: [], clusterIssuer: undefined });
    });

    it("a shipped stack deploys on a supported cluster that serves everything", async () => {
        for (const stack of ["local", "staging", "production"]) {
            const { error, created } = await onCluster(stack, {});
            assert.strictEqual(error, undefined, `${stack}: ${error?.message}`);
            assert.ok(created.length > 20, stack);
        }
    });

    for (const [api, named] of Object.entries(stagingApis)) {
        it(`staging on a cluster without ${api}: one error names it and the setting, and nothing is created`, async () => {
            const { error, created } = await onCluster("staging", { unserved: [api] });
            assert.ok(error, "the run fails");
            assert.match(error.message, /^The cluster \(kube context "healthcare-staging"\) lacks what this stack needs; nothing was created:/);
            assert.strictEqual(problemLines(error).length, 1, error.message);
            assert.ok(problemLines(error)[0].startsWith(`  - ${named}: not served; install `), error.message);
            assert.deepStrictEqual(created, []);
        });
    }

    it("the custom-metrics API: refused when neither version is served, accepted with v1beta1 only, not needed without apiHpaCustomMetrics", async () => {
        const none = await onCluster("staging", { unserved: customMetrics });
        assert.deepStrictEqual(problemLines(none.error), [
            "  - APIService v1beta2.custom.metrics.k8s.io (or v1beta1), needed by apiHpaCustomMetrics: not served; install prometheus-adapter (or another custom-metrics adapter) with this stack's adapter rules, or turn apiHpaCustomMetrics off",
        ]);
        assert.deepStrictEqual(none.created, []);
        const v1beta1 = await onCluster("staging", { unserved: ["custom.metrics.k8s.io/v1beta2"] });
        assert.strictEqual(v1beta1.error, undefined);
        const off = await onCluster("staging", { unserved: customMetrics }, { apiHpaCustomMetrics: false });
        assert.strictEqual(off.error, undefined, off.error?.message);
        // The local stack's kube-prometheus-stack brings prometheus-adapter; without it, the platform must serve the API.
        assert.strictEqual((await onCluster("local", { unserved: customMetrics })).error, undefined);
        const noAdapter = await onCluster("local", { unserved: customMetrics }, { installPrometheusStack: false });
        assert.ok(problemLines(noAdapter.error).some((l) => /custom\.metrics\.k8s\.io.*needed by apiHpaCustomMetrics/.test(l)), noAdapter.error?.message);
    });

    it("everything missing at once, on an old API server: every piece in one error, the version first", async () => {
        const { error, created } = await onCluster("production", { kubeVersion: "v1.34.4", unserved: [...Object.keys(stagingApis), ...customMetrics] });
        const lines = problemLines(error);
        assert.strictEqual(lines.length, 1 + Object.keys(stagingApis).length + 1, error?.message);
        assert.match(lines[0], /^ {2}- Kubernetes 1\.35 or later: the API server is v1\.34\.4, a minor upstream no longer supports/);
        for (const named of Object.values(stagingApis)) {
            assert.ok(lines.some((l) => l.includes(named)), named);
        }
        assert.deepStrictEqual(created, []);
    });

    it("refuses an API server older than 1.35 on every stack, local included; accepts 1.35 and later, provider-suffixed versions too", async () => {
        for (const stack of ["local", "staging"]) {
            const { error, created } = await onCluster(stack, { kubeVersion: "v1.34.4" });
            assert.deepStrictEqual(problemLines(error).length, 1, `${stack}: ${error?.message}`);
            assert.match(error!.message, /Kubernetes 1\.35 or later: the API server is v1\.34\.4/);
            assert.deepStrictEqual(created, [], stack);
        }
        for (const kubeVersion of ["v1.35.0", "v1.37.2", "v1.35.4-eks-1a2b3c4", "v2.0.0"]) {
            assert.deepStrictEqual(prerequisiteProblems({ discovered: true, kubeVersion, served: {} }, [], "c"), [], kubeVersion);
        }
        for (const kubeVersion of ["v1.29.15", "v1.34.4-gke.100", "v0.99.0"]) {
            assert.strictEqual(prerequisiteProblems({ discovered: true, kubeVersion, served: {} }, [], "c").length, 1, kubeVersion);
        }
        assert.match(prerequisiteProblems({ discovered: true, kubeVersion: "garbage", served: {} }, [], "c")[0], /"garbage", which is not a Kubernetes version/);
        assert.deepStrictEqual(oldestSupportedKubernetes, { major: 1, minor: 35 });
        assert.match(mockKubernetesVersion, /^v1\.35\./, "the mocks run the oldest supported minor");
    });

    it("an API server that does not answer: one error naming the context, nothing else guessed from Helm's defaults", async () => {
        const { error, created } = await onCluster("production", { unreachable: true });
        assert.deepStrictEqual(problemLines(error), [
            '  - the API server of kube context "healthcare-production" did not answer (unreachable, or these credentials may not read /version and /apis): check that the cluster is running and the context\'s credentials, then run again',
        ]);
        assert.deepStrictEqual(created, []);
    });

    it("the named ClusterIssuer (an Ingress with cert-manager): read once its API is served, before the namespace; a missing one fails naming it, and nothing is created", async () => {
        const ingress = platformRequirements(stackSettings("staging", onIngress));
        assert.deepStrictEqual(ingress.clusterIssuer, { name: "letsencrypt", neededBy: "ingressClusterIssuer" });
        assert.ok(ingress.apis.some((a) => a.name === "CRD clusterissuers.cert-manager.io"));
        assert.ok(!ingress.apis.some((a) => a.name.includes("gateway.networking.k8s.io")), "an Ingress needs no Gateway API");
        const run = await runStack(stackConfig("staging", onIngress), "staging");
        const issuer = run.get("kubernetes:cert-manager.io/v1:ClusterIssuer", "required-clusterissuer-letsencrypt-for-ingressClusterIssuer");
        assert.strictEqual(issuer.read, "letsencrypt");
        const namespace = run.get("healthcare:core:RestrictedNamespace", "namespace");
        assert.ok(namespace.options.dependsOn.some((urn) => urn.endsWith("::required-clusterissuer-letsencrypt-for-ingressClusterIssuer")), "the namespace waits for the read");

        const { error, created } = await onCluster("staging", { clusterIssuers: ["something-else"] }, onIngress);
        assert.match(error?.message ?? "", /ClusterIssuer "letsencrypt", needed by ingressClusterIssuer: not found \(.*does not exist\); create it/);
        assert.deepStrictEqual(created, []);
        // Without TLS, or with cert-manager installed by the stack itself, there is nothing to read.
        const noTls = platformRequirements(stackSettings("staging", { ...onIngress, ingressEnabled: false }));
        assert.strictEqual(noTls.clusterIssuer, undefined);
    });

    it("a stack that turns features off needs nothing for them; one that relies on the platform for a feature needs its API", () => {
        const off = platformRequirements(stackSettings("staging", { ...onStatefulSetEngine, vpaEnabled: false, monitoringEnabled: false, apiHpaCustomMetrics: false, redisTls: false }));
        assert.deepStrictEqual(
            off.apis.map((a) => a.name),
            ["CRD httproutes.gateway.networking.k8s.io"],
        );
        assert.deepStrictEqual(
            platformRequirements(stackSettings("staging", { ...onStatefulSetEngine, vpaEnabled: false, monitoringEnabled: false, apiHpaCustomMetrics: false, ingressEnabled: false, redisTls: false })).apis,
            [],
        );
        // Redis over TLS where the platform runs cert-manager: its Issuer and Certificate CRDs; none where the stack installs it (local).
        const tlsOnly = platformRequirements(stackSettings("staging", { ...onStatefulSetEngine, vpaEnabled: false, monitoringEnabled: false, apiHpaCustomMetrics: false, ingressEnabled: false }));
        assert.deepStrictEqual(tlsOnly.apis.map((a) => `${a.name} for ${a.neededBy}`), ["CRD issuers.cert-manager.io for redisTls", "CRD certificates.cert-manager.io for redisTls"]);
        assert.deepStrictEqual(platformRequirements(stackSettings("local", {})).apis.filter((a) => a.neededBy === "redisTls"), []);
        assert.strictEqual(platformRequirements(stackSettings("local", { installCertManager: false, selfSignedClusterIssuer: "", installCloudNativePg: false })).apis.filter((a) => a.neededBy === "redisTls").length, 2);
        const platformVpa = platformRequirements(stackSettings("local", { installVpa: false }));
        assert.deepStrictEqual(
            platformVpa.apis.map((a) => a.name),
            ["CRD verticalpodautoscalers.autoscaling.k8s.io"],
        );
        // A Gateway API implementation the platform runs: the route's CRD, and the Gateway's where the stack creates one.
        const platformGateway = platformRequirements(stackSettings("local", { installEnvoyGateway: false }));
        assert.deepStrictEqual(platformGateway.apis.map((a) => `${a.name} for ${a.neededBy}`), [
            "CRD httproutes.gateway.networking.k8s.io for apiExposure",
            "CRD gateways.gateway.networking.k8s.io for gatewayClassName",
        ]);
    });

    it("refuses a malformed API id or issuer name before registering anything", () => {
        assert.throws(
            () => new ClusterPrerequisites("bad", { apis: [{ name: "x", servedAs: ["not an id"], neededBy: "s", providedBy: "p" }], clusterIssuer: { name: "Bad_Name", neededBy: "s" } }),
            /apis: "not an id" is not <group>\/<version>\[\/<Kind>\][\s\S]*clusterIssuer: "Bad_Name" is not an object name/,
        );
    });
});
