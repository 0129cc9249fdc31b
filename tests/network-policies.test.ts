/**
 * What the program's NetworkPolicies allow, per shipped stack, computed with the evaluator in
 * analysis/network/reachability.ts (unit-tested on its own) over the program's real pod templates, the
 * pods CloudNativePG runs for the program's Cluster and Pooler (analysis/network/operatorPods.ts), and a
 * cast of pods and hosts around them (analysis/network/reachabilityMatrix.ts). The expectation below is
 * written by hand from what the application needs; everything else among the roles must be denied.
 */
import * as assert from "assert";
import { isDeepStrictEqual } from "util";
import * as pulumi from "@pulumi/pulumi";
import { NetworkSecurity, NetworkSecurityArgs } from "../components/networkSecurity";
import { ComponentArgsError } from "../lib/args";
import { tcp } from "../lib/endpoints";
import { mockApiServer, ProgramRun, runStack } from "../harness/mockProgram";
import { NetworkPolicy } from "../analysis/network/reachability";
import { allowedFlows, Matrix, reachabilityMatrix, renderMatrix, stackGateway, stackHosts, Universe, universeOf } from "../analysis/network/reachabilityMatrix";
import { shippedStacks, stackConfig, onStatefulSetEngine } from "../harness/stackConfig";

const namespace = "healthcare-backend";
const policyType = "kubernetes:networking.k8s.io/v1:NetworkPolicy";

/** Every role outside the namespace (pods elsewhere, hosts outside the cluster): the seed opens the API's health port to all of them. */
const outsideSources = (universe: Universe) => universe.roles.filter((r) => r.pods.every((p) => p.namespace !== namespace)).map((r) => r.name);

/** The stack on the statefulset engine with scheduled backups: staging's shape, one server, no operator. */

/** What a stack's raw config (as `pulumi up` hands it over) says about the connections that depend on settings. */
interface Needs {
    /** Who carries clients' requests to the API: the Gateway's Envoy pods, or the ingress controller; undefined: the API is not published. */
    entry?: "gateway" | "ingress-ctl";
    /** cert-manager answers HTTP-01 challenges from solver pods in the namespace. */
    acmeSolver: boolean;
    /** The DNS roles the resolving pods query. */
    dns: string[];
    /** PostgreSQL is a CloudNativePG Cluster (the operator runs its instances, Jobs and PgBouncer) rather than one StatefulSet. */
    cloudNativePg: boolean;
    /** The API connects through PgBouncer (a Pooler). */
    pooler: boolean;
    /** The roles of the object store's hosts (postgresBackupS3Egress), one per entry. */
    objectStores: string[];
}

function needsOf(config: Record<string, string>, stack: string): Needs {
    const get = (key: string) => config[`healthcare-backend:${key}`] ?? "";
    const issuer = get("ingressClusterIssuer");
    const cloudNativePg = get("postgresEngine") === "cloudnative-pg";
    const published = get("ingressEnabled") === "true";
    const byIngress = get("apiExposure") === "ingress";
    return {
        entry: published ? (byIngress ? "ingress-ctl" : "gateway") : undefined,
        // TLS through an ACME issuer (not the stack's own self-signed one) that uses HTTP-01, for a
        // certificate in the namespace: the Ingress's, or that of the Gateway the stack creates there.
        acmeSolver:
            published &&
            get("ingressTlsEnabled") === "true" &&
            issuer !== "" &&
            issuer !== get("selfSignedClusterIssuer") &&
            get("ingressAcmeChallenge") === "http01" &&
            (byIngress || get("gatewayClassName") !== ""),
        dns: [...(get("clusterDnsNamespace") === "kube-system" && get("clusterDnsPodSelector") === "k8s-app=kube-dns" ? ["kube-dns"] : []), ...(get("clusterDnsCidrs") === "169.254.20.10/32" ? ["node-local-dns"] : [])],
        cloudNativePg,
        pooler: cloudNativePg && Number(get("postgresPoolerInstances")) > 0,
        objectStores: stackHosts(config, stack).map((h) => h.name),
    };
}

type Need = [from: string, to: string, ports: string[]];

/**
 * The connections the application needs, by the destination's port names. When a workload gains a
 * metrics port (exporter sidecars), add `["prometheus", "<workload>", ["<port name>"]]` here.
 */
