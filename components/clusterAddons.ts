import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { AddonSettings, envoyGatewayClassName, Environment } from "../config";
import { checkArgs } from "../lib/args";
import { PrometheusAdapterRule } from "./monitoring";

/**
 * Cluster add-ons from their official Helm charts, at pinned versions. A `helm.v3.Release` installs
 * a chart's CRDs itself (unlike `helm.v4.Chart`, which renders objects into the program), and waits
 * until the chart's workloads are ready, so objects that need those CRDs or controllers can
 * `dependsOn` the add-ons (`readyFor`).
 */

/** One pinned chart. */
export interface AddonChart {
    /** Logical name of the Release in the program (part of its URN). */
    readonly resourceName: string;
    /** Helm release name in the cluster. */
    readonly release: string;
    readonly chart: string;
    readonly version: string;
    /** Helm repository URL; undefined where `chart` is an OCI reference (`oci://...`). */
    readonly repo?: string;
    readonly namespace: string;
}

/** Every chart this component can install. VPA: the Fairwinds chart; the kubernetes/autoscaler one says it is not production-ready yet. */
export const addonCharts = {
    metricsServer: {
        resourceName: "metrics-server",
        release: "metrics-server",
        chart: "metrics-server",
        version: "3.13.0",
        repo: "https://kubernetes-sigs.github.io/metrics-server/",
        namespace: "kube-system",
    },
    vpa: { resourceName: "vpa", release: "vpa", chart: "vpa", version: "4.10.0", repo: "https://charts.fairwinds.com/stable", namespace: "vpa" },
    prometheusStack: {
        resourceName: "kube-prometheus-stack",
        release: "kube-prometheus-stack",
        chart: "kube-prometheus-stack",
        version: "79.10.0",
        repo: "https://prometheus-community.github.io/helm-charts",
        namespace: "monitoring",
    },
    prometheusAdapter: {
        resourceName: "prometheus-adapter",
        release: "prometheus-adapter",
        chart: "prometheus-adapter",
        version: "5.2.0",
        repo: "https://prometheus-community.github.io/helm-charts",
        namespace: "monitoring",
    },
    // Envoy Gateway's own chart (an OCI artifact on Docker Hub, tagged as the release): the controller,
    // its CRDs and the Gateway API CRDs (crds/, installed by Helm before the templates). v1.9 is built
    // on Gateway API v1.6.1 and supports Kubernetes 1.33 to 1.36.
    envoyGateway: {
        resourceName: "envoy-gateway",
        release: "eg",
        chart: "oci://docker.io/envoyproxy/gateway-helm",
        version: "v1.9.0",
        namespace: "envoy-gateway-system",
    },
    certManager: {
        resourceName: "cert-manager",
        release: "cert-manager",
        chart: "cert-manager",
        version: "v1.19.1",
        repo: "https://charts.jetstack.io",
        namespace: "cert-manager",
    },
    // CloudNativePG and its Barman Cloud plugin (the plugin beside the operator, in its namespace). The
    // newest charts verified here: operator 1.30.0, plugin v0.13.0 (the CRD checks pin 1.30.1 and v0.15.0).
    cloudNativePg: {
        resourceName: "cloudnative-pg",
        release: "cnpg",
        chart: "cloudnative-pg",
        version: "0.29.0",
        repo: "https://cloudnative-pg.github.io/charts",
        namespace: "cnpg-system",
    },
    barmanCloudPlugin: {
        resourceName: "plugin-barman-cloud",
        release: "plugin-barman-cloud",
        chart: "plugin-barman-cloud",
        version: "0.7.0",
        repo: "https://cloudnative-pg.github.io/charts",
        namespace: "cnpg-system",
    },
} as const satisfies Record<string, AddonChart>;

export type AddonKey = keyof typeof addonCharts;

/** The component's type token and the name index.ts gives it: together they fix every add-on's URN. */
export const clusterAddonsType = "healthcare:platform:ClusterAddons";
export const clusterAddonsName = "cluster-addons";
/** Logical name of the self-signed ClusterIssuer (a cert-manager custom resource). */
export const selfSignedIssuerResourceName = "self-signed-issuer";

