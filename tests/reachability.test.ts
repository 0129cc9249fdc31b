/**
 * The NetworkPolicy evaluator against hand-written policies, one semantic rule per test. Quotes are from
 * https://kubernetes.io/docs/concepts/services-networking/network-policies/ ("docs") and the
 * networking.k8s.io/v1 API reference ("API"). Then the pods the reachability matrix adds for what an
 * operator runs (analysis/network/operatorPods.ts), for which the program renders no pod template.
 */
import * as assert from "assert";
import { CapturedResource } from "../harness/mockProgram";
import { operatorWorkloads } from "../analysis/network/operatorPods";
import { Endpoint, Namespace, NetworkPolicy, Reachability, selectorMatches } from "../analysis/network/reachability";
import { addressIn } from "../analysis/network/reachabilityMatrix";

const namespaces: Namespace[] = [{ name: "shop", labels: { team: "shop" } }, { name: "tools", labels: { team: "ops", user: "alice" } }, { name: "kube-system" }];

const pod = (name: string, namespace: string, labels: Record<string, string>, ip: string, ports: Endpoint["ports"] = []): Endpoint => ({ name, namespace, labels, ip, ports });
const db = pod("db", "shop", { role: "db" }, "10.0.0.1", [{ name: "postgres", containerPort: 5432 }]);
const web = pod("web", "shop", { role: "web" }, "10.0.0.2", [{ name: "http", containerPort: 8080 }, { name: "metrics", containerPort: 9090 }]);
const web2 = pod("web-2", "shop", { role: "web" }, "10.0.0.3", [{ name: "http", containerPort: 8081 }]);
const toolbox = pod("toolbox", "tools", { role: "web" }, "10.1.0.1");
const client = pod("client", "tools", { role: "client" }, "10.1.0.2");
const dns = pod("dns", "kube-system", { "k8s-app": "kube-dns" }, "10.2.0.1", [
    { name: "dns", containerPort: 53, protocol: "UDP" },
    { name: "dns-tcp", containerPort: 53, protocol: "TCP" },
]);
const internet: Endpoint = { name: "internet", ip: "203.0.113.10" };

const policy = (name: string, namespace: string, spec: NetworkPolicy["spec"]): NetworkPolicy => ({ metadata: { name, namespace }, spec });
const allowed = (policies: NetworkPolicy[], from: Endpoint, to: Endpoint, port: number, protocol: "TCP" | "UDP" = "TCP") =>
    new Reachability(namespaces, policies).check(from, to, port, protocol).allowed;