const needed = (needs: Needs, outside: string[]): Need[] => [
    // Patients and clinics reach the API only through the Gateway's Envoy pods (or the ingress controller).
    ...(needs.entry ? [[needs.entry, "api", ["http"]] as Need] : []),
    // Prometheus scrapes the metrics ports (the API's, PostgreSQL's and PgBouncer's, the Redis exporter's) and nothing else.
    ["prometheus", "api", ["metrics"]],
    ["prometheus", "postgres", ["metrics"]],
    ...(needs.pooler ? [["prometheus", "pg-pooler", ["metrics"]] as Need] : []),
    ["prometheus", "redis", ["metrics"]],
    // Health checks from anywhere (the seed); pods inside the namespace are held back by their own egress.
    ...outside.map((source): Need => [source, "api", ["health"]]),
    ...(needs.cloudNativePg ? cloudNativePgNeeds(needs) : statefulSetNeeds(needs)),
    // Cluster clients follow MOVED redirects: the API and the maintenance Jobs reach every node's data port.
    ["api", "redis", ["redis"]],
    ["redis-jobs", "redis", ["redis"]],
    // Nodes replicate over the data port and gossip over the cluster bus.
    ["redis", "redis", ["redis", "cluster-bus"]],
    // Those that resolve names, over UDP and TCP, to the cluster DNS only.
    ...needs.dns.flatMap((dns): Need[] => [
        ["api", dns, ["dns", "dns-tcp"]],
        ["redis-jobs", dns, ["dns", "dns-tcp"]],
        // Redis nodes: their peers' pod names at start.
        ["redis", dns, ["dns", "dns-tcp"]],
        // The backup pods (and the list and restore Jobs npm run ops builds from them), where backups
        // run: names (the database's Service, the object store's endpoint).
        ["pg-backup", dns, ["dns", "dns-tcp"]],
        // CloudNativePG's instances (the standbys the primary's Service, the plugin the object store's
        // endpoint), PgBouncer (the primary's Service) and the join Job (the primary's Service).
        ...(needs.cloudNativePg ? ["postgres", ...(needs.pooler ? ["pg-pooler"] : []), "pg-jobs"].map((from): Need => [from, dns, ["dns", "dns-tcp"]]) : []),
    ]),
    // The ACME server's HTTP-01 request, proxied the same way to cert-manager's solver pod.
    ...(needs.entry && needs.acmeSolver ? [[needs.entry, "acme-solver", ["http"]] as Need] : []),
];

/** One server on a StatefulSet: only the API and the backup pods reach it, and it reaches nothing. */
const statefulSetNeeds = (needs: Needs): Need[] => [
    ["api", "postgres", ["postgres"]],
    ["pg-backup", "postgres", ["postgres"]],
    // The dumps go to object storage when the stack names one.
    ...needs.objectStores.map((store): Need => ["pg-backup", store, [store]]),
];

/** A CloudNativePG Cluster: PgBouncer in front, instances that replicate, the operator, its Jobs, the API server, object storage. */
const cloudNativePgNeeds = (needs: Needs): Need[] => [
    // The API's connections go through PgBouncer, which holds the server connections.
    ...(needs.pooler
        ? ([
              ["api", "pg-pooler", ["pgbouncer"]],
              ["pg-pooler", "postgres", ["postgresql"]],
          ] as Need[])
        : [["api", "postgres", ["postgresql"]] as Need]),
    // Streaming replication (standbys through the primary's Service), and each instance manager asks
    // the others' status port (the primary's isolation check).
    ["postgres", "postgres", ["postgresql", "status"]],
    // The operator asks each instance manager for its state; it opens no PostgreSQL connection.
    ["cnpg-operator", "postgres", ["status"]],
    // The join Job copies the primary with pg_basebackup before a standby starts.
    ["pg-jobs", "postgres", ["postgresql"]],
    // Every instance manager (the Barman Cloud sidecar too), PgBouncer's and the Jobs' read the Cluster, Secrets and leases.
    ...["postgres", ...(needs.pooler ? ["pg-pooler"] : []), "pg-jobs"].map((from): Need => [from, "api-server", ["https"]]),
    // The plugin in each instance archives WAL and base backups to object storage.
    ...needs.objectStores.map((store): Need => ["postgres", store, [store]]),
];

/** Roles a stack may not have: the backup pods exist only on the statefulset engine where postgresBackupSchedule is set. */
const optionalRoles = ["pg-backup"];

/** `needed`, with port names resolved against the destination's container ports. */
function expectedFlows(universe: Universe, needs: Needs): string[] {
    return needed(needs, outsideSources(universe))
        .filter(([from, to]) => ![from, to].some((role) => optionalRoles.includes(role) && !universe.roles.some((r) => r.name === role)))
        .flatMap(([from, to, portNames]) => {
            const role = universe.roles.find((r) => r.name === to);
            assert.ok(role && universe.roles.some((r) => r.name === from), `roles ${from} and ${to} exist`);
            return portNames.map((portName) => {
                const port = role.pods[0].ports?.find((p) => p.name === portName);
                assert.ok(port, `${to} has a port named ${portName}`);
                return `${from} -> ${to} ${port.containerPort}/${port.protocol ?? "TCP"}`;
            });
        })
        .sort();
}

