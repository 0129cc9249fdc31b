import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as path from "path";
import { AddonSettings, AutoscalingSettings, IngressSettings, MonitoringSettings, PostgresBackupSettings, PostgresSettings, RedisSettings } from "../config";
import { checkArgs } from "../lib/args";

/**
 * The oldest Kubernetes minor the stacks support: upstream supports the three newest minors (1.35-1.37
 * in December 2026), and zone-aware Redis placement reads the pod topology labels that are on by
 * default from 1.35.
 */
export const oldestSupportedKubernetes = { major: 1, minor: 35 } as const;

/** An API the stack's objects need and the cluster must already serve (a CRD, or an aggregated API). */
export interface RequiredApi {
    /** What to install or register, as an operator would name it: `CRD <plural>.<group>`, `APIService v1beta1.custom.metrics.k8s.io`. */
    readonly name: string;
    /** Discovery ids, any one of which serves the need: `<group>/<version>/<Kind>` or `<group>/<version>`. */
    readonly servedAs: readonly string[];
    /** Which setting asks for it (for messages and the docs). */
    readonly neededBy: string;
    /** What provides it on a cluster: `the VPA`, `prometheus-adapter (or another custom-metrics adapter)`. */
    readonly providedBy: string;
}

const crd = (plural: string, group: string, version: string, kind: string, neededBy: string, providedBy: string): RequiredApi => ({
    name: `CRD ${plural}.${group}`,
    servedAs: [`${group}/${version}/${kind}`],
    neededBy,
    providedBy,
});

/** What a stack needs from the platform: the APIs of the features it turns on, less those its own add-ons install, and the ClusterIssuer it names. */
export interface PlatformRequirements {
    /** APIs the cluster must serve before anything is created. */
    readonly apis: RequiredApi[];
    /** The cert-manager ClusterIssuer that must exist, and the setting that names it; undefined: none. */
    readonly clusterIssuer?: { readonly name: string; readonly neededBy: string };
}

/**
 * The APIs and the ClusterIssuer a stack needs from the platform: those of the features it turns on,
 * less what it installs itself (a CRD installed by the stack's own add-ons is created in the same run).
 */
export function platformRequirements(settings: {
    autoscaling: AutoscalingSettings;
    monitoring: MonitoringSettings;
    addons: AddonSettings;
    postgres: PostgresSettings;
    postgresBackup?: PostgresBackupSettings;
    ingress: IngressSettings;
    redis: Pick<RedisSettings, "tls">;
}): PlatformRequirements {
    const apis: RequiredApi[] = [];
    // Redis's own CA and the nodes' certificate (components/redisCluster.ts): an Issuer and Certificates in the namespace.
    if (settings.redis.tls && !settings.addons.certManager) {
        const certManager = "cert-manager (installCertManager)";
        apis.push(
            crd("issuers", "cert-manager.io", "v1", "Issuer", "redisTls", certManager),
            crd("certificates", "cert-manager.io", "v1", "Certificate", "redisTls", certManager),
        );
    }
    // The API's HTTPRoute, and the Gateway when the stack creates its own; Envoy Gateway's chart brings them.
    if (settings.ingress.enabled && settings.ingress.exposure === "gateway" && !settings.addons.envoyGateway) {
        const platform = "the Gateway API's standard CRDs (with a Gateway API implementation)";
        apis.push(crd("httproutes", "gateway.networking.k8s.io", "v1", "HTTPRoute", "apiExposure", platform));
        if (settings.ingress.gateway?.className !== undefined) {
            apis.push(crd("gateways", "gateway.networking.k8s.io", "v1", "Gateway", "gatewayClassName", platform));
        }
    }
    if (settings.postgres.engine === "cloudnative-pg" && !settings.addons.cloudNativePg) {
        const operator = "the CloudNativePG operator (installCloudNativePg)";
        apis.push(crd("clusters", "postgresql.cnpg.io", "v1", "Cluster", "postgresEngine", operator));
        if (settings.postgres.pooler) {
            apis.push(crd("poolers", "postgresql.cnpg.io", "v1", "Pooler", "postgresPoolerInstances", operator));
        }
        if (settings.postgresBackup?.objectStore) {
            apis.push(
                crd("scheduledbackups", "postgresql.cnpg.io", "v1", "ScheduledBackup", "postgresBackupSchedule", operator),
                crd("objectstores", "barmancloud.cnpg.io", "v1", "ObjectStore", "postgresBackupS3Bucket", "the Barman Cloud plugin of CloudNativePG"),
            );
        }
    }
    if (settings.autoscaling.vpa.enabled && !settings.addons.vpa) {
        apis.push(crd("verticalpodautoscalers", "autoscaling.k8s.io", "v1", "VerticalPodAutoscaler", "vpaEnabled", "the Vertical Pod Autoscaler (installVpa)"));
    }
    if (settings.monitoring.enabled && !settings.addons.prometheusStack) {
        const operator = "the Prometheus Operator (installPrometheusStack)";
        apis.push(
            crd("servicemonitors", "monitoring.coreos.com", "v1", "ServiceMonitor", "monitoringEnabled", operator),
            crd("prometheusrules", "monitoring.coreos.com", "v1", "PrometheusRule", "monitoringEnabled", operator),
        );
        // CloudNativePG's instances and poolers are scraped through PodMonitors (components/monitoring.ts).
        if (settings.postgres.engine === "cloudnative-pg") {
            apis.push(crd("podmonitors", "monitoring.coreos.com", "v1", "PodMonitor", "monitoringEnabled", operator));
        }
    }
    // The HPA reads http_requests_per_second through the custom-metrics API: without an adapter serving
    // it, the HPA cannot compute that metric and never scales down (it keeps the highest proposal).
    // kube-prometheus-stack on this stack brings prometheus-adapter.
    if (settings.autoscaling.hpa.enabled && settings.autoscaling.hpa.customMetrics && !settings.addons.prometheusStack) {
        apis.push({
            name: "APIService v1beta2.custom.metrics.k8s.io (or v1beta1)",
            servedAs: ["custom.metrics.k8s.io/v1beta2", "custom.metrics.k8s.io/v1beta1"],
            neededBy: "apiHpaCustomMetrics",
            providedBy: "prometheus-adapter (or another custom-metrics adapter) with this stack's adapter rules",
        });
    }
    // The ClusterIssuer the Ingress names, where cert-manager is the platform's. (A stack that installs
    // cert-manager itself creates its self-signed issuer, or has its issuer made after the add-ons.)
    const tls = settings.ingress.tls;
    const issuer = settings.ingress.enabled && tls.enabled && !settings.addons.certManager ? tls.clusterIssuer : undefined;
    if (issuer !== undefined) {
        apis.push({ ...crd("clusterissuers", "cert-manager.io", "v1", "ClusterIssuer", "ingressClusterIssuer", `cert-manager and its ClusterIssuer "${issuer}"`) });
    }
    return { apis, clusterIssuer: issuer === undefined ? undefined : { name: issuer, neededBy: "ingressClusterIssuer" } };
}

