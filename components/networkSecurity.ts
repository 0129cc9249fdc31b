import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { DnsPeers, ExternalDestination, NetworkSettings, PeerSelector } from "../config";
import { builtInOptions, checkArgs, NamespacedArgs } from "../lib/args";
import { NamedPort, tcp, WorkloadEndpoints } from "../lib/endpoints";
import { standardLabels } from "../lib/labels";
import { names } from "../lib/names";
import { PostgresTopology } from "./postgres";

/** DNS answers over UDP, and over TCP for large answers. */
export const dnsPorts: readonly NamedPort[] = [
    { name: "dns", port: 53, protocol: "UDP" },
    { name: "dns-tcp", port: 53, protocol: "TCP" },
];

/** The label the API server puts on every namespace (Kubernetes >= 1.22): selects a namespace by its name. */
export const namespaceNameLabel = "kubernetes.io/metadata.name";

/** cert-manager's label on the pods that answer HTTP-01 challenges (pkg/issuer/acme/http), and their port. */
export const acmeHttp01Solver = { podLabels: { "acme.cert-manager.io/http01-solver": "true" }, port: tcp("acme-http01", 8089) } as const;

/** Args of the workloads' allow policies. */
export interface NetworkSecurityArgs extends NamespacedArgs {
    /** The API's pods and ports (`Api.endpoints`). */
    api: WorkloadEndpoints;
    /** PostgreSQL's workloads (servers, pooler) and what they reach (`Postgres.topology`). */
    postgres: PostgresTopology;
    /** The API server's addresses (`KubernetesApiEndpoints`): where an operator's instance manager connects; required when `postgres.operatorManaged`. */
    kubernetesApi?: pulumi.Output<ExternalDestination[]>;
    /** Object storage the database servers archive WAL and base backups to (CloudNativePG's plugin runs in their pods). */
    postgresObjectStore: readonly ExternalDestination[];
    /** The Redis nodes and their ports (`RedisCluster.endpoints`). */
    redis: WorkloadEndpoints;
    /** Labels of the pods of the Redis maintenance Jobs, bootstrap and scaling (`RedisCluster.maintenanceSelector`). */
    redisMaintenance: Readonly<Record<string, string>>;
    /** The PostgreSQL backup pods (`PostgresBackup.podSelector`) and the object store they copy to; undefined without backups. */
    postgresBackup?: { podSelector: Readonly<Record<string, string>>; objectStore: readonly ExternalDestination[] };
    /**
     * The pods that carry clients' requests to the API (the Gateway's proxies or the ingress controller,
     * `NetworkSettings.publicEntry`); undefined where the API is not published: nothing may reach its http port.
     */
    publicEntry?: PeerSelector;
    /** Whether cert-manager runs HTTP-01 solver pods in the namespace (`IngressSettings.tls.http01Solvers`): `publicEntry` must reach them. */
    acmeHttp01Solvers: boolean;
    /** Prometheus, operator and DNS peers, and the API's external destinations, from the stack config. */
    settings: NetworkSettings;
}

/** A group of pods in the stack's namespace that gets its own allow policy. */
interface Workload {
    readonly kind: "workload";
    /** The policy's metadata.name. */
    readonly policy: string;
    /** `matchLabels`. */
    readonly podSelector: Readonly<Record<string, string>>;
    /** Label keys the pods must also carry, whatever their value (`matchExpressions` with `Exists`). */
    readonly labelKeys?: readonly string[];
}
/** Where a connection goes: the stack's pods, pods in another namespace, addresses outside the cluster, or any of several. */
type Destination =
    | Workload
    | { readonly kind: "peer"; readonly peer: PeerSelector }
    | { readonly kind: "cidr"; readonly cidr: string }
    | { readonly kind: "any"; readonly of: readonly Destination[] };
/** Where a connection comes from. */
type Source = Destination | { readonly kind: "anywhere" };

/** An allowed connection: `from` may open connections to `to` on `ports`. */
interface Flow {
    readonly from: Source;
    readonly to: Destination;
    readonly ports: readonly NamedPort[];
}

