import { dnsSubdomain, Reader } from "./reader";

/** The public entry point: host, class, TLS and how certificates are issued. */

/** How an ACME issuer has cert-manager prove the domain: solver pods answering HTTP, or a DNS record. */
export type AcmeChallenge = "http01" | "dns01";

export const acmeChallenges: readonly AcmeChallenge[] = ["http01", "dns01"];

export interface IngressSettings {
    readonly enabled: boolean;
    readonly host: string;
    readonly className: string;
    readonly tls: {
        readonly enabled: boolean;
        /** Secret holding the certificate; cert-manager writes it when `clusterIssuer` is set. */
        readonly secretName: string;
        readonly clusterIssuer?: string;
        readonly acmeChallenge: AcmeChallenge;
        /**
         * cert-manager answers the issuer's HTTP-01 challenges from solver pods in the stack's namespace
         * (TLS on, a cluster issuer that is not this stack's self-signed one, challenge http01).
         */
        readonly http01Solvers: boolean;
    };
    /** Do not wait for the ingress controller to publish an address (kind without a controller would wait forever). */
    readonly skipAwait: boolean;
}

export function readIngress(r: Reader, deployed: boolean): Partial<IngressSettings> {
    const enabled = r.boolean("ingressEnabled");
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
    return {
        enabled,
        host,
        className: r.matching("ingressClassName", dnsSubdomain, "an IngressClass name such as nginx"),
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