/** What the matrix allows that it should not, and what it misses. */
function compare(matrix: Matrix, expected: string[]): { unexpected: string[]; missing: string[] } {
    const actual = allowedFlows(matrix);
    return { unexpected: actual.filter((f) => !expected.includes(f)), missing: expected.filter((f) => !actual.includes(f)) };
}

const policiesOf = (run: ProgramRun): NetworkPolicy[] => run.ofType(policyType).map((r) => r.inputs);

/** One way to remove a single allow: a whole policy, one rule, or one peer or port of a rule that has several. */
interface Ablation {
    removed: string;
    policies: NetworkPolicy[];
    /** Removing an allow may only take connections away; removing a whole policy (default deny) may add some. */
    onlyNarrows: boolean;
}

function ablations(policies: NetworkPolicy[]): Ablation[] {
    const result: Ablation[] = [];
    policies.forEach((policy, i) => {
        const name = policy.metadata.name;
        result.push({ removed: `policy ${name}`, policies: policies.filter((_, j) => j !== i), onlyNarrows: false });
        for (const direction of ["ingress", "egress"] as const) {
            (policy.spec[direction] ?? []).forEach((rule: any, r: number) => {
                const edited = (change: (copy: NetworkPolicy) => void): NetworkPolicy[] =>
                    policies.map((p, j) => {
                        if (j !== i) return p;
                        const copy = structuredClone(p);
                        change(copy);
                        return copy;
                    });
                const where = `${name} ${direction}[${r}]`;
                result.push({ removed: where, policies: edited((c) => (c.spec[direction] as unknown[]).splice(r, 1)), onlyNarrows: true });
                // Removing the only peer or port would widen the rule (empty means all): that is the rule's own ablation above.
                const peersKey = direction === "ingress" ? "from" : "to";
                for (const [key, entries] of [[peersKey, rule[peersKey]], ["ports", rule.ports]] as const) {
                    if ((entries?.length ?? 0) > 1) {
                        entries.forEach((entry: unknown, k: number) =>
                            result.push({
                                removed: `${where}.${key}[${k}] ${JSON.stringify(entry)}`,
                                policies: edited((c) => (c.spec[direction] as any[])[r][key].splice(k, 1)),
                                onlyNarrows: true,
                            }),
                        );
                    }
                }
            });
        }
    });
    return result;
}

/** Asserts that removing any one piece of `policies` changes the matrix (and that removing an allow only narrows it); returns what each removal did. */
function assertEveryAllowNeeded(universe: Universe, policies: NetworkPolicy[], expected: string[]): string[] {
    const lines: string[] = [];
    for (const ablation of ablations(policies)) {
        const { unexpected, missing } = compare(reachabilityMatrix(universe, ablation.policies), expected);
        assert.ok(missing.length + unexpected.length > 0, `removing ${ablation.removed} changes nothing: it is dead weight or too broad`);
        if (ablation.onlyNarrows) {
            assert.ok(missing.length > 0 && unexpected.length === 0, `removing ${ablation.removed}: missing ${missing}, unexpected ${unexpected}`);
        }
        lines.push(`${ablation.removed}: ${missing.length > 0 ? `loses ${missing[0]}` : `opens ${unexpected[0]}`}${missing.length + unexpected.length > 1 ? ` (+${missing.length + unexpected.length - 1})` : ""}`);
    }
    return lines;
}

/** The universe of a stack's run: the program's pods, the operator's, the cast, and the hosts its config names. */
const universeFor = (run: ProgramRun, config: Record<string, string>, stack: string) =>
    universeOf(run, namespace, { hosts: stackHosts(config, stack), gateway: stackGateway(config, stack) });

/** The labels of a role's pods. */
const labelsOf = (universe: Universe, role: string) => universe.roles.find((r) => r.name === role)?.pods.map((p) => p.labels) ?? [];