/** The Prometheus the stack installs, as the adapter and NetworkPolicies reach it. */
export const prometheusService = {
    namespace: addonCharts.prometheusStack.namespace,
    // fullnameOverride below fixes the chart's object names to the release name.
    name: `${addonCharts.prometheusStack.release}-prometheus`,
    port: 9090,
    podLabels: { "app.kubernetes.io/name": "prometheus" },
} as const;

/**
 * Envoy Gateway's data plane: one Envoy Deployment per Gateway, in the controller's namespace, its pods
 * labelled with these (internal/infrastructure/kubernetes/proxy/resource.go, EnvoyAppLabel) and with the
 * Gateway they serve (`gateway.envoyproxy.io/owning-gateway-name` and `-namespace`).
 */
export const envoyProxyPods = {
    namespace: addonCharts.envoyGateway.namespace,
    podLabels: { "app.kubernetes.io/name": "envoy", "app.kubernetes.io/component": "proxy", "app.kubernetes.io/managed-by": "envoy-gateway" },
    owningGatewayName: "gateway.envoyproxy.io/owning-gateway-name",
    owningGatewayNamespace: "gateway.envoyproxy.io/owning-gateway-namespace",
} as const;

/**
 * The local Gateway's listener ports and the node ports its Service gets. kind maps the host's 8088 and
 * 8443 to the node ports (cli/ops/kind-config.yaml); Docker Desktop publishes a LoadBalancer Service's
 * ports on localhost. Either way: http://localhost:8088 and https://localhost:8443.
 */
export const localGatewayPorts = {
    http: { port: 8088, nodePort: 30088 },
    https: { port: 8443, nodePort: 30443 },
} as const;

/** Logical names of the Envoy Gateway add-on's own objects: its GatewayClass and, on local, the EnvoyProxy that fixes its node ports. */
export const envoyGatewayClassResourceName = "envoy-gateway-class";
export const envoyProxyResourceName = "envoy-gateway-local-proxy";


/** The charts a stack installs, in install order (dependencies first). */
export function plannedCharts(settings: AddonSettings): AddonChart[] {
    const planned: AddonChart[] = [];
    // Before cert-manager: with its Gateway API support on, cert-manager needs the Gateway API CRDs this chart brings.
    if (settings.envoyGateway) planned.push(addonCharts.envoyGateway);
    if (settings.certManager) planned.push(addonCharts.certManager);
    if (settings.metricsServer) planned.push(addonCharts.metricsServer);
    if (settings.vpa) planned.push(addonCharts.vpa);
    if (settings.prometheusStack) planned.push(addonCharts.prometheusStack, addonCharts.prometheusAdapter);
    if (settings.cloudNativePg) planned.push(addonCharts.cloudNativePg, addonCharts.barmanCloudPlugin);
    return planned;
}

/** Args of the cluster add-ons. */
export interface ClusterAddonsArgs {
    /** Which add-ons to install, from the stack config. */
    settings: AddonSettings;
    /** The stack's environment: local gets values for a one-node laptop cluster (kind, Docker Desktop, minikube). */
    environment: Environment;
    /** Custom-metric rules for prometheus-adapter (`prometheusAdapterRules()` of components/monitoring.ts); none serves no custom metric. */
    adapterRules?: readonly PrometheusAdapterRule[];
    /** The label Grafana's dashboard sidecar loads ConfigMaps by (the stack's dashboards carry it); undefined: kube-prometheus-stack runs without Grafana. */
    dashboardLabel?: Readonly<Record<string, string>>;
    /** Turn on cert-manager's Gateway API support (certificates for annotated Gateways, HTTP-01 through HTTPRoutes); needs the Gateway API CRDs. */
    gatewayApi?: boolean;
}