describe("NetworkPolicy evaluator", () => {
    it("allows everything when no policy selects a pod", () => {
        // docs, Isolated and Non-isolated Pods: "By default, pods are non-isolated; they accept traffic from any source."
        assert.ok(allowed([], client, db, 5432));
        assert.ok(allowed([], db, internet, 443));
        const onlyWeb = policy("web-only", "shop", { podSelector: { matchLabels: { role: "web" } }, policyTypes: ["Ingress"] });
        // "Other pods in the namespace that are not selected by any NetworkPolicy will continue to accept all traffic."
        assert.ok(allowed([onlyWeb], client, db, 5432));
        assert.ok(!allowed([onlyWeb], client, web, 8080));
    });

    it("isolates for ingress only when policyTypes is absent and the policy has no egress rules", () => {
        // docs: "If no policyTypes are specified on a NetworkPolicy then by default Ingress will always be set
        // and Egress will be set if the NetworkPolicy has any egress rules."
        const ingressOnly = policy("deny-db-ingress", "shop", { podSelector: { matchLabels: { role: "db" } } });
        assert.ok(!allowed([ingressOnly], web, db, 5432), "ingress to db is isolated");
        assert.ok(allowed([ingressOnly], db, internet, 443), "egress from db is not");
        const withEgress = policy("db-egress", "shop", { podSelector: { matchLabels: { role: "db" } }, egress: [{ to: [{ ipBlock: { cidr: "198.51.100.0/24" } }] }] });
        assert.ok(!allowed([withEgress], db, internet, 443), "egress rules make the policy an Egress policy too");
        assert.ok(!allowed([withEgress], web, db, 5432), "and it is an Ingress policy regardless");
        const explicitEgressOnly = policy("db-egress-only", "shop", { podSelector: { matchLabels: { role: "db" } }, policyTypes: ["Egress"] });
        assert.ok(allowed([explicitEgressOnly], web, db, 5432), "an explicit Egress-only policy leaves ingress open");
        assert.ok(!allowed([explicitEgressOnly], db, internet, 443));
    });

    it("selects every pod of the policy's namespace, and none elsewhere, with an empty podSelector", () => {
        // docs: "An empty podSelector selects all pods in the namespace."
        const denyAll = policy("default-deny", "shop", { podSelector: {}, policyTypes: ["Ingress", "Egress"] });
        assert.ok(!allowed([denyAll], web, db, 5432));
        assert.ok(!allowed([denyAll], client, web, 8080));
        assert.ok(!allowed([denyAll], db, internet, 443));
        assert.ok(allowed([denyAll], client, toolbox, 80), "pods of other namespaces are not selected");
    });

    it("adds up policies: a connection any selecting policy allows is allowed", () => {
        // docs: "Network policies do not conflict; they are additive ... restricted to what is allowed by the union".
        const denyAll = policy("default-deny", "shop", { podSelector: {}, policyTypes: ["Ingress"] });
        const fromWeb = policy("db-from-web", "shop", { podSelector: { matchLabels: { role: "db" } }, ingress: [{ from: [{ podSelector: { matchLabels: { role: "web" } } }] }] });
        assert.ok(!allowed([denyAll], web, db, 5432));
        assert.ok(allowed([denyAll, fromWeb], web, db, 5432));
        assert.ok(allowed([fromWeb, denyAll], web, db, 5432), "order does not matter");
    });

    it("needs the source's egress AND the destination's ingress", () => {
        // docs: "both the egress policy on the source pod and the ingress policy on the destination pod need to allow the traffic."
        const dbIngress = policy("db-from-web", "shop", { podSelector: { matchLabels: { role: "db" } }, ingress: [{ from: [{ podSelector: { matchLabels: { role: "web" } } }] }] });
        const webEgressToDns = policy("web-egress", "shop", { podSelector: { matchLabels: { role: "web" } }, policyTypes: ["Egress"], egress: [{ to: [{ namespaceSelector: {} }], ports: [{ protocol: "UDP", port: 53 }] }] });
        const verdict = new Reachability(namespaces, [dbIngress, webEgressToDns]).check(web, db, 5432, "TCP");
        assert.deepStrictEqual(verdict.ingress, { isolated: true, allowedBy: ["db-from-web ingress[0]"] });
        assert.deepStrictEqual(verdict.egress, { isolated: true, allowedBy: [] });
        assert.strictEqual(verdict.allowed, false);
        const webEgressToDb = policy("web-to-db", "shop", { podSelector: { matchLabels: { role: "web" } }, egress: [{ to: [{ podSelector: { matchLabels: { role: "db" } } }] }] });
        assert.ok(allowed([dbIngress, webEgressToDns, webEgressToDb], web, db, 5432));
    });

    it("matches a podSelector peer only in the policy's own namespace", () => {
        // docs: "podSelector: This selects particular Pods in the same namespace as the NetworkPolicy".
        const fromWeb = policy("db-from-web", "shop", { podSelector: { matchLabels: { role: "db" } }, ingress: [{ from: [{ podSelector: { matchLabels: { role: "web" } } }] }] });
        assert.ok(allowed([fromWeb], web, db, 5432));
        assert.ok(!allowed([fromWeb], toolbox, db, 5432), "role=web in namespace tools is not a match");
    });

    it("matches every pod of the selected namespaces with a namespaceSelector alone", () => {
        // docs: "namespaceSelector: This selects particular namespaces for which all Pods should be allowed".
        const fromOps = policy("db-from-ops", "shop", { podSelector: { matchLabels: { role: "db" } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: "ops" } } }] }] });
        assert.ok(allowed([fromOps], toolbox, db, 5432));
        assert.ok(allowed([fromOps], client, db, 5432));
        assert.ok(!allowed([fromOps], web, db, 5432), "the policy's own namespace is not team=ops");
    });

    it("ANDs namespaceSelector and podSelector in one entry, and ORs them in two", () => {
        // docs, Behavior of to and from selectors: one element "allowing connections from Pods with the label
        // role=client in namespaces with the label user=alice"; two elements allow "Pods in the local Namespace
        // with the label role=client, or from any Pod in any namespace with the label user=alice".
        const oneEntry = policy("and", "shop", {
            podSelector: { matchLabels: { role: "db" } },
            ingress: [{ from: [{ namespaceSelector: { matchLabels: { user: "alice" } }, podSelector: { matchLabels: { role: "client" } } }] }],
        });
        assert.ok(allowed([oneEntry], client, db, 5432));
        assert.ok(!allowed([oneEntry], toolbox, db, 5432), "right namespace, wrong pod");
        const localClient = pod("local-client", "shop", { role: "client" }, "10.0.0.9");
        assert.ok(!allowed([oneEntry], localClient, db, 5432), "right pod, wrong namespace");
        const twoEntries = policy("or", "shop", {
            podSelector: { matchLabels: { role: "db" } },
            ingress: [{ from: [{ namespaceSelector: { matchLabels: { user: "alice" } } }, { podSelector: { matchLabels: { role: "client" } } }] }],
        });
        assert.ok(allowed([twoEntries], toolbox, db, 5432), "any pod of alice's namespace");
        assert.ok(allowed([twoEntries], localClient, db, 5432), "role=client in the local namespace");
    });

    it("selects a namespace by name through kubernetes.io/metadata.name", () => {
        // docs, Targeting a Namespace by its name: the control plane sets kubernetes.io/metadata.name on every namespace.
        const toDns = policy("to-dns", "shop", {
            podSelector: {},
            policyTypes: ["Egress"],
            egress: [{ to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } }, podSelector: { matchLabels: { "k8s-app": "kube-dns" } } }] }],
        });
        assert.ok(allowed([toDns], web, dns, 53, "UDP"));
        const impostor = pod("impostor", "tools", { "k8s-app": "kube-dns" }, "10.1.0.9", [{ name: "dns", containerPort: 53, protocol: "UDP" }]);
        assert.ok(!allowed([toDns], web, impostor, 53, "UDP"));
    });

    it("evaluates matchExpressions: In, NotIn, Exists, DoesNotExist", () => {
        const labels = { tier: "backend", env: "prod" };
        assert.ok(selectorMatches({ matchExpressions: [{ key: "tier", operator: "In", values: ["backend", "cache"] }] }, labels));
        assert.ok(!selectorMatches({ matchExpressions: [{ key: "tier", operator: "NotIn", values: ["backend"] }] }, labels));
        assert.ok(selectorMatches({ matchExpressions: [{ key: "zone", operator: "NotIn", values: ["a"] }] }, labels), "NotIn holds when the key is absent");
        assert.ok(selectorMatches({ matchExpressions: [{ key: "env", operator: "Exists" }] }, labels));
        assert.ok(!selectorMatches({ matchExpressions: [{ key: "env", operator: "DoesNotExist" }] }, labels));
        assert.ok(!selectorMatches({ matchLabels: { tier: "backend" }, matchExpressions: [{ key: "env", operator: "In", values: ["dev"] }] }, labels), "both parts must hold");
        assert.ok(selectorMatches({}, labels), "an empty selector matches everything");
    });

    it("treats an absent from/to as every source or destination, and absent ports as every port", () => {
        // API: "If this field is empty or missing, this rule matches all sources" / "... all ports".
        const openPorts = policy("open-8080", "shop", { podSelector: { matchLabels: { role: "web" } }, ingress: [{ ports: [{ port: 8080 }] }] });
        assert.ok(allowed([openPorts], client, web, 8080));
        assert.ok(allowed([openPorts], internet, web, 8080), "sources outside the cluster too");
        assert.ok(!allowed([openPorts], client, web, 9090));
        const fromWebAnyPort = policy("from-web", "shop", { podSelector: { matchLabels: { role: "db" } }, ingress: [{ from: [{ podSelector: { matchLabels: { role: "web" } } }] }] });
        assert.ok(allowed([fromWebAnyPort], web, db, 1));
        assert.ok(allowed([fromWebAnyPort], web, db, 65535, "UDP"));
        const noRules = policy("deny", "shop", { podSelector: { matchLabels: { role: "db" } }, ingress: [] });
        assert.ok(!allowed([noRules], web, db, 5432), "an empty rule list allows nothing");
    });

    it("defaults a port's protocol to TCP, and matches every port of a protocol when the port is absent", () => {
        // API, NetworkPolicyPort.protocol: "If not specified, this field defaults to TCP."
        const egress53 = policy("dns", "shop", { podSelector: { matchLabels: { role: "web" } }, policyTypes: ["Egress"], egress: [{ ports: [{ port: 53 }] }] });
        assert.ok(allowed([egress53], web, dns, 53, "TCP"));
        assert.ok(!allowed([egress53], web, dns, 53, "UDP"), "port 53 without a protocol is TCP only");
        const allUdp = policy("udp", "shop", { podSelector: { matchLabels: { role: "web" } }, policyTypes: ["Egress"], egress: [{ ports: [{ protocol: "UDP" }] }] });
        assert.ok(allowed([allUdp], web, dns, 53, "UDP"));
        assert.ok(allowed([allUdp], web, internet, 4500, "UDP"));
        assert.ok(!allowed([allUdp], web, dns, 53, "TCP"));
    });

    it("resolves a named port against the destination pod's container ports", () => {
        // API, NetworkPolicyPort.port: "This can either be a numerical or named port on a pod."
        const httpByName = policy("http", "shop", { podSelector: { matchLabels: { role: "web" } }, ingress: [{ ports: [{ port: "http" }] }] });
        assert.ok(allowed([httpByName], client, web, 8080));
        assert.ok(allowed([httpByName], client, web2, 8081), "each pod's own number for the name");
        assert.ok(!allowed([httpByName], client, web2, 8080));
        assert.ok(!allowed([httpByName], client, web, 9090), "another named port");
        const dnsByName = policy("dns-name", "shop", { podSelector: { matchLabels: { role: "web" } }, policyTypes: ["Egress"], egress: [{ ports: [{ port: "dns", protocol: "UDP" }] }] });
        assert.ok(allowed([dnsByName], web, dns, 53, "UDP"), "egress: the name is looked up on the destination");
        assert.ok(!allowed([dnsByName], web, internet, 53, "UDP"), "a host outside the cluster has no named ports");
        const wrongProtocol = policy("dns-tcp-name", "shop", { podSelector: { matchLabels: { role: "web" } }, policyTypes: ["Egress"], egress: [{ ports: [{ port: "dns" }] }] });
        assert.ok(!allowed([wrongProtocol], web, dns, 53, "TCP"), "the name dns is a UDP port; the rule asks for TCP");
    });

    it("allows a port range with endPort", () => {
        // docs, Targeting a range of ports: "port: 32000, endPort: 32768" allows the range inclusive.
        const range = policy("range", "shop", { podSelector: { matchLabels: { role: "db" } }, policyTypes: ["Egress"], egress: [{ ports: [{ protocol: "TCP", port: 32000, endPort: 32768 }] }] });
        assert.ok(allowed([range], db, internet, 32000));
        assert.ok(allowed([range], db, internet, 32768));
        assert.ok(!allowed([range], db, internet, 32769));
        assert.throws(() => new Reachability(namespaces, [policy("bad", "shop", { podSelector: {}, egress: [{ ports: [{ port: "http", endPort: 9000 }] }] })]), /endPort/);
    });

    it("matches ipBlock by address, minus its exceptions", () => {
        // docs: "IP addresses in the ranges 172.17.0.0–172.17.0.255 and 172.17.2.0–172.17.255.255 (ie, all of 172.17.0.0/16 except 172.17.1.0/24)".
        const block = policy("block", "shop", {
            podSelector: { matchLabels: { role: "db" } },
            ingress: [{ from: [{ ipBlock: { cidr: "172.17.0.0/16", except: ["172.17.1.0/24"] } }] }],
        });
        const host = (ip: string): Endpoint => ({ name: ip, ip });
        assert.ok(allowed([block], host("172.17.0.5"), db, 5432));
        assert.ok(allowed([block], host("172.17.2.5"), db, 5432));
        assert.ok(!allowed([block], host("172.17.1.5"), db, 5432));
        assert.ok(!allowed([block], host("172.18.0.5"), db, 5432));
        const v6 = policy("v6", "shop", { podSelector: { matchLabels: { role: "db" } }, policyTypes: ["Egress"], egress: [{ to: [{ ipBlock: { cidr: "2001:db8::/32" } }] }] });
        assert.ok(allowed([v6], db, host("2001:db8:1::1"), 443));
        assert.ok(!allowed([v6], db, host("2001:db9::1"), 443));
    });

    it("always lets a pod reach itself", () => {
        // docs: "a pod cannot block access to itself".
        const denyAll = policy("default-deny", "shop", { podSelector: {}, policyTypes: ["Ingress", "Egress"] });
        assert.ok(allowed([denyAll], web, web, 8080));
        assert.ok(!allowed([denyAll], web, web2, 8081));
    });

    it("rejects a peer the API server would reject", () => {
        // API, NetworkPolicyPeer.ipBlock: "If this field is set then neither of the other fields can be."
        const both = policy("both", "shop", { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: "10.0.0.0/8" }, podSelector: {} }] }] });
        assert.throws(() => new Reachability(namespaces, [both]), /exactly one of ipBlock/);
        const none = policy("none", "shop", { podSelector: {}, ingress: [{ from: [{}] }] });
        assert.throws(() => new Reachability(namespaces, [none]), /exactly one of ipBlock/);
    });
});