/** What the API server says about itself: its version and which of the asked-for APIs it serves. */
export interface ClusterCapabilities {
    /** False when the API server did not answer discovery (unreachable, or no right to read it): nothing else is then known. */
    readonly discovered: boolean;
    /** `/version`'s gitVersion, e.g. `v1.35.4` or `v1.35.4-eks-1a2b3c`. */
    readonly kubeVersion: string;
    /** Per discovery id asked for, whether the API server serves it. */
    readonly served: Readonly<Record<string, boolean>>;
}

/** The chart the kubernetes provider templates to report the cluster's capabilities (never installed). */
export const capabilitiesChart = path.join(__dirname, "assets", "cluster-capabilities");

/** The problems of deploying onto a cluster with these capabilities; each names what is missing, the setting and what provides it. */
export function prerequisiteProblems(capabilities: ClusterCapabilities, apis: readonly RequiredApi[], context: string): string[] {
    if (!capabilities.discovered) {
        return [
            `the API server of kube context "${context}" did not answer (unreachable, or these credentials may not read /version and /apis): ` +
                "check that the cluster is running and the context's credentials, then run again",
        ];
    }
    const problems: string[] = [];
    const version = /^v?(\d+)\.(\d+)/.exec(capabilities.kubeVersion);
    const floor = oldestSupportedKubernetes;
    if (!version) {
        problems.push(`Kubernetes ${floor.major}.${floor.minor} or later: the API server reports version "${capabilities.kubeVersion}", which is not a Kubernetes version`);
    } else if (Number(version[1]) < floor.major || (Number(version[1]) === floor.major && Number(version[2]) < floor.minor)) {
        problems.push(
            `Kubernetes ${floor.major}.${floor.minor} or later: the API server is ${capabilities.kubeVersion}, a minor upstream no longer supports ` +
                `(and without the pod topology labels on by default from 1.35); upgrade the cluster (docs/upgrading.md#kubernetes)`,
        );
    }
    for (const api of apis) {
        if (!api.servedAs.some((id) => capabilities.served[id])) {
            problems.push(`${api.name}, needed by ${api.neededBy}: not served; install ${api.providedBy}, or turn ${api.neededBy} off`);
        }
    }
    return problems;
}

