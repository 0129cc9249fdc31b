import * as pulumi from "@pulumi/pulumi";
import * as assert from "assert";
import { spawnSync } from "child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { parse } from "yaml";
import { CapturedResource, runStack } from "../harness/mockProgram";
import { releasesFolder, Rendering, renderResources, renderStack, resourceKey, secretPlaceholder, toYaml, writeRendering } from "../cli/render";
import { projectRoot, ShippedStack, shippedStacks, stackConfig, onStatefulSetEngine } from "../harness/stackConfig";

/**
 * The objects each shipped stack applies, by kind. A feature that adds objects (autoscalers,
 * budgets, monitoring, network policies, add-ons) adds its kinds here, for the stacks that turn it on.
 */
// ConfigMaps: the API's, the Redis pods' and the Redis Jobs' (two, so that a Job script change restarts no node), the
// statefulset engine's scripts (start-up guard, roles), and (with monitoring) the four Grafana dashboards (API,
// PostgreSQL, Redis Cluster, capacity). Secrets: Redis's, the API role's, and the statefulset
// engine's superuser, exporter and backup roles'.
// The API's HTTPRoute: every shipped stack publishes it through the Gateway API.
// Redis's own TLS issuer (redisTls, on in every stack): the self-signed and the CA Issuer, the CA's and the nodes' Certificate.
const workloadKinds = { Namespace: 1, ServiceAccount: 3, Secret: 5, ConfigMap: 8, Deployment: 1, StatefulSet: 2, HTTPRoute: 1, NetworkPolicy: 5, Issuer: 2, Certificate: 2 };
// Redis scale-in and reconcile Jobs; the HPA; client, headless and (with monitoring) one metrics Service per workload.
const scalingAndMonitoring = { Job: 2, HorizontalPodAutoscaler: 1, Service: 7, VerticalPodAutoscaler: 3, ServiceMonitor: 3, PrometheusRule: 1 };
/** Adds (or, with -1, removes) the objects of a feature, kind by kind; kinds that drop to 0 disappear. */
const adjust = (kinds: Record<string, number>, feature: Record<string, number>, sign: 1 | -1 = 1) => {
    const out: Record<string, number> = { ...kinds };
    for (const [kind, count] of Object.entries(feature)) {
        out[kind] = (out[kind] ?? 0) + sign * count;
        if (out[kind] === 0) {
            delete out[kind];
        }
    }
    return out;
};
// The statefulset engine's server (the local stack's): its StatefulSet, ServiceAccount, client and headless
// Services, the exporter's metrics Service and ServiceMonitor, the pod's scripts (postgres-scripts) and the
// Secrets of its superuser, exporter and backup roles. The API role's Secret is postgres-credentials.
const statefulSetServer = { StatefulSet: 1, ServiceAccount: 1, Service: 3, ServiceMonitor: 1, ConfigMap: 1, Secret: 3 };
// CloudNativePG (staging, production): the Cluster, its Pooler, the backups' ObjectStore and ScheduledBackup,
// PodMonitors for the instances and the pooler; the operator makes the pods, their Services, ServiceAccounts,
// budgets and Jobs. Five more policies: the pooler's, the operator's Jobs', and the ways of the instances,
// the pooler and the Jobs to the API server. Its Secret is postgres-app-credentials (the API role's).
// No backup CronJob, volume, scripts or ServiceAccount: the WAL and base backups go to object storage.
const cloudNativePgServer = { Cluster: 1, Pooler: 1, ObjectStore: 1, ScheduledBackup: 1, PodMonitor: 2, NetworkPolicy: 5 };
const onCloudNativePg = (kinds: Record<string, number>) => adjust(adjust(kinds, statefulSetServer, -1), cloudNativePgServer);
// The previewer's read-only access (previewerAccess; off on local): its ServiceAccount, Role, ClusterRole and their bindings.
const previewer = { ServiceAccount: 1, Role: 1, RoleBinding: 1, ClusterRole: 1, ClusterRoleBinding: 1 };
const expectedKinds: Record<ShippedStack, Record<string, number>> = {
    // The local stack installs cert-manager and its self-signed ClusterIssuer, and Envoy Gateway with its
    // GatewayClass and the EnvoyProxy that fixes its node ports; it creates its own Gateway. One API pod and
    // one Redis node leave nothing a budget could protect; it takes no scheduled backups.
    local: { ...workloadKinds, ...scalingAndMonitoring, ClusterIssuer: 1, GatewayClass: 1, EnvoyProxy: 1, Gateway: 1 },
    // Staging and production attach to the platform's Gateway (its certificate and any HTTP-01 solver are
    // the platform's), and give the data stores a PriorityClass (dataPriorityClassName).
    // A multi-node Redis Cluster also runs its reconcile every 15 minutes (CronJob).
    staging: adjust(onCloudNativePg({ ...workloadKinds, ...scalingAndMonitoring, PodDisruptionBudget: 2, PriorityClass: 1, CronJob: 1 }), previewer),
    production: adjust(onCloudNativePg({ ...workloadKinds, ...scalingAndMonitoring, PodDisruptionBudget: 2, PriorityClass: 1, CronJob: 1 }), previewer),
};
// Scheduled PostgreSQL backups on the statefulset engine: the CronJob, its volume, scripts, ServiceAccount and NetworkPolicy.
const backups = { CronJob: 1, PersistentVolumeClaim: 1, ConfigMap: 1, ServiceAccount: 1, NetworkPolicy: 1 };
/** Staging on the statefulset engine, with its bucket: the local stack's server, and the backup CronJob. */
const stagingOnStatefulSet = {
    overrides: onStatefulSetEngine,
    kinds: adjust(adjust({ ...workloadKinds, ...scalingAndMonitoring, PodDisruptionBudget: 2, PriorityClass: 1, CronJob: 1 }, backups), previewer),
};
/** Helm releases (cluster add-ons) per stack: local installs all six; the platform provides them elsewhere. */
const expectedReleases: Record<ShippedStack, number> = { local: 6, staging: 0, production: 0 };
/** Objects without a namespace. */
const clusterScoped = ["Namespace", "ClusterIssuer", "PriorityClass", "GatewayClass", "ClusterRole", "ClusterRoleBinding"];
/** Add-on objects in their add-on's own namespace. */
const addonNamespaced: Record<string, string> = { EnvoyProxy: "envoy-gateway-system" };