describe("the pods an operator runs (analysis/network/operatorPods.ts)", () => {
    const resource = (type: string, name: string, spec: any): CapturedResource => ({
        type,
        name,
        inputs: { metadata: { name, namespace: "shop", labels: { "app.kubernetes.io/managed-by": "pulumi" } }, spec },
        provider: "",
        custom: true,
        options: { protect: false, retainOnDelete: false, ignoreChanges: [], dependsOn: [] },
    });
    const cluster = (spec: any) => resource("kubernetes:postgresql.cnpg.io/v1:Cluster", "db", { imageName: "ghcr.io/cloudnative-pg/postgresql:17.6-standard-trixie", ...spec });
    const pooler = resource("kubernetes:postgresql.cnpg.io/v1:Pooler", "db-pooler", {
        cluster: { name: "db" },
        template: { metadata: { labels: { "app.kubernetes.io/name": "mine", team: "shop" } }, spec: { containers: [] } },
    });

    it("labels a Cluster's instances, Jobs and PgBouncer pods as CloudNativePG does, with their container ports", () => {
        const [instances, jobs, bouncers] = operatorWorkloads([cluster({ instances: 3, inheritedMetadata: { labels: { team: "shop" } } }), pooler]);
        assert.deepStrictEqual([instances.role, jobs.role, bouncers.role], ["postgres", "pg-jobs", "pg-pooler"]);
        assert.deepStrictEqual(instances.pods[0].labels, {
            team: "shop",
            "cnpg.io/cluster": "db",
            "cnpg.io/instanceName": "db-1",
            "cnpg.io/podRole": "instance",
            "cnpg.io/instanceRole": "primary",
            role: "primary",
            "app.kubernetes.io/name": "postgresql",
            "app.kubernetes.io/instance": "db",
            "app.kubernetes.io/version": "17",
            "app.kubernetes.io/component": "database",
            "app.kubernetes.io/managed-by": "cloudnative-pg",
        });
        assert.strictEqual(instances.pods[1].labels["cnpg.io/instanceRole"], "replica");
        assert.deepStrictEqual(instances.pods[0].ports.map((p) => `${p.name}=${p.containerPort}`), ["postgresql=5432", "metrics=9187", "status=8000"]);
        // Jobs: the instance's labels without cnpg.io/podRole, and their role.
        assert.deepStrictEqual(jobs.pods.map((p) => [p.labels["cnpg.io/jobRole"], p.labels["cnpg.io/podRole"], p.labels["cnpg.io/cluster"]]), [
            ["initdb", undefined, "db"],
            ["join", undefined, "db"],
        ]);
        // PgBouncer: the template's labels, the operator's own over them.
        assert.deepStrictEqual(bouncers.pods[0].labels, {
            "app.kubernetes.io/name": "postgresql",
            team: "shop",
            "cnpg.io/poolerName": "db-pooler",
            "cnpg.io/cluster": "db",
            "cnpg.io/podRole": "pooler",
            "app.kubernetes.io/instance": "db",
            "app.kubernetes.io/component": "pooler",
            "app.kubernetes.io/managed-by": "cloudnative-pg",
        });
        assert.deepStrictEqual(bouncers.pods[0].ports.map((p) => `${p.name}=${p.containerPort}`), ["pgbouncer=5432", "metrics=9127"]);
    });

    it("runs no join Job for a single instance, and an import Job for an import bootstrap", () => {
        const [, single] = operatorWorkloads([cluster({ instances: 1 })]);
        assert.deepStrictEqual(single.pods.map((p) => p.labels["cnpg.io/jobRole"]), ["initdb", "initdb"]);
        const [, imported] = operatorWorkloads([cluster({ instances: 2, bootstrap: { initdb: { import: { type: "microservice" } } } })]);
        assert.deepStrictEqual(imported.pods.map((p) => p.labels["cnpg.io/jobRole"]), ["import", "join"]);
        assert.deepStrictEqual(operatorWorkloads([resource("kubernetes:apps/v1:Deployment", "web", { template: { spec: { containers: [] } } })]), []);
    });

    it("places a host inside each block a stack names", () => {
        assert.strictEqual(addressIn("198.51.100.0/24"), "198.51.100.10");
        assert.strictEqual(addressIn("192.0.2.7/32"), "192.0.2.7");
        assert.strictEqual(addressIn("192.0.2.8/30"), "192.0.2.11");
        assert.strictEqual(addressIn("2001:db8::/32"), "2001:db8:0:0:0:0:0:a");
    });

    it("selects the operator's Job pods by a label key with Exists, and not the instances", () => {
        const initdb = pod("initdb", "shop", { "cnpg.io/cluster": "db", "cnpg.io/jobRole": "initdb" }, "10.0.0.20");
        const instance = pod("db-1", "shop", { "cnpg.io/cluster": "db", "cnpg.io/podRole": "instance" }, "10.0.0.21", [{ name: "postgresql", containerPort: 5432 }]);
        const jobsEgress = policy("jobs", "shop", {
            podSelector: { matchLabels: { "cnpg.io/cluster": "db" }, matchExpressions: [{ key: "cnpg.io/jobRole", operator: "Exists" }] },
            policyTypes: ["Egress"],
            egress: [{ to: [{ ipBlock: { cidr: "10.0.0.1/32" } }], ports: [{ port: 6443 }] }],
        });
        const apiServer: Endpoint = { name: "api-server", ip: "10.0.0.1" };
        assert.ok(allowed([jobsEgress], initdb, apiServer, 6443));
        assert.ok(!allowed([jobsEgress], initdb, instance, 5432), "the Jobs' policy isolates their egress");
        assert.ok(allowed([jobsEgress], instance, internet, 443), "the instances are not selected by it");
    });
});
