/**
 * Decides whether Kubernetes NetworkPolicies allow a connection, following the semantics of
 * https://kubernetes.io/docs/concepts/services-networking/network-policies/ and the
 * networking.k8s.io/v1 API reference. Written from the documentation, not from the program's
 * component, so that tests can hold the component's output against it.
 *
 * Not modelled: traffic from a pod's own node (always allowed), Service address translation (policies
 * see pod addresses and container ports), and CNI-specific behaviour of ipBlock for pod addresses
 * (this model matches ipBlock against every address, pods included).
 */
import { cidrContains, parseCidr, parseIp } from "../../lib/cidr";

export type Protocol = "TCP" | "UDP" | "SCTP";

export interface LabelSelectorRequirement {
    key: string;
    operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
    values?: string[];
}

export interface LabelSelector {
    matchLabels?: Record<string, string>;
    matchExpressions?: LabelSelectorRequirement[];
}

export interface NetworkPolicyPort {
    /** Defaults to TCP. */
    protocol?: Protocol;
    /** A number or the name of a container port of the destination pod; absent: every port. */
    port?: number | string;
    /** With a numeric `port`: the inclusive end of a port range. */
    endPort?: number;
}

export interface NetworkPolicyPeer {
    podSelector?: LabelSelector;
    namespaceSelector?: LabelSelector;
    ipBlock?: { cidr: string; except?: string[] };
}

export interface NetworkPolicyIngressRule {
    from?: NetworkPolicyPeer[];
    ports?: NetworkPolicyPort[];
}

export interface NetworkPolicyEgressRule {
    to?: NetworkPolicyPeer[];
    ports?: NetworkPolicyPort[];
}

export interface NetworkPolicy {
    metadata: { name: string; namespace: string };
    spec: {
        podSelector: LabelSelector;
        policyTypes?: ("Ingress" | "Egress")[];
        ingress?: NetworkPolicyIngressRule[];
        egress?: NetworkPolicyEgressRule[];
    };
}

export interface ContainerPort {
    name?: string;
    containerPort: number;
    protocol?: Protocol;
}

/** A pod (with a namespace) or a host outside the cluster (without one). */
export interface Endpoint {
    name: string;
    ip: string;
    namespace?: string;
    labels?: Record<string, string>;
    /** Every container port of the pod (named ports resolve against these). */
    ports?: ContainerPort[];
}

export interface Namespace {
    name: string;
    labels?: Record<string, string>;
}

/** One side of a verdict: unrestricted (no policy of that direction selects the pod), or the rules that allow it. */
export type SideVerdict = { isolated: false } | { isolated: true; allowedBy: string[] };

export interface Verdict {
    allowed: boolean;
    /** The source's egress side. */
    egress: SideVerdict;
    /** The destination's ingress side. */
    ingress: SideVerdict;
}

/** The well-known label the API server sets on every namespace to its name. */
const namespaceNameLabel = "kubernetes.io/metadata.name";

/** Whether `labels` satisfy `selector`; an empty selector matches everything. */
export function selectorMatches(selector: LabelSelector, labels: Record<string, string> = {}): boolean {
    const byLabels = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
    const byExpressions = (selector.matchExpressions ?? []).every((r) => {
        const has = Object.prototype.hasOwnProperty.call(labels, r.key);
        switch (r.operator) {
            case "In":
                return has && (r.values ?? []).includes(labels[r.key]);
            case "NotIn":
                return !has || !(r.values ?? []).includes(labels[r.key]);
            case "Exists":
                return has;
            case "DoesNotExist":
                return !has;
            default:
                throw new Error(`unknown selector operator ${JSON.stringify((r as LabelSelectorRequirement).operator)}`);
        }
    });
    return byLabels && byExpressions;
}

/** The rules of one side that admit a pair by their peers, before their ports are looked at. */
type SideRules = { isolated: false } | { isolated: true; rules: { name: string; ports?: NetworkPolicyPort[] }[] };

/**
 * The Kubernetes model of which connections a set of NetworkPolicies allows. Which policies select
 * a pod and which rules' peers match do not depend on the port, and a matrix asks about the same
 * pairs on every port: they are worked out once per pair. Policies and endpoints must therefore not
 * change while a model is in use.
 */
export class Reachability {
    private readonly namespaces: Map<string, Record<string, string>>;
    /** Each pair's egress (source side) and ingress (destination side) rules whose peers match. */
    private readonly pairs = new Map<Endpoint, Map<Endpoint, { egress: SideRules; ingress: SideRules }>>();

    constructor(
        namespaces: readonly Namespace[],
        readonly policies: readonly NetworkPolicy[],
    ) {
        this.namespaces = new Map(namespaces.map((ns) => [ns.name, { ...ns.labels, [namespaceNameLabel]: ns.name }]));
        policies.forEach(validate);
    }

    /** Whether `source` may open a connection to `destination` on `port`/`protocol`, and which rules decided it. */
    check(source: Endpoint, destination: Endpoint, port: number, protocol: Protocol): Verdict {
        // "a pod cannot block access to itself"
        if (source === destination) {
            return { allowed: true, egress: { isolated: false }, ingress: { isolated: false } };
        }
        const pair = this.pair(source, destination);
        // A rule allows traffic that matches both its peers and its ports; an absent or empty list matches everything.
        const onPort = (side: SideRules): SideVerdict =>
            side.isolated
                ? { isolated: true, allowedBy: side.rules.filter((r) => !r.ports || r.ports.length === 0 || r.ports.some((p) => portMatches(p, destination, port, protocol))).map((r) => r.name) }
                : { isolated: false };
        const egress = onPort(pair.egress);
        const ingress = onPort(pair.ingress);
        const allows = (side: SideVerdict) => !side.isolated || side.allowedBy.length > 0;
        return { allowed: allows(egress) && allows(ingress), egress, ingress };
    }

