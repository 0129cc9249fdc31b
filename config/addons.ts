import { IngressSettings } from "./ingress";
import { dnsSubdomain, Reader } from "./reader";

/** The cluster add-ons a stack installs itself. */

/** The GatewayClass the Envoy Gateway add-on creates (components/clusterAddons.ts). */
export const envoyGatewayClassName = "envoy-gateway";

/** Cluster add-ons the stack installs from their Helm charts (components/clusterAddons.ts). */
export interface AddonSettings {
    readonly metricsServer: boolean;
    readonly vpa: boolean;
    /** kube-prometheus-stack (Prometheus operator, Prometheus, Alertmanager) and prometheus-adapter. */
    readonly prometheusStack: boolean;
    /** Envoy Gateway (a Gateway API implementation) and its GatewayClass. */
    readonly envoyGateway: boolean;
    readonly certManager: boolean;
    /** The CloudNativePG operator and its Barman Cloud plugin (the plugin needs cert-manager). */
    readonly cloudNativePg: boolean;
    /** Name of a self-signed cert-manager ClusterIssuer to create (local TLS); undefined creates none. */
    readonly selfSignedIssuer?: string;
}

export function readAddons(r: Reader, ingress: Partial<IngressSettings>): AddonSettings {
    const envoyGateway = r.boolean("installEnvoyGateway")!;
    const certManager = r.boolean("installCertManager")!;
    const selfSignedIssuer = r.string("selfSignedClusterIssuer") || undefined;
    if (selfSignedIssuer !== undefined && !dnsSubdomain.test(selfSignedIssuer)) {
        r.problem("selfSignedClusterIssuer", selfSignedIssuer, "a ClusterIssuer name (DNS subdomain), or empty");
    } else if (selfSignedIssuer !== undefined && certManager === false) {
        r.problem("selfSignedClusterIssuer", selfSignedIssuer, "empty unless installCertManager is true: a ClusterIssuer needs cert-manager's CRDs");
    }
    const className = ingress.gateway?.className;
    if (envoyGateway && ingress.enabled && className !== undefined && className !== envoyGatewayClassName) {
        r.problem("gatewayClassName", className, `${envoyGatewayClassName}, the GatewayClass of the Envoy Gateway this stack installs (installEnvoyGateway is true), or empty`);
    }
    const cloudNativePg = r.boolean("installCloudNativePg")!;
    if (cloudNativePg && certManager === false) {
        r.problem("installCloudNativePg", cloudNativePg, "false unless installCertManager is true: the Barman Cloud plugin's certificates come from cert-manager");
    }
    return {
        cloudNativePg,
        metricsServer: r.boolean("installMetricsServer")!,
        vpa: r.boolean("installVpa")!,
        prometheusStack: r.boolean("installPrometheusStack")!,
        envoyGateway,
        certManager,
        selfSignedIssuer,
    };
}
