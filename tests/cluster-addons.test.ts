import * as pulumi from "@pulumi/pulumi";
import * as assert from "assert";
import { readFileSync } from "fs";
import * as path from "path";
import { addonCharts, ClusterAddons, localGatewayPorts, plannedCharts } from "../components/clusterAddons";
import { PrometheusAdapterRule } from "../components/monitoring";
import { AddonSettings, SettingsError } from "../config";
import { releaseConfig, releaseKeys } from "../config/release";
import { ProgramRun, runProgram, runStack } from "../harness/mockProgram";
import { stackSettings } from "../cli/ops/workspace";
import { readStackFile, shippedStacks, stackConfig } from "../harness/stackConfig";

const release = "kubernetes:helm.sh/v3:Release";

describe("cluster add-ons", () => {
    describe("local stack", () => {
        let run: ProgramRun;
        before(async () => {
            run = await runStack(stackConfig("local"), "local");
        });

        it("installs every add-on from its official chart at a pinned version, in its own namespace", () => {
            const installed = run
                .ofType(release)
                .map((r) => [r.name, r.inputs.chart, r.inputs.version, r.inputs.repositoryOpts?.repo, r.inputs.namespace, r.inputs.name])
                .sort((a, b) => a[0].localeCompare(b[0]));
            assert.deepStrictEqual(installed, [
                ["cert-manager", "cert-manager", "v1.19.1", "https://charts.jetstack.io", "cert-manager", "cert-manager"],
                // An OCI chart: no repository, the reference says where it is.
                ["envoy-gateway", "oci://docker.io/envoyproxy/gateway-helm", "v1.9.0", undefined, "envoy-gateway-system", "eg"],
                ["kube-prometheus-stack", "kube-prometheus-stack", "79.10.0", "https://prometheus-community.github.io/helm-charts", "monitoring", "kube-prometheus-stack"],
                ["metrics-server", "metrics-server", "3.13.0", "https://kubernetes-sigs.github.io/metrics-server/", "kube-system", "metrics-server"],
                ["prometheus-adapter", "prometheus-adapter", "5.2.0", "https://prometheus-community.github.io/helm-charts", "monitoring", "prometheus-adapter"],
                ["vpa", "vpa", "4.10.0", "https://charts.fairwinds.com/stable", "vpa", "vpa"],
            ]);
            for (const r of run.ofType(release)) {
                assert.strictEqual(r.inputs.createNamespace, true, r.name);
                assert.match(r.inputs.version, /^v?\d+\.\d+\.\d+$/, `${r.name} is pinned to an exact version`);
            }
        });

        it("orders dependent add-ons after what they need", () => {
            const urnOf = (name: string) => run.get(release, name).urn!;
            assert.deepStrictEqual(run.get(release, "prometheus-adapter").options.dependsOn, [urnOf("kube-prometheus-stack")]);
            assert.deepStrictEqual(run.get(release, "vpa").options.dependsOn, [urnOf("metrics-server")]);
            const issuer = run.get("kubernetes:cert-manager.io/v1:ClusterIssuer", "self-signed-issuer");
            assert.deepStrictEqual(issuer.options.dependsOn, [urnOf("cert-manager")]);
            assert.deepStrictEqual(issuer.inputs.spec, { selfSigned: {} });
            assert.strictEqual(issuer.inputs.metadata.name, "selfsigned");
            // cert-manager's Gateway API support needs the Gateway API CRDs, which Envoy Gateway's chart brings.
            assert.deepStrictEqual(run.get(release, "cert-manager").options.dependsOn, [urnOf("envoy-gateway")]);
        });

        it("sets laptop-cluster values: kubelet TLS skipped, CRDs installed, cert-manager's Gateway API support on", () => {
            assert.deepStrictEqual(run.get(release, "metrics-server").inputs.values.args, ["--kubelet-insecure-tls"]);
            const certManager = run.get(release, "cert-manager").inputs.values;
            assert.deepStrictEqual(certManager.crds, { enabled: true });
            assert.deepStrictEqual(certManager.config, { apiVersion: "controller.config.cert-manager.io/v1alpha1", kind: "ControllerConfiguration", enableGatewayAPI: true });
            const prometheus = run.get(release, "kube-prometheus-stack").inputs.values;
            assert.strictEqual(prometheus.prometheus.prometheusSpec.serviceMonitorSelectorNilUsesHelmValues, false);
            assert.strictEqual(prometheus.prometheus.prometheusSpec.ruleSelectorNilUsesHelmValues, false);
            const adapter = run.get(release, "prometheus-adapter").inputs.values;
            assert.deepStrictEqual(adapter.prometheus, { url: "http://kube-prometheus-stack-prometheus.monitoring.svc", port: 9090 });
            assert.strictEqual(adapter.rules.default, false);
        });

        it("creates Envoy Gateway's GatewayClass, its Envoy Service on fixed node ports that kind maps from localhost:8088 and 8443", () => {
            const urnOf = (name: string) => run.get(release, name).urn!;
            const proxy = run.get("kubernetes:gateway.envoyproxy.io/v1alpha1:EnvoyProxy", "envoy-gateway-local-proxy");
            assert.deepStrictEqual(proxy.inputs.metadata, { name: "local-node-ports", namespace: "envoy-gateway-system" });
            const service = proxy.inputs.spec.provider.kubernetes.envoyService;
            // A LoadBalancer: Docker Desktop publishes its ports on localhost; on kind the node ports serve.
            assert.strictEqual(service.type, "LoadBalancer");
            assert.deepStrictEqual(service.patch, {
                type: "StrategicMerge",
                value: { spec: { ports: [{ port: 8088, nodePort: 30088 }, { port: 8443, nodePort: 30443 }] } },
            });
            const gatewayClass = run.get("kubernetes:gateway.networking.k8s.io/v1:GatewayClass", "envoy-gateway-class");
            assert.deepStrictEqual(gatewayClass.inputs.metadata, { name: "envoy-gateway" });
            assert.deepStrictEqual(gatewayClass.inputs.spec, {
                controllerName: "gateway.envoyproxy.io/gatewayclass-controller",
                parametersRef: { group: "gateway.envoyproxy.io", kind: "EnvoyProxy", name: "local-node-ports", namespace: "envoy-gateway-system" },
            });
            assert.deepStrictEqual(gatewayClass.options.dependsOn, [urnOf("envoy-gateway"), proxy.urn]);
            // kind's extraPortMappings reach exactly those node ports.
            const kind = readFileSync(path.join(__dirname, "..", "cli", "ops", "kind-config.yaml"), "utf8");
            for (const p of Object.values(localGatewayPorts)) {
                assert.match(kind, new RegExp(`containerPort: ${p.nodePort}\\n\\s+hostPort: ${p.port}\\b`));
            }
        });

        it("turns node-exporter's mount of the node's root off (Docker Desktop refuses its HostToContainer propagation)", () => {
            const values = run.get(release, "kube-prometheus-stack").inputs.values;
            assert.deepStrictEqual(values["prometheus-node-exporter"], { hostRootFsMount: { enabled: false } });
        });

        it("exports what it installed: every add-on but the CloudNativePG operator and its plugin (the shipped local stack runs the statefulset engine)", () => {
            const operator = [addonCharts.cloudNativePg.release, addonCharts.barmanCloudPlugin.release] as string[];
            assert.deepStrictEqual(
                run.outputs.clusterAddons,
                Object.fromEntries(Object.values(addonCharts).filter((c) => !operator.includes(c.release)).map((c) => [c.release, c.version])),
            );
        });
    });

    describe("local stack on the cloudnative-pg engine (installCloudNativePg)", () => {
        const cloudNativePg = { postgresEngine: "cloudnative-pg", postgresInstances: 1, postgresPoolerInstances: 1, vpaPostgresMode: "Off", installCloudNativePg: true };
        let run: ProgramRun;
        before(async () => {
            run = await runStack(stackConfig("local", cloudNativePg), "local");
        });

        it("installs the CloudNativePG operator and its Barman Cloud plugin from their official charts, pinned, beside each other in cnpg-system", () => {
            const installed = ["cloudnative-pg", "plugin-barman-cloud"].map((name) => {
                const r = run.get(release, name);
                return [r.name, r.inputs.chart, r.inputs.version, r.inputs.repositoryOpts.repo, r.inputs.namespace, r.inputs.name, r.inputs.createNamespace, r.inputs.values];
            });
            assert.deepStrictEqual(installed, [
                ["cloudnative-pg", "cloudnative-pg", "0.29.0", "https://cloudnative-pg.github.io/charts", "cnpg-system", "cnpg", true, {}],
                ["plugin-barman-cloud", "plugin-barman-cloud", "0.7.0", "https://cloudnative-pg.github.io/charts", "cnpg-system", "plugin-barman-cloud", true, {}],
            ]);
            assert.deepStrictEqual(run.outputs.clusterAddons, Object.fromEntries(Object.values(addonCharts).map((c) => [c.release, c.version])));
            assert.strictEqual(run.ofType(release).length, Object.keys(addonCharts).length);
        });

        it("plans them last, the plugin after the operator, and needs no CloudNativePG CRD from the platform", () => {
            const settings: AddonSettings = { metricsServer: false, vpa: false, prometheusStack: false, envoyGateway: false, certManager: true, cloudNativePg: true };
            assert.deepStrictEqual(plannedCharts(settings).map((c) => c.release), ["cert-manager", "cnpg", "plugin-barman-cloud"]);
            assert.deepStrictEqual(
                run.ofType("kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition").map((r) => r.read),
                [],
                "the stack's own add-ons install every CRD it uses",
            );
            assert.strictEqual(run.get("kubernetes:postgresql.cnpg.io/v1:Cluster", "postgres").inputs.spec.instances, 1);
        });
    });

    for (const stack of ["staging", "production"] as const) {
        it(`${stack} assumes the platform provides them: no release, no issuer`, async () => {
            const run = await runStack(stackConfig(stack), stack);
            assert.deepStrictEqual(run.ofType(release), []);
            // It only reads the platform's issuer (tests/cluster-prerequisites.test.ts), never creates one.
            assert.deepStrictEqual(
                run.ofType("kubernetes:cert-manager.io/v1:ClusterIssuer").filter((r) => !r.read),
                [],
            );
            assert.deepStrictEqual(run.outputs.clusterAddons, {});
        });
    }

    it("staging with Envoy Gateway keeps the chart's LoadBalancer Service: a GatewayClass without the local node ports", async () => {
        const run = await runStack(stackConfig("staging", { installEnvoyGateway: true }), "staging");
        assert.deepStrictEqual(run.get(release, "envoy-gateway").inputs.values, {});
        assert.deepStrictEqual(run.ofType("kubernetes:gateway.envoyproxy.io/v1alpha1:EnvoyProxy"), []);
        assert.deepStrictEqual(run.get("kubernetes:gateway.networking.k8s.io/v1:GatewayClass", "envoy-gateway-class").inputs.spec, {
            controllerName: "gateway.envoyproxy.io/gatewayclass-controller",
        });
    });

    it("staging with kube-prometheus-stack keeps node-exporter's root mount (real nodes share /)", async () => {
        const run = await runStack(stackConfig("staging", { installPrometheusStack: true }), "staging");
        assert.strictEqual(run.get(release, "kube-prometheus-stack").inputs.values["prometheus-node-exporter"], undefined);
    });

    it("refuses the CloudNativePG add-on without cert-manager (the plugin's certificates), before registering anything", async () => {
        const { error, resources } = await runProgram(stackConfig("local", { installCloudNativePg: true, installCertManager: false, selfSignedClusterIssuer: "" }), "local");
        assert.strictEqual(error?.name, "SettingsError");
        assert.deepStrictEqual((error as SettingsError).problems, [
            "healthcare-backend:installCloudNativePg = true is invalid; expected false unless installCertManager is true: the Barman Cloud plugin's certificates come from cert-manager",
        ]);
        assert.deepStrictEqual(resources, []);
    });

    it("refuses a self-signed issuer without cert-manager, and another GatewayClass with Envoy Gateway, before registering anything", async () => {
        const { error, resources } = await runProgram(
            stackConfig("local", { installCertManager: false, gatewayClassName: "traefik" }),
            "local",
        );
        // The mock runner loads the program afresh, so the class is another copy: compare by name.
        assert.strictEqual(error?.name, "SettingsError");
        assert.deepStrictEqual((error as SettingsError).problems, [
            'healthcare-backend:selfSignedClusterIssuer = "selfsigned" is invalid; expected empty unless installCertManager is true: a ClusterIssuer needs cert-manager\'s CRDs',
            'healthcare-backend:gatewayClassName = "traefik" is invalid; expected envoy-gateway, the GatewayClass of the Envoy Gateway this stack installs (installEnvoyGateway is true), or empty',
        ]);
        assert.deepStrictEqual(resources, []);
    });

    it("passes prometheus-adapter the custom-metric rules it is given", async () => {
        const rule: PrometheusAdapterRule = {
            seriesQuery: 'http_requests_per_second{namespace!="",pod!=""}',
            resources: { overrides: { namespace: { resource: "namespace" }, pod: { resource: "pod" } } },
            name: { as: "http_requests_per_second" },
            metricsQuery: "sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)",
        };
        const captured: Array<{ type: string; name: string; inputs: any }> = [];
        await pulumi.runtime.setMocks(
            {
                newResource: (args) => {
                    captured.push(args);
                    return { id: `${args.name}-id`, state: args.inputs };
                },
                call: (args) => args.inputs,
            },
            "healthcare-backend",
            "local",
            false,
        );
        const settings: AddonSettings = { metricsServer: false, vpa: false, prometheusStack: true, envoyGateway: false, certManager: false, cloudNativePg: false };
        const addons = new ClusterAddons("cluster-addons", { settings, environment: "staging", adapterRules: [rule] });
        await new Promise<void>((resolve) => pulumi.all(addons.readyFor.map((r) => r.urn)).apply(() => resolve()));
        const adapter = captured.find((r) => r.name === "prometheus-adapter")!;
        assert.deepStrictEqual(adapter.inputs.values.rules.custom, [rule]);
        assert.strictEqual(addons.readyFor.length, 2);
        assert.deepStrictEqual(plannedCharts(settings).map((c) => c.release), ["kube-prometheus-stack", "prometheus-adapter"]);
    });
});

describe("release settings (what promotion carries)", () => {
    for (const stack of shippedStacks) {
        it(`are read back exactly from Pulumi.${stack}.yaml`, () => {
            const file = readStackFile(stack);
            const defaults = stackConfig(stack);
            const values = releaseConfig(stackSettings(stack));
            for (const key of releaseKeys) {
                assert.strictEqual(values[key], String(file[`healthcare-backend:${key}`] ?? defaults[`healthcare-backend:${key}`] ?? ""), key);
            }
        });
    }

    it("are exported by the program as the release output", async () => {
        const run = await runStack(stackConfig("staging"), "staging");
        assert.deepStrictEqual(run.outputs.release, releaseConfig(stackSettings("staging")));
    });
});