/**
 * One allow policy per workload, on top of `DefaultDeny` (defaultDeny.ts), listing exactly the
 * connections the application needs. Selectors and ports come from the workloads' endpoints, so a
 * port change in a component moves its policies with it.
 */
export class NetworkSecurity extends pulumi.ComponentResource {
    /** metadata.name of every allow policy. */
    readonly policyNames: string[] = [];

    constructor(name: string, args: NetworkSecurityArgs, opts?: pulumi.ComponentResourceOptions) {
        super("healthcare:security:NetworkSecurity", name, {}, opts);
        const n = names.networkPolicy;
        const workload = (policy: string, podSelector: Readonly<Record<string, string>>, labelKeys?: readonly string[]): Workload => ({ kind: "workload", policy, podSelector, labelKeys });
        const api = workload(n.api, args.api.podSelector);
        const db = args.postgres;
        const postgres = workload(n.postgres, db.servers.podSelector);
        const pooler = db.pooler && workload(n.postgresPooler, db.pooler.podSelector);
        // The operator's Job pods: not servers, yet they need the primary (a join copies it with
        // pg_basebackup) and the API server. Without a policy of their own the default deny cuts them
        // off, and the Cluster never initialises (initdb) nor gains a standby (join).
        const jobs = db.operatorJobs && workload(`${n.postgres}-jobs`, db.operatorJobs.podSelector, db.operatorJobs.labelKeys);
        const importSource = db.importSource && workload(n.postgresImportSource, db.importSource.podSelector);
        // What the API and the backups connect to: the pooler, or the server itself.
        const postgresEntry = pooler ?? postgres;
        const redis = workload(n.redis, args.redis.podSelector);
        const redisMaintenance = workload(n.redisMaintenance, args.redisMaintenance);
        // cert-manager creates and deletes the solver pods; this policy only admits their one caller.
        const acmeSolver = workload(n.acmeHttp01Solver, acmeHttp01Solver.podLabels);
        const backup = args.postgresBackup && workload(n.postgresBackup, args.postgresBackup.podSelector);
        const workloads = [api, postgres, ...(pooler ? [pooler] : []), ...(jobs ? [jobs] : []), ...(importSource ? [importSource] : []), redis, redisMaintenance, acmeSolver, ...(backup ? [backup] : [])];
        const endpoints = new Map<Workload, WorkloadEndpoints>([
            [api, args.api],
            [postgres, db.servers],
            ...(pooler ? [[pooler, db.pooler!] as [Workload, WorkloadEndpoints]] : []),
            [redis, args.redis],
        ]);
        checkArgs("NetworkSecurity", name, [
            ...workloads.map((w) => Object.keys(w.podSelector).length === 0 && (w.labelKeys ?? []).length === 0 && `${w.policy}: the pod selector is empty, which would select every pod of the namespace`),
            ...workloads.flatMap((a) =>
                workloads.map((b) => a !== b && selects(a, b) && `${a.policy}: its pod selector also selects the pods of ${b.policy}`),
            ),
            ...[...endpoints.values()].flatMap((e) =>
                [...e.serving, ...e.peer, ...e.metrics, ...e.health].map(
                    (p) => !(Number.isInteger(p.port) && p.port >= 1 && p.port <= 65535) && `port ${p.name} = ${p.port} is not a port number`,
                ),
            ),
            db.operatorManaged && !args.kubernetesApi && "kubernetesApi is missing: the operator-managed PostgreSQL pods must reach the API server",
            db.operatorManaged && !db.operatorJobs && "postgres.operatorJobs is missing: the operator's Job pods would be cut off by the default deny",
            args.acmeHttp01Solvers && !args.publicEntry && "acmeHttp01Solvers is true while publicEntry is undefined: no one would bring the ACME server's challenge to the solver pods",
        ]);

        const publicEntry: Destination | undefined = args.publicEntry && { kind: "peer", peer: args.publicEntry };
        const prometheus: Destination = { kind: "peer", peer: args.settings.prometheus };
        const operator: Destination = { kind: "peer", peer: args.settings.cloudNativePgOperator };
        const dns = dnsDestination(args.settings.dns);
        const flows: Flow[] = [
            // Patients and clinics reach the API only through the Gateway's proxies (or the ingress controller).
            ...(publicEntry ? [{ from: publicEntry, to: api, ports: args.api.serving }] : []),
            // The ACME server's HTTP-01 request arrives the same way, proxied to a solver pod.
            ...(publicEntry && args.acmeHttp01Solvers ? [{ from: publicEntry, to: acmeSolver, ports: [acmeHttp01Solver.port] }] : []),
            // The seed opens health checks to every source: the health ports serve nothing else.
            ...[...endpoints].map(([w, e]) => ({ from: { kind: "anywhere" } as Source, to: w, ports: e.health })),
            ...[...endpoints].map(([w, e]) => ({ from: prometheus, to: w, ports: e.metrics })),
            { from: api, to: postgresEntry, ports: db.clients.serving },
            // PgBouncer holds the server connections; the servers replicate among themselves.
            ...(pooler ? [{ from: pooler, to: postgres, ports: db.servers.serving }] : []),
            { from: postgres, to: postgres, ports: db.servers.peer },
            // The operator asks each instance manager for its state.
            ...(db.operatorManaged ? [{ from: operator, to: postgres, ports: db.operatorPorts }] : []),
            // The join Job copies the primary (pg_basebackup) before a standby starts.
            ...(jobs ? [{ from: jobs, to: postgres, ports: db.servers.serving }] : []),
            // The import Job dumps the statefulset engine's database (postgresMigration: import); nothing else reaches that server.
            ...(jobs && importSource ? [{ from: jobs, to: importSource, ports: db.importSource!.serving }] : []),
            // Cluster clients follow MOVED redirects to every node, so they reach every node's data port.
            { from: api, to: redis, ports: args.redis.serving },
            { from: redisMaintenance, to: redis, ports: args.redis.serving },
            // Replication on the data port, gossip and failover on the cluster bus.
            { from: redis, to: redis, ports: args.redis.peer },
            // These resolve service and pod names (a Redis node its peers' pod names at start, to find
            // them at their new IPs after they all restarted). PostgreSQL on the statefulset engine connects
            // to nothing; CloudNativePG's standbys and PgBouncer resolve the primary's Service.
            { from: api, to: dns, ports: dnsPorts },
            { from: redisMaintenance, to: dns, ports: dnsPorts },
            { from: redis, to: dns, ports: dnsPorts },
            ...(db.operatorManaged ? [postgres, ...(pooler ? [pooler] : []), ...(jobs ? [jobs] : [])].map((w) => ({ from: w, to: dns, ports: dnsPorts })) : []),
            ...args.postgresObjectStore.map((d) => ({ from: postgres, to: { kind: "cidr", cidr: d.cidr } as Destination, ports: [tcp("object-store", d.port)] })),
            // A recovery's Job (full-recovery) restores the base backup from the object store.
            ...(jobs && db.operatorJobs?.readObjectStore
                ? args.postgresObjectStore.map((d) => ({ from: jobs, to: { kind: "cidr", cidr: d.cidr } as Destination, ports: [tcp("object-store", d.port)] }))
                : []),
            ...args.settings.apiExternalEgress.map((d) => ({ from: api, to: { kind: "cidr", cidr: d.cidr } as Destination, ports: [tcp("external", d.port)] })),
            // Backups (and the list and restore Jobs built from them): the database, names, the object store.
            ...(backup
                ? [
                      { from: backup, to: postgres, ports: db.servers.serving },
                      { from: backup, to: dns, ports: dnsPorts },
                      ...args.postgresBackup!.objectStore.map((d) => ({ from: backup, to: { kind: "cidr", cidr: d.cidr } as Destination, ports: [tcp("object-store", d.port)] })),
                  ]
                : []),
            // An empty port list would allow every port: a flow without ports allows nothing instead.
        ].filter((f) => f.ports.length > 0);

        for (const w of workloads) {
            const ingress = flows.filter((f) => f.to === w).map((f) => ({ from: f.from.kind === "anywhere" ? undefined : peers(f.from), ports: policyPorts(f.ports) }));
            const egress = flows.filter((f) => f.from === w).map((f) => ({ to: peers(f.to), ports: policyPorts(f.ports) }));
            if (ingress.length + egress.length === 0) {
                continue;
            }
            new k8s.networking.v1.NetworkPolicy(
                w.policy,
                {
                    metadata: {
                        name: w.policy,
                        namespace: args.namespace,
                        labels: standardLabels({ name: w.policy, component: "network-policy", instance: args.instance }),
                    },
                    spec: {
                        podSelector: labelSelector(w),
                        policyTypes: [...(ingress.length > 0 ? ["Ingress"] : []), ...(egress.length > 0 ? ["Egress"] : [])],
                        ingress: ingress.length > 0 ? ingress : undefined,
                        egress: egress.length > 0 ? egress : undefined,
                    },
                },
                builtInOptions(this, args.deletion),
            );
            this.policyNames.push(w.policy);
        }
        // The instance managers (servers, PgBouncer and the operator's Jobs) talk to the API server: its
        // addresses are read from the cluster, so this egress is a policy of its own, built once they are known.
        if (db.operatorManaged && args.kubernetesApi) {
            for (const w of [postgres, ...(pooler ? [pooler] : []), ...(jobs ? [jobs] : [])]) {
                const policy = `${w.policy}-kubernetes-api`;
                new k8s.networking.v1.NetworkPolicy(
                    policy,
                    {
                        metadata: { name: policy, namespace: args.namespace, labels: standardLabels({ name: policy, component: "network-policy", instance: args.instance }) },
                        spec: {
                            podSelector: labelSelector(w),
                            policyTypes: ["Egress"],
                            egress: args.kubernetesApi.apply((destinations) =>
                                destinations.map((d) => ({ to: [{ ipBlock: { cidr: d.cidr } }], ports: [{ protocol: "TCP", port: d.port }] })),
                            ),
                        },
                    },
                    builtInOptions(this, args.deletion),
                );
                this.policyNames.push(policy);
            }
        }
        this.registerOutputs({ policyNames: this.policyNames });
    }
}

