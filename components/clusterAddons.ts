import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { AddonSettings, Environment } from "../config";
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
    readonly repo: string;
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
    ingressNginx: {
        resourceName: "ingress-nginx",
        release: "ingress-nginx",
        chart: "ingress-nginx",
        version: "4.14.1",
        repo: "https://kubernetes.github.io/ingress-nginx",
        namespace: "ingress-nginx",
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

/** The ingress controller's pods, for NetworkPolicies that admit its traffic to the API. */
export const ingressControllerPeer = {
    namespace: addonCharts.ingressNginx.namespace,
    podLabels: { "app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller" },
} as const;


/** The charts a stack installs, in install order (dependencies first). */
export function plannedCharts(settings: AddonSettings): AddonChart[] {
    const planned: AddonChart[] = [];
    if (settings.certManager) planned.push(addonCharts.certManager);
    if (settings.metricsServer) planned.push(addonCharts.metricsServer);
    if (settings.vpa) planned.push(addonCharts.vpa);
    if (settings.prometheusStack) planned.push(addonCharts.prometheusStack, addonCharts.prometheusAdapter);
    if (settings.ingressNginx) planned.push(addonCharts.ingressNginx);
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
}

/** Helm values per chart: what a laptop cluster needs differs from a cloud cluster. */
function chartValues(key: AddonKey, local: boolean, adapterRules: readonly PrometheusAdapterRule[]): Record<string, unknown> {
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
                // Dashboards are out of scope; Alertmanager receives the PrometheusRule alerts.
                grafana: { enabled: false },
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
        case "ingressNginx":
            return {
                controller: {
                    ingressClassResource: { name: "nginx", enabled: true, default: false },
                    ...(local
                        ? {
                              // The node's ports 80/443 (kind maps host port 8088 to 80: cli/ops/kind-config.yaml); the
                              // published address lets Pulumi's Ingress await finish.
                              hostPort: { enabled: true },
                              // The old pod holds the node's ports until it is gone: a surge pod could never
                              // schedule on a one-node cluster, and every upgrade would time out.
                              updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } },
                              service: { type: "NodePort" },
                              publishService: { enabled: false },
                              extraArgs: { "publish-status-address": "localhost" },
                              tolerations: [{ key: "node-role.kubernetes.io/control-plane", operator: "Exists", effect: "NoSchedule" }],
                          }
                        : { service: { type: "LoadBalancer" }, replicaCount: 2 }),
                },
            };
        case "certManager":
            return { crds: { enabled: true } };
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
            // The adapter queries the Prometheus that kube-prometheus-stack starts; the VPA reads metrics-server.
            const after = key === "prometheusAdapter" ? releases.get("prometheusStack") : key === "vpa" ? releases.get("metricsServer") : undefined;
            releases.set(
                key,
                new k8s.helm.v3.Release(
                    chart.resourceName,
                    {
                        name: chart.release,
                        chart: chart.chart,
                        version: chart.version,
                        repositoryOpts: { repo: chart.repo },
                        namespace: chart.namespace,
                        createNamespace: true,
                        values: chartValues(key, local, args.adapterRules ?? []),
                        // Seconds; kube-prometheus-stack pulls several images on a fresh cluster.
                        timeout: 900,
                    },
                    { parent: this, dependsOn: after ? [after] : [] },
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
        this.installed = Object.fromEntries(plannedCharts(s).map((c) => [c.release, c.version]));
        this.registerOutputs({ installed: this.installed });
    }
}
