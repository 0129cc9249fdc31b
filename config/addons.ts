import { IngressSettings } from "./ingress";
import { dnsSubdomain, Reader } from "./reader";

/** The cluster add-ons a stack installs itself. */

/** Cluster add-ons the stack installs from their Helm charts (components/clusterAddons.ts). */
export interface AddonSettings {
    readonly metricsServer: boolean;
    readonly vpa: boolean;
    /** kube-prometheus-stack (Prometheus operator, Prometheus, Alertmanager) and prometheus-adapter. */
    readonly prometheusStack: boolean;
    readonly ingressNginx: boolean;
    readonly certManager: boolean;
    /** The CloudNativePG operator and its Barman Cloud plugin (the plugin needs cert-manager). */
    readonly cloudNativePg: boolean;
    /** Name of a self-signed cert-manager ClusterIssuer to create (local TLS); undefined creates none. */
    readonly selfSignedIssuer?: string;
}

export function readAddons(r: Reader, ingress: Partial<IngressSettings>): AddonSettings {
    const ingressNginx = r.boolean("installIngressNginx")!;
    const certManager = r.boolean("installCertManager")!;
    const selfSignedIssuer = r.string("selfSignedClusterIssuer") || undefined;
    if (selfSignedIssuer !== undefined && !dnsSubdomain.test(selfSignedIssuer)) {
        r.problem("selfSignedClusterIssuer", selfSignedIssuer, "a ClusterIssuer name (DNS subdomain), or empty");
    } else if (selfSignedIssuer !== undefined && certManager === false) {
        r.problem("selfSignedClusterIssuer", selfSignedIssuer, "empty unless installCertManager is true: a ClusterIssuer needs cert-manager's CRDs");
    }
    if (ingressNginx && ingress.enabled && ingress.className !== undefined && ingress.className !== "nginx") {
        r.problem("ingressClassName", ingress.className, "nginx, the IngressClass of the ingress-nginx this stack installs (installIngressNginx is true)");
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
        ingressNginx,
        certManager,
        selfSignedIssuer,
    };
}
