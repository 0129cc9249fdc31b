import { canonicalCidr, isCanonical, parseCidr } from "../lib/cidr";
import { parseLabelSelector } from "../lib/labels";
import { ScalarKey } from "./declarations";
import { ApiExposure } from "./ingress";
import { dnsLabel, Reader } from "./reader";

/** Network security: the peers outside the namespace that NetworkPolicies admit or reach. */

/** Pods in another namespace that a NetworkPolicy admits: the namespace by name, the pods by labels. */
export interface PeerSelector {
    readonly namespace: string;
    /** `matchLabels`; empty selects every pod of the namespace. */
    readonly podLabels: Readonly<Record<string, string>>;
}

/** Where the pods that resolve names send their DNS queries (UDP and TCP 53). */
export interface DnsPeers {
    /** The cluster DNS pods; undefined when DNS is reached by address only. */
    readonly pods?: PeerSelector;
    /** Canonical CIDR blocks of DNS servers no pod selector matches (NodeLocal DNSCache's 169.254.20.10/32). */
    readonly cidrs: readonly string[];
}

/** A destination outside the cluster that the API may reach over TCP. */
export interface ExternalDestination {
    /** Canonical CIDR block. */
    readonly cidr: string;
    readonly port: number;
}

export interface NetworkSettings {
    /**
     * The pods that carry clients' requests to the API, the only source of its http port: the Gateway
     * implementation's proxies (`apiExposure: gateway`) or the ingress controller's (`ingress`).
     */
    readonly publicEntry: PeerSelector;
    /** Prometheus' pods: the only source of the workloads' metrics ports. */
    readonly prometheus: PeerSelector;
    /** The CloudNativePG operator's pods: they reach the instances' status port. */
    readonly cloudNativePgOperator: PeerSelector;
    /** The DNS servers of every egress policy whose pods resolve names. */
    readonly dns: DnsPeers;
    /** Where the API may connect outside the cluster, besides PostgreSQL, Redis and DNS. */
    readonly apiExternalEgress: readonly ExternalDestination[];
}

export function readNetwork(r: Reader, exposure: ApiExposure | undefined): NetworkSettings {
    const peer = (namespaceKey: ScalarKey, selectorKey: ScalarKey, orEmpty = ""): PeerSelector => {
        const namespace = r.matching(namespaceKey, dnsLabel, `a namespace name (a DNS label)${orEmpty}`);
        const text = r.string(selectorKey);
        const parsed = parseLabelSelector(text);
        if ("problem" in parsed) {
            r.problem(selectorKey, text, `a pod selector of comma-separated key=value labels, e.g. app.kubernetes.io/name=prometheus (${parsed.problem})`);
        }
        return { namespace: namespace!, podLabels: "labels" in parsed ? parsed.labels : {} };
    };
    const byIngress = exposure === "ingress";
    return {
        // Only the peer of the way the API is published is read: the other may name nothing.
        publicEntry: byIngress
            ? peer("ingressControllerNamespace", "ingressControllerPodSelector", ": the ingress controller's, as apiExposure is ingress")
            : peer("gatewayPodNamespace", "gatewayPodSelector", ": the Gateway implementation's proxies, as apiExposure is gateway"),
        prometheus: peer("prometheusNamespace", "prometheusPodSelector"),
        cloudNativePgOperator: peer("cloudNativePgOperatorNamespace", "cloudNativePgOperatorPodSelector"),
        dns: readDns(r, peer),
        apiExternalEgress: readExternalEgress(r, "apiExternalEgress"),
    };
}

/** The cluster DNS pods (unless clusterDnsNamespace is empty) and the DNS addresses in clusterDnsCidrs; at least one. */
export function readDns(r: Reader, peer: (namespaceKey: ScalarKey, selectorKey: ScalarKey, orEmpty?: string) => PeerSelector): DnsPeers {
    const byPods = r.string("clusterDnsNamespace") !== "";
    const pods = byPods ? peer("clusterDnsNamespace", "clusterDnsPodSelector", ", or empty to reach DNS by clusterDnsCidrs only") : undefined;
    const cidrs: string[] = [];
    const text = r.string("clusterDnsCidrs");
    for (const entry of text.split(/[\s,]+/).filter((e) => e !== "")) {
        const block = parseCidr(entry);
        if (!block) {
            r.problem("clusterDnsCidrs", entry, "CIDR blocks separated by commas, e.g. 169.254.20.10/32 (NodeLocal DNSCache)");
        } else if (!isCanonical(block)) {
            r.problem("clusterDnsCidrs", entry, `a CIDR block without host bits (did you mean ${canonicalCidr(block)}?)`);
        } else if (cidrs.includes(block.text)) {
            r.problem("clusterDnsCidrs", entry, "each block once", "is listed twice");
        } else {
            cidrs.push(block.text);
        }
    }
    if (!byPods && text === "") {
        r.problem(
            "clusterDnsCidrs",
            "",
            "the DNS servers' addresses (e.g. 169.254.20.10/32) while clusterDnsNamespace is empty: with neither, the API and the Redis Jobs could resolve no name",
            "is empty",
        );
    }
    return { pods, cidrs };
}

/** `CIDR:port` entries separated by commas or spaces (`203.0.113.0/24:443, 2001:db8::/32:443`). */
export function readExternalEgress(r: Reader, key: ScalarKey): ExternalDestination[] {
    const destinations: ExternalDestination[] = [];
    const expected = "CIDR:port entries separated by commas, e.g. 203.0.113.0/24:443";
    for (const entry of r.string(key).split(/[\s,]+/).filter((e) => e !== "")) {
        const match = /^(.+\/\d{1,3}):(\d{1,5})$/.exec(entry);
        const block = match ? parseCidr(match[1]) : undefined;
        const port = match ? Number(match[2]) : NaN;
        if (!match || !block) {
            r.problem(key, entry, expected);
        } else if (!isCanonical(block)) {
            r.problem(key, entry, `a CIDR block without host bits (did you mean ${canonicalCidr(block)}:${port}?)`);
        } else if (!(port >= 1 && port <= 65535)) {
            r.problem(key, entry, "a port from 1 to 65535 after the CIDR block");
        } else if (destinations.some((d) => d.cidr === block.text && d.port === port)) {
            r.problem(key, entry, "each destination once", "is listed twice");
        } else {
            destinations.push({ cidr: block.text, port });
        }
    }
    return destinations;
}