/** Whether `a`'s selector matches every pod that `b`'s selects, as far as their labels and label keys tell. */
function selects(a: Workload, b: Workload): boolean {
    const keys = new Set([...Object.keys(b.podSelector), ...(b.labelKeys ?? [])]);
    return Object.entries(a.podSelector).every(([k, v]) => b.podSelector[k] === v) && (a.labelKeys ?? []).every((k) => keys.has(k));
}

/** A workload's pod selector: its labels, and the keys it needs whatever their value. */
function labelSelector(w: Workload): k8s.types.input.meta.v1.LabelSelector {
    return {
        matchLabels: { ...w.podSelector },
        ...(w.labelKeys?.length ? { matchExpressions: w.labelKeys.map((key) => ({ key, operator: "Exists" })) } : {}),
    };
}

/** The DNS servers: the cluster DNS pods and/or the addresses of servers no pod selector matches. */
function dnsDestination(dns: DnsPeers): Destination {
    const of: Destination[] = [...(dns.pods ? [{ kind: "peer" as const, peer: dns.pods }] : []), ...dns.cidrs.map((cidr) => ({ kind: "cidr" as const, cidr }))];
    return of.length === 1 ? of[0] : { kind: "any", of };
}

/** The `from`/`to` entries of a party. Namespace and pod selector sit in ONE entry: pods matching both, not either. */
function peers(party: Destination): k8s.types.input.networking.v1.NetworkPolicyPeer[] {
    switch (party.kind) {
        case "workload":
            return [{ podSelector: labelSelector(party) }];
        case "peer":
            return [
                {
                    namespaceSelector: { matchLabels: { [namespaceNameLabel]: party.peer.namespace } },
                    podSelector: { matchLabels: { ...party.peer.podLabels } },
                },
            ];
        case "cidr":
            return [{ ipBlock: { cidr: party.cidr } }];
        case "any":
            return party.of.flatMap(peers);
    }
}

/** Port numbers, not names: they read plainly in `kubectl describe` and also apply to ipBlock destinations. */
function policyPorts(ports: readonly NamedPort[]): k8s.types.input.networking.v1.NetworkPolicyPort[] {
    return ports.map((p) => ({ protocol: p.protocol, port: p.port }));
}
