import { dnsLabel, dnsSubdomain, Reader } from "./reader";

/**
 * The public entry point: how the API is published (an HTTPRoute on a Gateway, or an Ingress), its
 * host, TLS and how certificates are issued.
 */

/** How an ACME issuer has cert-manager prove the domain: solver pods answering HTTP, or a DNS record. */
export type AcmeChallenge = "http01" | "dns01";

export const acmeChallenges: readonly AcmeChallenge[] = ["http01", "dns01"];

/** How clients reach the API: the Gateway API (an HTTPRoute on a Gateway) or an Ingress for an ingress controller. */
export type ApiExposure = "gateway" | "ingress";

export const apiExposures: readonly ApiExposure[] = ["gateway", "ingress"];

/** The Gateway the API's HTTPRoute attaches to (`apiExposure: gateway`). */
export interface GatewaySettings {
    /** The Gateway's metadata.name. */
    readonly name: string;
    /** The Gateway's namespace; undefined: the stack's own namespace. */
    readonly namespace?: string;
    /** The listener the route attaches to (`parentRefs[].sectionName`); undefined: every listener that admits it. */
    readonly sectionName?: string;
    /** The GatewayClass of a Gateway the stack creates itself, in its own namespace; undefined: the platform's Gateway, which must exist. */
    readonly className?: string;
}

export interface IngressSettings {
    /** Whether the API is published outside the cluster at all. */
    readonly enabled: boolean;
    /** Through an HTTPRoute on a Gateway, or an Ingress. */
    readonly exposure: ApiExposure;
    /** The Gateway (`exposure: gateway`); undefined with an Ingress. */
    readonly gateway?: GatewaySettings;
    readonly host: string;
    /** IngressClass of the Ingress (`exposure: ingress`); empty with a Gateway. */
    readonly className: string;
    readonly tls: {
        readonly enabled: boolean;
        /** Secret holding the certificate; cert-manager writes it when `clusterIssuer` is set. */
        readonly secretName: string;
        readonly clusterIssuer?: string;
        readonly acmeChallenge: AcmeChallenge;
        /**
         * cert-manager answers the issuer's HTTP-01 challenges from solver pods in the stack's namespace
         * (TLS on, a cluster issuer that is not this stack's self-signed one, challenge http01, and the
         * certificate is the Ingress's or that of a Gateway the stack creates in its namespace).
         */
        readonly http01Solvers: boolean;
    };
    /** Do not wait for the ingress controller to publish an address (kind without a controller would wait forever). */
    readonly skipAwait: boolean;
}

export function readIngress(r: Reader, deployed: boolean): Partial<IngressSettings> {
    const enabled = r.boolean("ingressEnabled");
    const exposure = r.oneOf("apiExposure", apiExposures);
    const host = r.string("ingressHost");
    if (enabled && !dnsSubdomain.test(host)) {
        r.problem("ingressHost", host, "the public DNS name of the API, e.g. api.clinic.example.com (ingressEnabled is true)");
    }
    const tlsEnabled = r.boolean("ingressTlsEnabled");
    if (enabled && deployed && tlsEnabled === false) {
        r.problem("ingressTlsEnabled", false, "true in staging and production: patient data never crosses the network in clear text");
    }
    const clusterIssuer = r.string("ingressClusterIssuer") || undefined;
    if (clusterIssuer !== undefined && !dnsSubdomain.test(clusterIssuer)) {
        r.problem("ingressClusterIssuer", clusterIssuer, "the name of a cert-manager ClusterIssuer, or empty");
    }
    const gateway = exposure === "gateway" ? readGateway(r, enabled === true, deployed, clusterIssuer) : undefined;
    const className = r.string("ingressClassName");
    if (exposure === "ingress" && enabled && !dnsSubdomain.test(className)) {
        r.problem("ingressClassName", className, "the IngressClass of the cluster's ingress controller (apiExposure is ingress)");
    }
    return {
        enabled,
        exposure,
        gateway,
        host,
        className: exposure === "ingress" ? className : "",
        tls: {
            enabled: tlsEnabled!,
            secretName: r.matching("ingressTlsSecretName", dnsSubdomain, "a Secret name (DNS subdomain)")!,
            clusterIssuer,
            acmeChallenge: r.oneOf("ingressAcmeChallenge", acmeChallenges)!,
            // Decided once the add-on settings are known (parseSettings).
            http01Solvers: false,
        },
        skipAwait: r.boolean("ingressSkipAwait"),
    };
}

/** The Gateway settings, checked only where the API is published through one. */
function readGateway(r: Reader, enabled: boolean, deployed: boolean, clusterIssuer: string | undefined): GatewaySettings {
    const optional = (key: "gatewayNamespace" | "gatewaySectionName" | "gatewayClassName", pattern: RegExp, expected: string) => {
        const value = r.string(key);
        if (enabled && value !== "" && !pattern.test(value)) {
            r.problem(key, value, expected);
        }
        return value || undefined;
    };
    const name = r.string("gatewayName");
    if (enabled && !dnsSubdomain.test(name)) {
        r.problem("gatewayName", name, "the name of the Gateway the API's HTTPRoute attaches to (apiExposure is gateway)");
    }
    const namespace = optional("gatewayNamespace", dnsLabel, "the Gateway's namespace (a DNS label), or empty for the stack's own");
    const sectionName = optional("gatewaySectionName", dnsSubdomain, "the name of one of the Gateway's listeners, or empty");
    const className = optional("gatewayClassName", dnsSubdomain, "a GatewayClass name, or empty to attach to the platform's Gateway");
    if (enabled && className !== undefined) {
        // The stack's own Gateway: in its namespace, with the listeners the program gives it.
        if (namespace !== undefined) {
            r.problem("gatewayNamespace", namespace, "empty while gatewayClassName is set: the stack creates its Gateway in its own namespace");
        }
        if (sectionName !== undefined) {
            r.problem("gatewaySectionName", sectionName, "empty while gatewayClassName is set: the program picks the listener of the Gateway it creates (https with TLS, else http)");
        }
    } else if (enabled) {
        // The platform's Gateway: its listener terminates TLS with the platform's certificate.
        if (deployed && sectionName === undefined) {
            r.problem(
                "gatewaySectionName",
                "",
                "the platform Gateway's HTTPS listener for ingressHost in staging and production: the route attaches to that listener only, never to a plain-HTTP one",
                "is empty",
            );
        }
        if (clusterIssuer !== undefined) {
            r.problem(
                "ingressClusterIssuer",
                clusterIssuer,
                "empty while the API attaches to the platform's Gateway (gatewayClassName empty): that Gateway's listener holds the certificate, issued by the platform",
            );
        }
    }
    return { name, namespace, sectionName, className };
}