const countKinds = (rendering: Rendering) => {
    const counts: Record<string, number> = {};
    for (const o of rendering.objects) {
        counts[o.kind] = (counts[o.kind] ?? 0) + 1;
    }
    return counts;
};

const secret = (value: unknown) => ({ [pulumi.runtime.specialSigKey]: pulumi.runtime.specialSecretSig, value });

function captured(type: string, name: string, inputs: any, dependsOn: string[] = [], custom = true): CapturedResource {
    return { type, name, inputs, provider: "", custom, options: { protect: false, retainOnDelete: false, ignoreChanges: [], dependsOn } };
}
const urn = (type: string, name: string) => `urn:pulumi:test::healthcare-backend::healthcare:app:Api$${type}::${name}`;

describe("render", () => {
    for (const stack of shippedStacks) {
        describe(`stack ${stack}`, () => {
            let rendering: Rendering;
            before(async () => {
                rendering = await renderStack(stack);
            });

            it("renders every object the stack applies, by kind", () => {
                assert.deepStrictEqual(countKinds(rendering), expectedKinds[stack]);
                const total = Object.values(expectedKinds[stack]).reduce((a, b) => a + b, 0);
                assert.strictEqual(rendering.objects.length, total);
                assert.strictEqual(rendering.releases.length, expectedReleases[stack]);
            });

            it("orders them for applying: the namespace first, every object after what it waits for", () => {
                // Helm's order: a PriorityClass (cluster-scoped, waits for nothing) may come before the namespace.
                assert.strictEqual(rendering.objects.filter((o) => o.kind !== "PriorityClass")[0].kind, "Namespace");
                const position = new Map(rendering.items.map((item, i) => ["object" in item ? item.object.source : item.release.source, i] as const));
                const byKey = new Map([...position.keys()].map((s) => [resourceKey(s.type, s.name), s]));
                for (const [source, index] of position) {
                    for (const dependency of source.dependsOn.filter((d) => byKey.has(d))) {
                        assert.ok(position.get(byKey.get(dependency)!)! < index, `${source.name} comes after ${dependency}`);
                    }
                }
                const at = (kind: string, name: string) => rendering.objects.findIndex((o) => o.kind === kind && o.name === name);
                const redis = at("StatefulSet", "redis-cluster");
                assert.ok(at("Job", "redis-cluster-scale-in") < redis, "the scale-in Job drains leaving nodes before the StatefulSet shrinks");
                assert.ok(redis < at("Job", "redis-cluster-reconcile"), "the reconcile Job waits for the Redis StatefulSet");
            });

            it("writes secret values as a placeholder, never the generated passwords", () => {
                const text = JSON.stringify(rendering.items);
                assert.doesNotMatch(text, /mock-secret-/);
                for (const s of rendering.objects.filter((o) => o.kind === "Secret")) {
                    const values = Object.values((s.manifest.stringData ?? s.manifest.data) as Record<string, unknown>);
                    assert.ok(values.length > 0);
                    assert.ok(values.every((v) => v === secretPlaceholder), `${s.name}: ${JSON.stringify(values)}`);
                }
            });

            it("takes every object's apiVersion and kind from its type token and names it explicitly", () => {
                for (const o of rendering.objects) {
                    assert.strictEqual(`kubernetes:${o.apiVersion.includes("/") ? o.apiVersion : `core/${o.apiVersion}`}:${o.kind}`, o.source.type);
                    assert.strictEqual((o.manifest.metadata as any).name, o.name);
                    if (!clusterScoped.includes(o.kind)) {
                        assert.strictEqual(o.namespace, addonNamespaced[o.kind] ?? "healthcare-backend", `${o.kind}/${o.name}`);
                    }
                }
            });
        });
    }

    it("staging on the statefulset engine renders the local stack's server and the backup CronJob instead of the operator's objects", async () => {
        const rendering = renderResources((await runStack(stackConfig("staging", stagingOnStatefulSet.overrides), "staging")).resources);
        assert.deepStrictEqual(countKinds(rendering), stagingOnStatefulSet.kinds);
        assert.deepStrictEqual(
            rendering.objects.filter((o) => o.kind === "Secret").map((o) => o.name).sort(),
            // The API role's, and the superuser's, the exporter's and the backups' roles'.
            ["postgres-backup-credentials", "postgres-credentials", "postgres-exporter-credentials", "postgres-superuser", "redis-credentials"],
        );
    });

    it("on cloudnative-pg, renders the API role's Secret, and the Cluster before the objects that name it", async () => {
        const rendering = await renderStack("production");
        assert.deepStrictEqual(
            rendering.objects.filter((o) => o.kind === "Secret").map((o) => o.name).sort(),
            ["postgres-app-credentials", "redis-credentials"],
        );
        const at = (kind: string, name: string) => rendering.objects.findIndex((o) => o.kind === kind && o.name === name);
        assert.ok(at("Secret", "postgres-app-credentials") < at("Cluster", "postgres"), "the Cluster's bootstrap reads the Secret");
        assert.ok(at("ObjectStore", "postgres-backups") < at("Cluster", "postgres"), "the Cluster archives to the ObjectStore");
        assert.ok(at("Cluster", "postgres") < at("Pooler", "postgres-pooler"));
        assert.ok(at("Cluster", "postgres") < at("ScheduledBackup", "postgres-backup"));
    });

    it("writes YAML 1.1, quoting strings that YAML 1.1 readers (kubectl) would take for booleans", () => {
        const text = toYaml({ updateMode: "Off", enabled: true, answer: "yes" });
        assert.match(text, /updateMode: "Off"/);
        assert.match(text, /enabled: true/);
        assert.match(text, /answer: "yes"/);
    });

    it("writes one file per object, numbered in apply order, and clears an earlier render but nothing else", async () => {
        const rendering = await renderStack("local");
        const dir = mkdtempSync(path.join(tmpdir(), "render-"));
        writeFileSync(path.join(dir, "99-left-over.yaml"), "kind: Stale\n");
        writeFileSync(path.join(dir, "Pulumi.yaml"), "name: not-a-render\n");
        const { objectFiles } = writeRendering(rendering, dir, "local");
        assert.deepStrictEqual(readdirSync(dir).sort(), [...objectFiles.map((f) => path.basename(f)), "Pulumi.yaml", releasesFolder].sort());
        objectFiles.forEach((file, i) => {
            const o = rendering.objects[i];
            // Numbered by position among everything applied, Helm releases included.
            const order = rendering.items.findIndex((item) => "object" in item && item.object === o) + 1;
            assert.match(path.basename(file), new RegExp(`^${String(order).padStart(2, "0")}-${o.kind.toLowerCase()}-${o.name}\\.yaml$`));
            assert.deepStrictEqual(parse(readFileSync(file, "utf8")), o.manifest);
        });
    });

    it("renders custom resources and Helm releases generically; skips providers, components and other packages", () => {
        const rendering = renderResources([
            captured("pulumi:providers:kubernetes", "kubernetes", {}),
            captured("healthcare:app:Api", "api", {}, [], false),
            captured("random:index/randomPassword:RandomPassword", "password", { length: 32 }),
            captured("kubernetes:autoscaling.k8s.io/v1:VerticalPodAutoscaler", "api-vpa", {
                apiVersion: "autoscaling.k8s.io/v1",
                kind: "VerticalPodAutoscaler",
                metadata: { name: "healthcare-api", namespace: "ns" },
                spec: { updatePolicy: { updateMode: "Off" } },
            }),
            captured("kubernetes:helm.sh/v3:Release", "metrics-server", {
                chart: "metrics-server",
                version: "3.12.2",
                namespace: "kube-system",
                repositoryOpts: { repo: "https://kubernetes-sigs.github.io/metrics-server/" },
                values: { args: ["--kubelet-insecure-tls"], auth: secret({ token: "t0ken", port: 1 }) },
            }),
            captured("kubernetes:core/v1:ConfigMap", "unnamed", { data: { password: secret("hunter2") } }),
        ]);
        assert.deepStrictEqual(
            rendering.objects.map((o) => [o.apiVersion, o.kind, o.name]),
            [
                ["v1", "ConfigMap", "unnamed"],
                ["autoscaling.k8s.io/v1", "VerticalPodAutoscaler", "healthcare-api"],
            ],
        );
        assert.deepStrictEqual(rendering.objects[0].manifest, { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "unnamed" }, data: { password: secretPlaceholder } });
        assert.deepStrictEqual(rendering.releases, [
            {
                name: "metrics-server",
                namespace: "kube-system",
                chart: "metrics-server",
                repository: "https://kubernetes-sigs.github.io/metrics-server/",
                version: "3.12.2",
                values: { args: ["--kubelet-insecure-tls"], auth: { token: secretPlaceholder, port: secretPlaceholder } },
                source: { type: "kubernetes:helm.sh/v3:Release", name: "metrics-server", dependsOn: [] },
            },
        ]);
        assert.strictEqual("release" in rendering.items[0], true, "releases (add-ons) go before the objects");
    });

    it("orders by kind where nothing depends on anything, and by dependencies where something does", () => {
        const cm = (name: string, deps: string[] = []) => captured("kubernetes:core/v1:ConfigMap", name, { metadata: { name } }, deps);
        const rendering = renderResources([
            captured("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "monitor", { metadata: { name: "monitor" } }),
            captured("kubernetes:apps/v1:Deployment", "app", { metadata: { name: "app" } }),
            cm("after-monitor", [urn("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "monitor")]),
            cm("first"),
            captured("kubernetes:core/v1:Namespace", "ns", { metadata: { name: "ns" } }),
        ]);
        assert.deepStrictEqual(
            rendering.objects.map((o) => o.name),
            ["ns", "first", "app", "monitor", "after-monitor"],
        );
    });

    it("refuses what it cannot render faithfully", () => {
        assert.throws(() => renderResources([captured("kubernetes:apps/v1:DeploymentPatch", "p", {})]), /patch resources/);
        assert.throws(() => renderResources([captured("kubernetes:apps/v1:Deployment", "d", { apiVersion: "apps/v1beta1" })]), /type token says apps\/v1/);
        assert.throws(() => renderResources([captured("kubernetes:helm.sh/v3:Release", "r", {})]), /has no chart/);
    });

    it("runs as npm run render -- --stack <name> --out <dir>, and names the stacks when given another", () => {
        const out = mkdtempSync(path.join(tmpdir(), "render-cli-"));
        const cli = (...args: string[]) =>
            spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "cli/render.ts", ...args], { cwd: projectRoot, encoding: "utf8" });
        const ok = cli("--stack", "production", "--out", out);
        assert.strictEqual(ok.status, 0, ok.stderr);
        const objects = Object.values(expectedKinds.production).reduce((a, b) => a + b, 0);
        assert.match(ok.stdout, new RegExp(`Stack production: ${objects} objects and ${expectedReleases.production} Helm releases written`));
        assert.strictEqual(readdirSync(out).filter((f) => f.endsWith(".yaml")).length, objects);
        assert.strictEqual(readdirSync(out).includes(releasesFolder), expectedReleases.production > 0);
        const bad = cli("--stack", "prod", "--out", out);
        assert.strictEqual(bad.status, 1);
        assert.match(bad.stderr, /no stack file Pulumi\.prod\.yaml/);
    });
});