    private pair(source: Endpoint, destination: Endpoint): { egress: SideRules; ingress: SideRules } {
        const bySource = this.pairs.get(source) ?? new Map<Endpoint, { egress: SideRules; ingress: SideRules }>();
        this.pairs.set(source, bySource);
        let pair = bySource.get(destination);
        if (!pair) {
            pair = {
                egress: this.side(source, "Egress", (policy) =>
                    (policy.spec.egress ?? []).flatMap((rule, i) => (this.peersMatch(policy, rule.to, destination) ? [{ name: `${policy.metadata.name} egress[${i}]`, ports: rule.ports }] : [])),
                ),
                ingress: this.side(destination, "Ingress", (policy) =>
                    (policy.spec.ingress ?? []).flatMap((rule, i) => (this.peersMatch(policy, rule.from, source) ? [{ name: `${policy.metadata.name} ingress[${i}]`, ports: rule.ports }] : [])),
                ),
            };
            bySource.set(destination, pair);
        }
        return pair;
    }

    /** An endpoint outside the cluster, or a pod no policy of this direction selects, is unrestricted. */
    private side(pod: Endpoint, type: "Ingress" | "Egress", rules: (policy: NetworkPolicy) => { name: string; ports?: NetworkPolicyPort[] }[]): SideRules {
        if (pod.namespace === undefined) {
            return { isolated: false };
        }
        const selecting = this.policies.filter(
            (p) => p.metadata.namespace === pod.namespace && policyTypes(p).includes(type) && selectorMatches(p.spec.podSelector, pod.labels),
        );
        return selecting.length === 0 ? { isolated: false } : { isolated: true, rules: selecting.flatMap(rules) };
    }

    /** An absent or empty peer list matches everything. */
    private peersMatch(policy: NetworkPolicy, peers: NetworkPolicyPeer[] | undefined, other: Endpoint): boolean {
        return !peers || peers.length === 0 || peers.some((peer) => this.peerMatches(policy, peer, other));
    }

    private peerMatches(policy: NetworkPolicy, peer: NetworkPolicyPeer, endpoint: Endpoint): boolean {
        if (peer.ipBlock) {
            const address = parseIp(endpoint.ip);
            const inBlock = (cidr: string) => address !== undefined && cidrContains(parseCidr(cidr)!, address);
            return inBlock(peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some(inBlock);
        }
        if (endpoint.namespace === undefined) {
            return false;
        }
        // podSelector alone: pods of the policy's own namespace. namespaceSelector (alone or with a
        // podSelector in the same entry): pods of the selected namespaces, further narrowed by the podSelector.
        const namespaceOk = peer.namespaceSelector
            ? selectorMatches(peer.namespaceSelector, this.namespaces.get(endpoint.namespace) ?? { [namespaceNameLabel]: endpoint.namespace })
            : endpoint.namespace === policy.metadata.namespace;
        return namespaceOk && selectorMatches(peer.podSelector ?? {}, endpoint.labels);
    }
}

/** `policyTypes`, or its default: Ingress always, Egress when the policy has egress rules. */
export function policyTypes(policy: NetworkPolicy): ("Ingress" | "Egress")[] {
    return policy.spec.policyTypes ?? ["Ingress", ...((policy.spec.egress ?? []).length > 0 ? (["Egress"] as const) : [])];
}

/** A port entry matches on protocol (default TCP) and on number, range, or a named port of the destination pod. */
function portMatches(entry: NetworkPolicyPort, destination: Endpoint, port: number, protocol: Protocol): boolean {
    if ((entry.protocol ?? "TCP") !== protocol) {
        return false;
    }
    if (entry.port === undefined) {
        return true;
    }
    if (typeof entry.port === "number") {
        return entry.endPort === undefined ? port === entry.port : port >= entry.port && port <= entry.endPort;
    }
    return (destination.ports ?? []).some((p) => p.name === entry.port && p.containerPort === port && (p.protocol ?? "TCP") === protocol);
}

/** Rejects what the API server would reject, so that a test never evaluates an impossible policy. */
function validate(policy: NetworkPolicy): void {
    const where = `NetworkPolicy ${policy.metadata.namespace}/${policy.metadata.name}`;
    const rules = [...(policy.spec.ingress ?? []).map((r) => ({ peers: r.from, ports: r.ports })), ...(policy.spec.egress ?? []).map((r) => ({ peers: r.to, ports: r.ports }))];
    for (const { peers, ports } of rules) {
        for (const peer of peers ?? []) {
            const selectors = peer.podSelector !== undefined || peer.namespaceSelector !== undefined;
            if (peer.ipBlock ? selectors : !selectors) {
                throw new Error(`${where}: a peer needs exactly one of ipBlock or pod/namespace selectors: ${JSON.stringify(peer)}`);
            }
            if (peer.ipBlock && !parseCidr(peer.ipBlock.cidr)) {
                throw new Error(`${where}: ${peer.ipBlock.cidr} is not a CIDR block`);
            }
        }
        for (const p of ports ?? []) {
            if (p.endPort !== undefined && (typeof p.port !== "number" || p.endPort < p.port)) {
                throw new Error(`${where}: endPort needs a numeric port no greater than it: ${JSON.stringify(p)}`);
            }
        }
    }
}