/** Thrown when the cluster lacks what the stack needs: every missing piece at once, before anything is created. */
export class ClusterPrerequisitesError extends pulumi.RunError {
    constructor(context: string, problems: readonly string[]) {
        super(`The cluster (kube context "${context}") lacks what this stack needs; nothing was created:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
        this.name = "ClusterPrerequisitesError";
    }
}

/** Args of the check that the cluster serves what the stack needs. */
export interface ClusterPrerequisitesArgs {
    /** APIs that must be served before anything is created. */
    apis: readonly RequiredApi[];
    /** The ClusterIssuer that must exist (read once its API is known to be served); undefined: none. */
    clusterIssuer?: { readonly name: string; readonly neededBy: string };
    /** The kube context the provider uses, for messages; undefined: the current context. */
    context?: string;
}

/**
 * Checks the cluster before anything is created: the API server's version (Kubernetes 1.35 or later)
 * and every API the stack needs, from the provider's templating of a small chart
 * (`components/assets/cluster-capabilities`: Helm fills `.Capabilities` from the cluster's `/version`
 * and discovery; an invoke, so it runs in preview as in `up` and creates nothing). Every missing piece
 * is named in one error. The ClusterIssuer is an object, not an API: it is read (`Resource.get`) once
 * the rest is there, so its absence is then the only problem and the engine names it with the read.
 * The program awaits `checks` (beside DataChangeGuard's) before registering any Kubernetes object.
 */
export class ClusterPrerequisites extends pulumi.ComponentResource {
    /** Resolves to the reads the stack's first object waits for; rejects with `ClusterPrerequisitesError`. */
    readonly checks: Promise<pulumi.Resource[]>;

    constructor(name: string, args: ClusterPrerequisitesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("healthcare:platform:ClusterPrerequisites", name, {}, opts);
        checkArgs("ClusterPrerequisites", name, [
            ...args.apis.map((api) => api.servedAs.length === 0 && `apis: "${api.name}" lists no discovery id`),
            ...args.apis.flatMap((api) => api.servedAs.map((id) => !/^([a-z0-9.-]+\/)?v[0-9a-z]+(\/[A-Z][A-Za-z0-9]*)?$/.test(id) && `apis: "${id}" is not <group>/<version>[/<Kind>]`)),
            args.clusterIssuer !== undefined && !/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(args.clusterIssuer.name) && `clusterIssuer: "${args.clusterIssuer.name}" is not an object name`,
        ]);
        const context = args.context ?? "(current context)";
        const apis = [...new Set(args.apis.flatMap((api) => api.servedAs))];
        const jsonOpts = JSON.stringify({ path: capabilitiesChart, release_name: "cluster-capabilities", values: { apis } });
        this.checks = pulumi.runtime
            .invoke("kubernetes:helm:template", { jsonOpts }, { parent: this, provider: opts?.provider })
            .then(async (response: { result?: { data?: Record<string, string> }[] }) => {
                const data = response.result?.find((o) => o.data?.served !== undefined)?.data;
                const capabilities: ClusterCapabilities = {
                    discovered: data?.discovered === "true",
                    kubeVersion: data?.kubeVersion ?? "",
                    served: data?.served ? (JSON.parse(data.served) as Record<string, boolean>) : {},
                };
                const problems = prerequisiteProblems(capabilities, args.apis, context);
                if (problems.length > 0) {
                    throw new ClusterPrerequisitesError(context, problems);
                }
                return args.clusterIssuer ? [await this.readClusterIssuer(args.clusterIssuer, context)] : [];
            });
        this.registerOutputs({ apis: args.apis.map((a) => a.name), clusterIssuer: args.clusterIssuer?.name });
    }

    /** Reads the ClusterIssuer; a failed read (it does not exist) becomes this check's error. */
    private async readClusterIssuer(issuer: { readonly name: string; readonly neededBy: string }, context: string): Promise<pulumi.Resource> {
        // The logical name says what to do when the read fails: the engine prints it with its own error.
        const read = k8s.apiextensions.CustomResource.get(`required-clusterissuer-${issuer.name}-for-${issuer.neededBy}`, {
            apiVersion: "cert-manager.io/v1",
            kind: "ClusterIssuer",
            id: issuer.name,
            parent: this,
        });
        // The read's URN settles once the engine has read it (rejected when it failed; no public API says so).
        await (read.urn as unknown as { promise(): Promise<string> }).promise().catch((error: Error) => {
            throw new ClusterPrerequisitesError(context, [
                `ClusterIssuer "${issuer.name}", needed by ${issuer.neededBy}: not found (${error.message}); create it (docs/first-deployment.md#the-clusterissuer), or name an existing one`,
            ]);
        });
        return read;
    }
}