/** Helm values per chart: what a laptop cluster needs differs from a cloud cluster. */
function chartValues(
    key: AddonKey,
    local: boolean,
    adapterRules: readonly PrometheusAdapterRule[],
    gatewayApi: boolean,
    dashboardLabel: Readonly<Record<string, string>> | undefined,
): Record<string, unknown> {
    switch (key) {
        case "metricsServer":
            // kind, Docker Desktop and minikube kubelets serve self-signed certificates.
            return local ? { args: ["--kubelet-insecure-tls"] } : {};
        case "vpa":
            // All three parts: the admission controller applies recommendations to recreated pods.
            return { recommender: { enabled: true }, updater: { enabled: true }, admissionController: { enabled: true } };
        case "prometheusStack":
            return {
                fullnameOverride: addonCharts.prometheusStack.release,
                // Grafana loads the stack's dashboard ConfigMaps (its sidecar, by their label, from every namespace).
                grafana: dashboardLabel
                    ? {
                          enabled: true,
                          sidecar: {
                              dashboards: { enabled: true, label: Object.keys(dashboardLabel)[0], labelValue: Object.values(dashboardLabel)[0], searchNamespace: "ALL" },
                          },
                      }
                    : { enabled: false },
                // The Redis dashboard's masters and replicas per zone join the nodes' zone label.
                "kube-state-metrics": { metricLabelsAllowlist: ["nodes=[topology.kubernetes.io/zone]"] },
                prometheus: {
                    prometheusSpec: {
                        // Select every ServiceMonitor and PrometheusRule, not only those labelled for this release.
                        serviceMonitorSelectorNilUsesHelmValues: false,
                        podMonitorSelectorNilUsesHelmValues: false,
                        ruleSelectorNilUsesHelmValues: false,
                        retention: local ? "2d" : "15d",
                    },
                },
                // On a laptop cluster these control-plane parts listen on the node's loopback only: never scrapeable.
                // node-exporter's mount of the node's / with HostToContainer propagation is refused by Docker
                // Desktop's node ("not a shared or slave mount"), so the DaemonSet never turns ready; without
                // it node-exporter reports its own container's filesystems, which no rule of this stack reads.
                ...(local
                    ? {
                          kubeEtcd: { enabled: false },
                          kubeControllerManager: { enabled: false },
                          kubeScheduler: { enabled: false },
                          kubeProxy: { enabled: false },
                          "prometheus-node-exporter": { hostRootFsMount: { enabled: false } },
                      }
                    : {}),
            };
        case "prometheusAdapter":
            return {
                prometheus: { url: `http://${prometheusService.name}.${prometheusService.namespace}.svc`, port: prometheusService.port },
                // Only the custom metrics the HPA uses; resource metrics stay with metrics-server.
                rules: { default: false, custom: adapterRules },
            };
        case "envoyGateway":
            // The chart's defaults (one controller replica, restricted pods, its CRDs and the Gateway API's).
            // Where the data plane listens is the GatewayClass's EnvoyProxy (below), not a chart value.
            return {};
        case "certManager":
            return {
                crds: { enabled: true },
                // The gateway-shim: a Gateway annotated cert-manager.io/cluster-issuer gets a Certificate per HTTPS listener.
                ...(gatewayApi ? { config: { apiVersion: "controller.config.cert-manager.io/v1alpha1", kind: "ControllerConfiguration", enableGatewayAPI: true } } : {}),
            };
        case "cloudNativePg":
        case "barmanCloudPlugin":
            // The charts' defaults: CRDs included, one operator replica, restricted pods.
            return {};
    }
}

const keyOf = (chart: AddonChart): AddonKey => (Object.keys(addonCharts) as AddonKey[]).find((k) => addonCharts[k] === chart)!;

/** Cluster add-ons, each a Helm release; `readyFor` lists what CRD consumers must depend on. */
export class ClusterAddons extends pulumi.ComponentResource {
    /** Installed releases (and the self-signed issuer): objects that need their CRDs or controllers depend on these. */
    readonly readyFor: pulumi.Resource[];
    /** Helm release name -> deployed chart version. */
    readonly installed: Record<string, string>;