describe("NetworkSecurity: what the shipped stacks' NetworkPolicies allow", () => {
    for (const stack of shippedStacks) {
        describe(`Pulumi.${stack}.yaml`, () => {
            let run: ProgramRun;
            let universe: Universe;
            const config = stackConfig(stack);
            const needs = needsOf(config, stack);
            before(async () => {
                run = await runStack(config, stack);
                universe = universeFor(run, config, stack);
            });

            if (stack === "local") {
                it("has one PostgreSQL StatefulSet and no backup pods (no schedule), no operator's pods", () => {
                    assert.deepStrictEqual(universe.roles.find((r) => r.name === "postgres")?.description, "StatefulSet/postgres");
                    for (const role of ["pg-backup", "pg-pooler", "pg-jobs", "cnpg-operator", "object-store"]) {
                        assert.ok(!universe.roles.some((r) => r.name === role), role);
                    }
                });
            } else {
                it("has the pods CloudNativePG runs for the Cluster and the Pooler (no template of the program's), and no backup CronJob's", () => {
                    // Labelled as the operator labels them; the policies must not care which instance is the primary.
                    assert.deepStrictEqual(
                        labelsOf(universe, "postgres").map((l) => [l!["cnpg.io/cluster"], l!["cnpg.io/podRole"], l!["cnpg.io/instanceRole"]]),
                        [
                            ["postgres", "instance", "primary"],
                            ["postgres", "instance", "replica"],
                        ],
                    );
                    assert.deepStrictEqual(
                        labelsOf(universe, "pg-pooler").map((l) => [l!["cnpg.io/poolerName"], l!["cnpg.io/cluster"], l!["cnpg.io/podRole"]]),
                        [
                            ["postgres-pooler", "postgres", "pooler"],
                            ["postgres-pooler", "postgres", "pooler"],
                        ],
                    );
                    assert.deepStrictEqual(
                        labelsOf(universe, "pg-jobs").map((l) => [l!["cnpg.io/cluster"], l!["cnpg.io/jobRole"], l!["cnpg.io/podRole"]]),
                        [
                            ["postgres", "initdb", undefined],
                            ["postgres", "join", undefined],
                        ],
                    );
                    assert.ok(!universe.roles.some((r) => r.name === "pg-backup"));
                    // The partial template in the Pooler is the operator's to complete: no role of its own.
                    assert.ok(!universe.roles.some((r) => r.description.includes("Pooler/postgres-pooler") && r.name !== "pg-pooler"));
                    assert.deepStrictEqual(needs.objectStores, ["object-store"]);
                });
            }

            it("allows exactly the connections the application needs, and denies every other pair (matrix printed)", () => {
                const matrix = reachabilityMatrix(universe, policiesOf(run));
                console.log(`\n      Reachability in stack ${stack}:\n${renderMatrix(universe, matrix).replace(/^/gm, "      ")}\n`);
                assert.deepStrictEqual(compare(matrix, expectedFlows(universe, needs)), { unexpected: [], missing: [] });
            });

            it("needs every allow: removing any one policy, rule, peer or port changes the matrix", function () {
                this.timeout(120000);
                const lines = assertEveryAllowNeeded(universe, policiesOf(run), expectedFlows(universe, needs));
                assert.ok(lines.length >= 20, `${lines.length} ablations`);
                if (stack === "production") {
                    console.log(`\n      Removing one piece at a time (production):\n${lines.map((l) => `        ${l}`).join("\n")}\n`);
                }
            });

            it("creates every object of the namespace after the default deny, so no pod starts unrestricted", () => {
                const denyUrn = /\$kubernetes:networking\.k8s\.io\/v1:NetworkPolicy::default-deny-all$/;
                const namespaced = run.resources.filter((r) => r.custom && r.type.startsWith("kubernetes:") && r.inputs.metadata?.namespace === namespace);
                const others = namespaced.filter((r) => r.name !== "default-deny-all");
                assert.ok(others.length > 10 && others.length === namespaced.length - 1);
                for (const resource of others) {
                    assert.ok(resource.options.dependsOn.some((urn) => denyUrn.test(urn)), `${resource.type} ${resource.name} waits for default-deny-all`);
                }
            });

            it("writes no rule that allows every port, and opens a rule to every source only on health ports", () => {
                const api = run.get("kubernetes:apps/v1:Deployment", "healthcare-api").inputs.spec.template.spec.containers[0];
                const healthPorts = api.ports.filter((p: any) => p.name === "health").map((p: any) => p.containerPort);
                for (const policy of policiesOf(run)) {
                    for (const rule of [...(policy.spec.ingress ?? []), ...(policy.spec.egress ?? [])] as any[]) {
                        assert.ok(rule.ports?.length > 0, `${policy.metadata.name}: a rule without ports allows every port`);
                        const peers = rule.from ?? rule.to;
                        if (!peers) {
                            assert.deepStrictEqual(rule.ports.map((p: any) => p.port), healthPorts, `${policy.metadata.name}: only the health port is open to every source`);
                        }
                    }
                }
            });
        });
    }

    describe("settings", () => {
        const flowsWith = async (overrides: Record<string, unknown>, stack = "local") => {
            const config = stackConfig(stack, overrides);
            const run = await runStack(config, stack);
            const universe = universeFor(run, config, stack);
            const policies = policiesOf(run);
            return { flows: allowedFlows(reachabilityMatrix(universe, policies)), expected: expectedFlows(universe, needsOf(config, stack)), policies, universe };
        };

        it("runs the backup CronJob's pods on the statefulset engine with a schedule (staging's backups): exactly what they need, each allow needed", async function () {
            this.timeout(120000);
            const { flows, expected, policies, universe } = await flowsWith(onStatefulSetEngine, "staging");
            assert.ok(universe.roles.some((r) => r.name === "pg-backup" && r.description === "CronJob/postgres-backup"));
            assert.ok(!universe.roles.some((r) => ["pg-pooler", "pg-jobs", "cnpg-operator"].includes(r.name)), "no operator's pods");
            assert.deepStrictEqual({ unexpected: flows.filter((f) => !expected.includes(f)), missing: expected.filter((f) => !flows.includes(f)) }, { unexpected: [], missing: [] });
            for (const flow of ["pg-backup -> postgres 5432/TCP", "pg-backup -> object-store 443/TCP", "pg-backup -> kube-dns 53/UDP"]) {
                assert.ok(expected.includes(flow), flow);
            }
            // The server reaches nothing, the API server included.
            assert.deepStrictEqual(flows.filter((f) => f.startsWith("postgres -> ")), []);
            assert.ok(assertEveryAllowNeeded(universe, policies, expected).length >= 20);
        });

        it("lets the API, and nothing else, reach the external destinations apiExternalEgress lists", async () => {
            // The cast's internet hosts are in 203.0.113.0/24.
            const { flows, expected } = await flowsWith({ apiExternalEgress: "203.0.113.0/24:443, 198.51.100.0/24:8443" });
            assert.deepStrictEqual(
                flows.filter((f) => !expected.includes(f)),
                ["api -> internet 443/TCP"],
            );
            assert.deepStrictEqual(expected.filter((f) => !flows.includes(f)), []);
        });

        it("lets the backup pods, and nothing else, reach the object store postgresBackupS3Egress names", async () => {
            const { flows, expected, universe } = await flowsWith({
                postgresBackupSchedule: "0 * * * *",
                postgresBackupS3Endpoint: "https://192.0.2.10:9000",
                postgresBackupS3Bucket: "clinic-backups",
                postgresBackupS3CredentialsSecret: "backup-s3",
                postgresBackupS3Egress: "192.0.2.0/24:9000",
            });
            assert.deepStrictEqual(universe.roles.find((r) => r.name === "object-store")?.pods.map((p) => `${p.ip}:${p.ports![0].containerPort}`), ["192.0.2.10:9000", "192.0.2.10:9000"]);
            assert.deepStrictEqual(flows.filter((f) => !expected.includes(f)), []);
            assert.deepStrictEqual(expected.filter((f) => !flows.includes(f)), []);
            assert.deepStrictEqual(
                flows.filter((f) => / -> object-store /.test(f)),
                ["pg-backup -> object-store 9000/TCP"],
            );
            assert.ok(expected.includes("pg-backup -> postgres 5432/TCP"));
        });

        it("lets CloudNativePG's instances, and nothing else, reach the object store and the API server's address; the operator only on the status port", async () => {
            const { flows, expected, policies } = await flowsWith({}, "production");
            assert.deepStrictEqual(flows.filter((f) => / -> object-store /.test(f)), ["postgres -> object-store 443/TCP"]);
            assert.deepStrictEqual(flows.filter((f) => / -> api-server /.test(f)), [
                `pg-jobs -> api-server ${mockApiServer.port}/TCP`,
                `pg-pooler -> api-server ${mockApiServer.port}/TCP`,
                `postgres -> api-server ${mockApiServer.port}/TCP`,
            ]);
            // The operator's code dials the instance manager's status port only (see docs/network-security.md).
            assert.deepStrictEqual(flows.filter((f) => f.startsWith("cnpg-operator -> ") && !f.startsWith("cnpg-operator -> api ")), ["cnpg-operator -> postgres 8000/TCP"]);
            for (const lookalike of ["cnpg-plugin", "fake-cnpg", "random-pod", "other-ns"]) {
                assert.deepStrictEqual(flows.filter((f) => f.startsWith(`${lookalike} -> postgres`) || f.startsWith(`${lookalike} -> pg-`)), [], lookalike);
            }
            // The API server's egress sits in policies of its own, built from the addresses read at deploy time.
            const apiServerPolicies = policies.filter((p) => p.metadata.name.endsWith("-kubernetes-api"));
            assert.deepStrictEqual(apiServerPolicies.map((p) => p.metadata.name).sort(), ["allow-postgres-jobs-kubernetes-api", "allow-postgres-kubernetes-api", "allow-postgres-pooler-kubernetes-api"]);
            for (const p of apiServerPolicies) {
                assert.deepStrictEqual(p.spec.egress, [{ to: [{ ipBlock: { cidr: `${mockApiServer.address}/32` } }], ports: [{ protocol: "TCP", port: mockApiServer.port }] }]);
            }
            assert.deepStrictEqual(expected.filter((f) => !flows.includes(f)), []);
        });

        it("selects the operator's Job pods of every Cluster by cnpg.io/jobRole, which the servers' selector (cnpg.io/podRole=instance, every Cluster's) misses", async () => {
            const { policies } = await flowsWith({}, "staging");
            const jobs = policies.find((p) => p.metadata.name === "allow-postgres-jobs")!;
            assert.deepStrictEqual(jobs.spec.podSelector, {
                matchLabels: {},
                matchExpressions: [
                    { key: "cnpg.io/cluster", operator: "Exists" },
                    { key: "cnpg.io/jobRole", operator: "Exists" },
                ],
            });
            assert.deepStrictEqual(jobs.spec.policyTypes, ["Egress"]);
            const servers = policies.find((p) => p.metadata.name === "allow-postgres")!;
            // A point-in-time recovery's Cluster beside the serving one is under the same policy.
            assert.deepStrictEqual(servers.spec.podSelector, { matchLabels: { "cnpg.io/podRole": "instance" } });
            assert.ok(
                servers.spec.ingress!.some((r) => isDeepStrictEqual(r, { from: [{ podSelector: jobs.spec.podSelector }], ports: [{ protocol: "TCP", port: 5432 }] })),
                "the servers admit the Jobs on 5432",
            );
        });

        it("closes the API's http port when the API is not published", async () => {
            const { flows, expected } = await flowsWith({ ingressEnabled: false });
            assert.deepStrictEqual(flows.filter((f) => f.endsWith("-> api 8080/TCP")), []);
            assert.deepStrictEqual(flows, expected);
        });

        it("admits the Envoy pods of the stack's Gateway only: not another Gateway's, not Envoy Gateway's controller, not the retired ingress-nginx", async () => {
            for (const stack of shippedStacks) {
                const { flows } = await flowsWith({}, stack);
                const toApi = flows.filter((f) => f.endsWith("-> api 8080/TCP"));
                assert.deepStrictEqual(toApi, ["gateway -> api 8080/TCP"], stack);
            }
            // Envoy Gateway's labels alone (the default selector): every Gateway's Envoy pods of that namespace.
            const anyGateway = await flowsWith({ gatewayPodSelector: "app.kubernetes.io/name=envoy,app.kubernetes.io/component=proxy" });
            assert.deepStrictEqual(anyGateway.flows.filter((f) => f.endsWith("-> api 8080/TCP")), ["gateway -> api 8080/TCP", "other-gateway -> api 8080/TCP"]);
        });

        it("with an Ingress, admits the ingress controller the settings name in place of the Gateway's pods", async () => {
            const onIngress = { apiExposure: "ingress", ingressClassName: "nginx", ingressControllerNamespace: "ingress-nginx" };
            const selected = await flowsWith({ ...onIngress, ingressControllerPodSelector: "app.kubernetes.io/name=ingress-nginx,app.kubernetes.io/component=controller" });
            assert.deepStrictEqual(selected.flows.filter((f) => f.endsWith("-> api 8080/TCP")), ["ingress-ctl -> api 8080/TCP"]);
            assert.deepStrictEqual(compare(reachabilityMatrix(selected.universe, selected.policies), selected.expected), { unexpected: [], missing: [] });
            assert.deepStrictEqual(selected.policies.find((p) => p.metadata.name === "allow-healthcare-api")!.spec.ingress![0].from, [
                {
                    namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "ingress-nginx" } },
                    podSelector: { matchLabels: { "app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller" } },
                },
            ]);
            const all = await flowsWith(onIngress);
            assert.ok(all.flows.includes("ingress-job -> api 8080/TCP"), "an empty pod selector admits every pod of the namespace");
        });

        it("admits Prometheus and the CloudNativePG operator the settings name, not the defaults", async () => {
            const { flows } = await flowsWith({ prometheusNamespace: "observability" });
            assert.ok(!flows.some((f) => f.startsWith("prometheus -> api 9090")), "Prometheus in monitoring no longer scrapes");
            const elsewhere = await flowsWith({ cloudNativePgOperatorNamespace: "postgres-operator" }, "staging");
            assert.ok(!elsewhere.flows.some((f) => f.startsWith("cnpg-operator -> postgres ")), "the operator in cnpg-system no longer reaches the instances");
            const anyPod = await flowsWith({ cloudNativePgOperatorPodSelector: "" }, "staging");
            assert.ok(anyPod.flows.includes("cnpg-plugin -> postgres 8000/TCP"), "an empty pod selector admits every pod of cnpg-system");
        });

        it("admits the traffic's carrier, and only it, to cert-manager's HTTP-01 solver pods, only where the issuer starts them in the namespace", async () => {
            const solverPolicy = (policies: NetworkPolicy[]) => policies.filter((p) => p.metadata.name === "allow-acme-http01-solver");
            const toSolver = (flows: string[]) => flows.filter((f) => / -> acme-solver /.test(f));
            // Staging as shipped: the platform's Gateway holds the certificate; its solvers run in its namespace.
            const staging = await flowsWith({}, "staging");
            assert.deepStrictEqual(toSolver(staging.flows), []);
            assert.deepStrictEqual(solverPolicy(staging.policies), []);
            // The stack's own Gateway with Let's Encrypt over HTTP-01: the solver pods run here, its Envoy pods bring the challenge.
            const ownGateway = await flowsWith({ ingressTlsEnabled: true, ingressClusterIssuer: "letsencrypt-staging" });
            assert.deepStrictEqual(toSolver(ownGateway.flows), ["gateway -> acme-solver 8089/TCP"]);
            assert.deepStrictEqual(compare(reachabilityMatrix(ownGateway.universe, ownGateway.policies), ownGateway.expected), { unexpected: [], missing: [] });
            assert.deepStrictEqual(solverPolicy(ownGateway.policies).map((p) => p.spec), [
                {
                    podSelector: { matchLabels: { "acme.cert-manager.io/http01-solver": "true" } },
                    policyTypes: ["Ingress"],
                    ingress: [
                        {
                            from: [
                                {
                                    namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "envoy-gateway-system" } },
                                    podSelector: {
                                        matchLabels: {
                                            "app.kubernetes.io/name": "envoy",
                                            "app.kubernetes.io/component": "proxy",
                                            "gateway.envoyproxy.io/owning-gateway-name": "healthcare-api",
                                            "gateway.envoyproxy.io/owning-gateway-namespace": "healthcare-backend",
                                        },
                                    },
                                },
                            ],
                            ports: [{ protocol: "TCP", port: 8089 }],
                        },
                    ],
                },
            ]);
            // An Ingress with an ACME issuer: the ingress controller brings it.
            const onIngress = {
                apiExposure: "ingress",
                ingressClassName: "nginx",
                ingressControllerNamespace: "ingress-nginx",
                ingressControllerPodSelector: "app.kubernetes.io/name=ingress-nginx,app.kubernetes.io/component=controller",
                ingressClusterIssuer: "letsencrypt",
            };
            assert.deepStrictEqual(toSolver((await flowsWith(onIngress, "staging")).flows), ["ingress-ctl -> acme-solver 8089/TCP"]);
            // DNS-01 starts no solver pod: nothing is opened.
            const dns01 = await flowsWith({ ...onIngress, ingressAcmeChallenge: "dns01" }, "staging");
            assert.deepStrictEqual(toSolver(dns01.flows), []);
            assert.deepStrictEqual(solverPolicy(dns01.policies), []);
            assert.deepStrictEqual(dns01.expected.filter((f) => !dns01.flows.includes(f)), []);
            // Local TLS through the stack's own self-signed issuer is not ACME.
            assert.deepStrictEqual(toSolver((await flowsWith({ ingressTlsEnabled: true, ingressClusterIssuer: "selfsigned" })).flows), []);
            // Not published, no challenge; plain HTTP locally, no certificate.
            assert.deepStrictEqual(toSolver((await flowsWith({ ...onIngress, ingressEnabled: false }, "staging")).flows), []);
            assert.deepStrictEqual(toSolver((await flowsWith({ ingressClusterIssuer: "letsencrypt" })).flows), [], "local serves plain HTTP (ingressTlsEnabled false)");
        });

        it("sends DNS where the settings say: CoreDNS pods by default, NodeLocal DNSCache's address when listed, and nowhere else", async () => {
            const dnsFlows = (flows: string[]) => flows.filter((f) => / -> (kube-dns|node-local-dns|fake-dns) /.test(f));
            const resolvers = (dns: string) => ["api", "redis", "redis-jobs"].flatMap((from) => [`${from} -> ${dns} 53/TCP`, `${from} -> ${dns} 53/UDP`]);
            // The default reaches CoreDNS only: on a NodeLocal DNSCache cluster every lookup would fail.
            const byDefault = await flowsWith({});
            assert.deepStrictEqual(dnsFlows(byDefault.flows), resolvers("kube-dns"));
            // Both: one rule per resolving workload with two peers, each of them needed.
            const both = await flowsWith({ clusterDnsCidrs: "169.254.20.10/32" });
            assert.deepStrictEqual(dnsFlows(both.flows), [...resolvers("kube-dns"), ...resolvers("node-local-dns")].sort());
            assert.deepStrictEqual(compare(reachabilityMatrix(both.universe, both.policies), both.expected), { unexpected: [], missing: [] });
            const lines = assertEveryAllowNeeded(both.universe, both.policies, both.expected);
            assert.ok(lines.some((l) => l.includes('{"ipBlock":{"cidr":"169.254.20.10/32"}}: loses api -> node-local-dns')), lines.join("\n"));
            // Addresses only: no CoreDNS pod is reachable any more.
            const cidrOnly = await flowsWith({ clusterDnsNamespace: "", clusterDnsCidrs: "169.254.20.10/32" });
            assert.deepStrictEqual(dnsFlows(cidrOnly.flows), resolvers("node-local-dns"));
            // Another namespace: the look-alike there is admitted, CoreDNS in kube-system no longer.
            const elsewhere = await flowsWith({ clusterDnsNamespace: "billing" });
            assert.deepStrictEqual(dnsFlows(elsewhere.flows), resolvers("fake-dns"));
        });
    });

    describe("component args", () => {
        const db = { podSelector: { app: "db" }, serving: [tcp("postgres", 5432)], peer: [], metrics: [], health: [] };
        const base: Omit<NetworkSecurityArgs, "namespace"> = {
            instance: "test",
            api: { podSelector: { app: "api" }, serving: [tcp("http", 8080)], peer: [], metrics: [], health: [] },
            postgres: { servers: db, clients: db, operatorManaged: false, operatorPorts: [] },
            postgresObjectStore: [],
            redis: { podSelector: { app: "redis" }, serving: [tcp("redis", 6379)], peer: [], metrics: [], health: [] },
            redisMaintenance: { app: "redis-jobs" },
            publicEntry: { namespace: "envoy-gateway-system", podLabels: {} },
            acmeHttp01Solvers: false,
            settings: {
                publicEntry: { namespace: "envoy-gateway-system", podLabels: {} },
                prometheus: { namespace: "monitoring", podLabels: {} },
                cloudNativePgOperator: { namespace: "cnpg-system", podLabels: {} },
                dns: { pods: { namespace: "kube-system", podLabels: { "k8s-app": "kube-dns" } }, cidrs: [] },
                apiExternalEgress: [],
            },
        };
        const construct = async (args: Omit<NetworkSecurityArgs, "namespace">) => {
            await pulumi.runtime.setMocks({ newResource: (a) => ({ id: `${a.name}-id`, state: a.inputs }), call: (a) => a.inputs }, "healthcare-backend", "test", false);
            return new NetworkSecurity("network-security", { ...args, namespace: pulumi.output(namespace) });
        };

        it("refuses an empty pod selector, which would select every pod of the namespace", async () => {
            await assert.rejects(construct({ ...base, redisMaintenance: {} }), (e: Error) => e instanceof ComponentArgsError && /allow-redis-cluster-maintenance: the pod selector is empty/.test(e.message));
        });

        it("refuses selectors that overlap, which would give one workload another's allows", async () => {
            await assert.rejects(
                construct({ ...base, redisMaintenance: { app: "redis", job: "bootstrap" } }),
                (e: Error) => /allow-redis-cluster: its pod selector also selects the pods of allow-redis-cluster-maintenance/.test(e.message),
            );
        });

        it("refuses a port number outside 1-65535", async () => {
            const broken = { ...db, serving: [tcp("postgres", 0)] };
            await assert.rejects(construct({ ...base, postgres: { ...base.postgres, servers: broken, clients: broken } }), /port postgres = 0 is not a port number/);
        });

        it("refuses operator-managed PostgreSQL without the API server's addresses, which its instance managers need", async () => {
            await assert.rejects(construct({ ...base, postgres: { ...base.postgres, operatorManaged: true } }), /kubernetesApi is missing/);
        });

        it("refuses operator-managed PostgreSQL that does not say how its operator's Job pods are selected", async () => {
            await assert.rejects(
                construct({ ...base, postgres: { ...base.postgres, operatorManaged: true }, kubernetesApi: pulumi.output([{ cidr: "10.0.0.1/32", port: 6443 }]) }),
                (e: Error) => e instanceof ComponentArgsError && /postgres\.operatorJobs is missing: the operator's Job pods would be cut off by the default deny/.test(e.message) && !/kubernetesApi/.test(e.message),
            );
        });
    });
});