    constructor(name: string, args: ClusterAddonsArgs, opts?: pulumi.ComponentResourceOptions) {
        super(clusterAddonsType, name, {}, opts);
        const s = args.settings;
        checkArgs("ClusterAddons", name, [
            s.selfSignedIssuer !== undefined && !s.certManager && `settings.selfSignedIssuer "${s.selfSignedIssuer}" needs settings.certManager (its CRDs)`,
        ]);
        const local = args.environment === "local";

        const releases = new Map<AddonKey, k8s.helm.v3.Release>();
        for (const chart of plannedCharts(s)) {
            const key = keyOf(chart);
            // The adapter queries the Prometheus that kube-prometheus-stack starts; the VPA reads metrics-server;
            // the Barman Cloud plugin registers with the operator and gets its certificates from cert-manager.
            const after = {
                prometheusAdapter: [releases.get("prometheusStack")],
                vpa: [releases.get("metricsServer")],
                barmanCloudPlugin: [releases.get("cloudNativePg"), releases.get("certManager")],
                // With its Gateway API support on, cert-manager's controller needs the Gateway API CRDs at start.
                certManager: args.gatewayApi ? [releases.get("envoyGateway")] : [],
            }[key as string]?.filter((r): r is k8s.helm.v3.Release => r !== undefined) ?? [];
            releases.set(
                key,
                new k8s.helm.v3.Release(
                    chart.resourceName,
                    {
                        name: chart.release,
                        chart: chart.chart,
                        version: chart.version,
                        repositoryOpts: chart.repo ? { repo: chart.repo } : undefined,
                        namespace: chart.namespace,
                        createNamespace: true,
                        values: chartValues(key, local, args.adapterRules ?? [], args.gatewayApi ?? false, args.dashboardLabel),
                        // Seconds; kube-prometheus-stack pulls several images on a fresh cluster.
                        timeout: 900,
                    },
                    { parent: this, dependsOn: after },
                ),
            );
        }

        this.readyFor = [...releases.values()];
        if (s.selfSignedIssuer) {
            this.readyFor.push(
                new k8s.apiextensions.CustomResource(
                    selfSignedIssuerResourceName,
                    { apiVersion: "cert-manager.io/v1", kind: "ClusterIssuer", metadata: { name: s.selfSignedIssuer }, spec: { selfSigned: {} } },
                    { parent: this, dependsOn: [releases.get("certManager")!] },
                ),
            );
        }
        const envoyGateway = releases.get("envoyGateway");
        if (envoyGateway) {
            this.readyFor.push(...envoyGatewayObjects(local, envoyGateway, this));
        }
        this.installed = Object.fromEntries(plannedCharts(s).map((c) => [c.release, c.version]));
        this.registerOutputs({ installed: this.installed });
    }
}

/**
 * The GatewayClass of the Envoy Gateway add-on, and on local the EnvoyProxy it points at: the data
 * plane's Service as a LoadBalancer (Docker Desktop publishes its ports on localhost; on kind it stays
 * pending) with fixed node ports, which kind maps from the host. Node ports, not the node's own ports
 * (hostPort): a new Envoy pod can start beside the old one on a one-node cluster, so a roll never waits
 * for the old pod to let go of a port.
 */
function envoyGatewayObjects(local: boolean, release: k8s.helm.v3.Release, parent: pulumi.Resource): pulumi.Resource[] {
    const opts = { parent, dependsOn: [release] };
    const proxyRef = { name: "local-node-ports", namespace: addonCharts.envoyGateway.namespace };
    const proxy = local
        ? new k8s.apiextensions.CustomResource(
              envoyProxyResourceName,
              {
                  apiVersion: "gateway.envoyproxy.io/v1alpha1",
                  kind: "EnvoyProxy",
                  metadata: proxyRef,
                  spec: {
                      provider: {
                          type: "Kubernetes",
                          kubernetes: {
                              envoyService: {
                                  type: "LoadBalancer",
                                  // Strategic merge: Service ports merge by port number.
                                  patch: {
                                      type: "StrategicMerge",
                                      value: { spec: { ports: Object.values(localGatewayPorts).map((p) => ({ port: p.port, nodePort: p.nodePort })) } },
                                  },
                              },
                          },
                      },
                  },
              },
              opts,
          )
        : undefined;
    const gatewayClass = new k8s.apiextensions.CustomResource(
        envoyGatewayClassResourceName,
        {
            apiVersion: "gateway.networking.k8s.io/v1",
            kind: "GatewayClass",
            metadata: { name: envoyGatewayClassName },
            spec: {
                controllerName: "gateway.envoyproxy.io/gatewayclass-controller",
                ...(proxy
                    ? { parametersRef: { group: "gateway.envoyproxy.io", kind: "EnvoyProxy", ...proxyRef } }
                    : {}),
            },
        },
        { ...opts, dependsOn: proxy ? [release, proxy] : [release] },
    );
    return proxy ? [proxy, gatewayClass] : [gatewayClass];
}
