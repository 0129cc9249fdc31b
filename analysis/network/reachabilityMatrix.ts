/**
 * Which connections the program's NetworkPolicies allow, as a matrix of roles: the program's own pods
 * (taken from the pod templates it registers, and for the custom resources an operator runs, from
 * those resources: operatorPods.ts) and a cast of pods and hosts outside it, labelled as their
 * upstream charts label them. Used by the reachability tests and the docs' pictures (cli/reachabilitySvg.ts).
 */
import { envoyProxyPods } from "../../components/clusterAddons";
import { parseSettings, Settings } from "../../config";
import { mockApiServer, ProgramRun } from "../../harness/mockProgram";
import { ConfigMap, readProject } from "../../harness/stackConfig";
import { parseCidr } from "../../lib/cidr";
import { podTemplates } from "../podTemplates";
import { operatorManagedTypes, operatorRoles, operatorWorkloads, runsCloudNativePg } from "./operatorPods";
import { ContainerPort, Endpoint, Namespace, NetworkPolicy, Protocol, Reachability } from "./reachability";

/** The program's pods, by their `app.kubernetes.io/component` label. */
export const roleByComponent: Record<string, string> = {
    api: "api",
    database: "postgres",
    cache: "redis",
    "cache-maintenance": "redis-jobs",
    "database-backup": "pg-backup",
};

/** Every role of the program's own pods: templated ones, and those an operator runs for its custom resources. */
export const programRoles: readonly string[] = [...new Set([...Object.values(roleByComponent), ...Object.values(operatorRoles)])];

/** A role and the pods that play it. */
export interface Role {
    name: string;
    /** What it stands for, for the printed legend. */
    description: string;
    pods: Endpoint[];
}

/** Pods of a role outside the program, two of each so that a role can be tried against itself. */
interface Outsider {
    name: string;
    description: string;
    namespace?: string;
    labels?: Record<string, string>;
    ports?: ContainerPort[];
    /** A fixed address (a host-network server); otherwise one from the pod network, or the internet's range without a namespace. */
    ip?: string;
}

/** A host outside the cluster that the stack names by address (the object store of postgresBackupS3Egress). */
export interface ExternalHost {
    name: string;
    description: string;
    /** The block it sits in, as the stack names it. */
    cidr: string;
    /** The one port it listens on. */
    port: number;
}

/** A Gateway by namespace and name: whose Envoy pods the cast's gateway role plays. */
export interface GatewayRef {
    readonly namespace: string;
    readonly name: string;
}

/** What the universe holds beyond the program's resources. */
export interface UniverseOptions {
    /** Hosts the stack names by address (stackHosts): one host inside each block, listening on its port. */
    hosts?: readonly ExternalHost[];
    /** The Gateway the API's route attaches to (stackGateway); by default the platform's `gateway-system/public`. */
    gateway?: GatewayRef;
}

/** An address inside `cidr` (its tenth, or its last when the block is smaller), as text. */
export function addressIn(cidr: string): string {
    const block = parseCidr(cidr);
    if (!block) {
        throw new Error(`${cidr} is not a CIDR block`);
    }
    const width = block.family === 4 ? 32 : 128;
    const size = 1n << BigInt(width - block.prefix);
    const value = block.network + (size > 10n ? 10n : size - 1n);
    if (block.family === 4) {
        return [24n, 16n, 8n, 0n].map((shift) => ((value >> shift) & 255n).toString()).join(".");
    }
    return Array.from({ length: 8 }, (_, i) => ((value >> BigInt(112 - 16 * i)) & 0xffffn).toString(16)).join(":");
}

/** The stack's settings from its raw config (as `pulumi up` hands it over). */
function settingsOf(config: ConfigMap, stack: string): Settings {
    const project = readProject().name;
    const prefix = `${project}:`;
    return parseSettings({
        project,
        stack,
        get: (key) => config[`${prefix}${key}`],
        keys: () => Object.keys(config).filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length)),
    });
}

/** The Gateway a stack's API route attaches to (its own namespace when gatewayNamespace is empty); undefined with an Ingress. */
export function stackGateway(config: ConfigMap, stack: string): GatewayRef | undefined {
    const settings = settingsOf(config, stack);
    const gateway = settings.ingress.gateway;
    return gateway && { namespace: gateway.namespace ?? settings.namespace, name: gateway.name };
}

/** The hosts outside the cluster a stack's config names by address: the object store of postgresBackupS3Egress, one host per entry. */
export function stackHosts(config: ConfigMap, stack: string): ExternalHost[] {
    const settings = settingsOf(config, stack);
    const egress = settings.postgresBackup?.objectStore?.egress ?? [];
    return egress.map((d, i) => ({
        name: i === 0 ? "object-store" : `object-store-${i + 1}`,
        description: `the object store postgresBackupS3Egress names: a host in ${d.cidr} on ${d.port}`,
        cidr: d.cidr,
        port: d.port,
    }));
}

/**
 * The cast around the program. Labels are those of the upstream manifests (Envoy Gateway's proxies and
 * chart, the ingress-nginx chart, prometheus-operator, CoreDNS, cert-manager's HTTP-01 solver pods,
 * CloudNativePG's and its Barman Cloud plugin's release manifests and Helm charts).
 */
function outsiders(namespace: string, cloudNativePg: boolean, hosts: readonly ExternalHost[], gateway: GatewayRef): Outsider[] {
    const tcp = (name: string, containerPort: number): ContainerPort => ({ name, containerPort, protocol: "TCP" });
    // Envoy Gateway runs one Envoy Deployment per Gateway in its own namespace, labelled with the Gateway it serves.
    const envoy = (owner: GatewayRef) => ({
        namespace: envoyProxyPods.namespace,
        labels: { ...envoyProxyPods.podLabels, [envoyProxyPods.owningGatewayName]: owner.name, [envoyProxyPods.owningGatewayNamespace]: owner.namespace },
        ports: [tcp("http", 10080), tcp("https", 10443), tcp("metrics", 19001)],
    });
    // Where the program runs an operator's custom resources, the operator reaches into the namespace.
    const operator: Outsider[] = cloudNativePg
        ? [
              {
                  name: "cnpg-operator",
                  description: "CloudNativePG's operator (namespace cnpg-system, labels of its Helm chart, release cnpg)",
                  namespace: "cnpg-system",
                  labels: { "app.kubernetes.io/name": "cloudnative-pg", "app.kubernetes.io/instance": "cnpg" },
                  ports: [tcp("webhook-server", 9443), tcp("metrics", 8080)],
              },
              {
                  name: "cnpg-plugin",
                  description: "the Barman Cloud plugin's pod: namespace cnpg-system, not the operator",
                  namespace: "cnpg-system",
                  labels: { "app.kubernetes.io/name": "plugin-barman-cloud", "app.kubernetes.io/instance": "plugin-barman-cloud" },
                  ports: [tcp("grpc", 9090)],
              },
              {
                  name: "fake-cnpg",
                  description: "a pod labelled app.kubernetes.io/name=cloudnative-pg in another namespace",
                  namespace: "billing",
                  labels: { "app.kubernetes.io/name": "cloudnative-pg" },
              },
          ]
        : [];
    return [
        {
            name: "random-pod",
            description: `any other pod in ${namespace}, labelled as part of the application`,
            namespace,
            labels: { "app.kubernetes.io/name": "debug-shell", "app.kubernetes.io/part-of": "healthcare-backend" },
            ports: [tcp("http", 8080)],
        },
        { name: "other-ns", description: "a pod in another namespace", namespace: "billing", labels: { "app.kubernetes.io/name": "billing" }, ports: [tcp("http", 8080)] },
        {
            name: "gateway",
            description: `Envoy Gateway's Envoy pods serving Gateway ${gateway.namespace}/${gateway.name} (namespace ${envoyProxyPods.namespace})`,
            ...envoy(gateway),
        },
        {
            name: "other-gateway",
            description: `Envoy pods of another Gateway (${gateway.namespace}/other): same namespace and labels but the owning Gateway's`,
            ...envoy({ namespace: gateway.namespace, name: "other" }),
        },
        {
            name: "eg-controller",
            description: `Envoy Gateway's controller (namespace ${envoyProxyPods.namespace}, labels of its chart, release eg)`,
            namespace: envoyProxyPods.namespace,
            labels: { "control-plane": "envoy-gateway", "app.kubernetes.io/name": "gateway-helm", "app.kubernetes.io/instance": "eg" },
            ports: [tcp("grpc", 18000), tcp("metrics", 19001)],
        },
        {
            name: "ingress-ctl",
            description: "ingress-nginx controller (namespace ingress-nginx; retired upstream, an Ingress's controller in the cast)",
            namespace: "ingress-nginx",
            labels: { "app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/instance": "ingress-nginx", "app.kubernetes.io/component": "controller" },
            ports: [tcp("http", 80), tcp("https", 443), tcp("metrics", 10254), tcp("webhook", 8443)],
        },
        {
            name: "ingress-job",
            description: "ingress-nginx admission-webhook Job: same namespace and name label, not the controller",
            namespace: "ingress-nginx",
            labels: { "app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/instance": "ingress-nginx", "app.kubernetes.io/component": "admission-webhook" },
        },
        {
            name: "prometheus",
            description: "Prometheus of kube-prometheus-stack (namespace monitoring, pod labels set by prometheus-operator)",
            namespace: "monitoring",
            labels: {
                "app.kubernetes.io/name": "prometheus",
                "app.kubernetes.io/managed-by": "prometheus-operator",
                "app.kubernetes.io/instance": "kube-prometheus-stack-prometheus",
                prometheus: "kube-prometheus-stack-prometheus",
                "operator.prometheus.io/name": "kube-prometheus-stack-prometheus",
                "operator.prometheus.io/shard": "0",
            },
            ports: [tcp("http-web", 9090)],
        },
        {
            name: "alertmanager",
            description: "Alertmanager: namespace monitoring, not Prometheus",
            namespace: "monitoring",
            labels: { "app.kubernetes.io/name": "alertmanager", "app.kubernetes.io/managed-by": "prometheus-operator" },
            ports: [tcp("http-web", 9093)],
        },
        {
            name: "fake-prom",
            description: "a pod labelled app.kubernetes.io/name=prometheus in another namespace",
            namespace: "billing",
            labels: { "app.kubernetes.io/name": "prometheus" },
        },
        {
            name: "kube-dns",
            description: "CoreDNS (namespace kube-system, k8s-app=kube-dns)",
            namespace: "kube-system",
            labels: { "k8s-app": "kube-dns" },
            ports: [
                { name: "dns", containerPort: 53, protocol: "UDP" },
                { name: "dns-tcp", containerPort: 53, protocol: "TCP" },
                tcp("metrics", 9153),
            ],
        },
        {
            name: "fake-dns",
            description: "a pod labelled k8s-app=kube-dns in another namespace",
            namespace: "billing",
            labels: { "k8s-app": "kube-dns" },
            ports: [{ name: "dns", containerPort: 53, protocol: "UDP" }, tcp("dns-tcp", 53)],
        },
        {
            name: "acme-solver",
            description: `cert-manager's HTTP-01 solver pod in ${namespace} (labels and port of cert-manager's pkg/issuer/acme/http)`,
            namespace,
            labels: { "acme.cert-manager.io/http01-solver": "true", "acme.cert-manager.io/http-domain": "1234567890", "acme.cert-manager.io/http-token": "0987654321" },
            ports: [tcp("http", 8089)],
        },
        {
            // Host-network pods: policies see the node-local address, which no pod selector matches.
            name: "node-local-dns",
            description: "NodeLocal DNSCache on the pod's node, listening on 169.254.20.10",
            ip: "169.254.20.10",
            ports: [
                { name: "dns", containerPort: 53, protocol: "UDP" },
                { name: "dns-tcp", containerPort: 53, protocol: "TCP" },
            ],
        },
        ...operator,
        {
            // Host-network on the control plane: policies see the address the kubernetes Service forwards to.
            name: "api-server",
            description: `the Kubernetes API server, at the address EndpointSlice default/kubernetes lists (${mockApiServer.address}:${mockApiServer.port} on the mocks)`,
            ip: mockApiServer.address,
            ports: [tcp("https", mockApiServer.port)],
        },
        ...hosts.map((h) => ({ name: h.name, description: h.description, ip: addressIn(h.cidr), ports: [tcp(h.name, h.port)] })),
        { name: "internet", description: "a host outside the cluster (203.0.113.0/24)" },
    ];
}

/** Roles, namespaces and the ports tried between every pair. */
export interface Universe {
    /** The namespace the program's policies govern. */
    namespace: string;
    namespaces: Namespace[];
    roles: Role[];
    /** Every (port, protocol) tried: every container port of the universe, over TCP and UDP, and 22, 80 and 443. */
    probes: { port: number; protocol: Protocol }[];
}

/**
 * The program's pods (every pod template it registers, and the pods an operator runs for its custom
 * resources) and the cast around them.
 */
export function universeOf(run: ProgramRun, namespace: string, options: UniverseOptions = {}): Universe {
    let nextIp = 1;
    const podIp = () => `10.244.${Math.floor(nextIp / 250)}.${(nextIp++ % 250) + 1}`;
    const externalIp = () => `203.0.113.${nextIp++ % 250}`;
    const roles = new Map<string, Role>();
    const add = (name: string, description: string, make: (instance: string) => Endpoint) => {
        const role = roles.get(name) ?? { name, description: "", pods: [] };
        role.description = role.description ? `${role.description}, ${description}` : description;
        roles.set(name, role);
        role.pods.push(make("a"), make("b"));
    };

    // An operator completes its resources' partial templates (the Pooler's) itself: those pods come below.
    const operatorOwned = new Set(run.resources.filter((r) => operatorManagedTypes.includes(r.type)).map((r) => `${r.type.split(":").pop()}/${r.name}`));
    for (const template of podTemplates(run.resources).filter((t) => !operatorOwned.has(t.owner))) {
        const component = template.metadata.labels?.["app.kubernetes.io/component"] ?? "";
        const role = roleByComponent[component];
        if (!role) {
            throw new Error(`${template.owner}: pod component "${component}" has no role in the reachability matrix; add it to roleByComponent and to the expected matrix`);
        }
        const ports = [...(template.spec.initContainers ?? []), ...template.spec.containers].flatMap((c: any) => c.ports ?? []);
        add(role, template.owner, (i) => ({ name: `${template.owner}#${i}`, namespace: template.namespace, labels: template.metadata.labels, ports, ip: podIp() }));
    }
    for (const w of operatorWorkloads(run.resources)) {
        add(w.role, w.description, (i) => {
            const pod = w.pods[i === "a" ? 0 : 1];
            return { name: `${w.owner}#${i} (${pod.variant})`, namespace: w.namespace, labels: pod.labels, ports: pod.ports, ip: podIp() };
        });
    }
    for (const o of outsiders(namespace, runsCloudNativePg(run.resources), options.hosts ?? [], options.gateway ?? { namespace: "gateway-system", name: "public" })) {
        add(o.name, o.description, (i) => ({ name: `${o.name}#${i}`, namespace: o.namespace, labels: o.labels, ports: o.ports, ip: o.ip ?? (o.namespace ? podIp() : externalIp()) }));
    }

    const allRoles = [...roles.values()];
    const namespaces = [...new Set(allRoles.flatMap((r) => r.pods.map((p) => p.namespace)).filter((n): n is string => n !== undefined))].map((name) => ({ name }));
    const numbers = new Set<number>([22, 80, 443, ...allRoles.flatMap((r) => r.pods.flatMap((p) => (p.ports ?? []).map((c) => c.containerPort)))]);
    const probes = [...numbers].sort((a, b) => a - b).flatMap((port) => (["TCP", "UDP"] as const).map((protocol) => ({ port, protocol })));
    return { namespace, namespaces, roles: allRoles, probes };
}

/** Allowed ports (`6379/TCP`) from one role to another; undefined where no policy of the program has a say. */
export type Matrix = Map<string, Map<string, string[] | undefined>>;

/**
 * The matrix under `policies`. A pair is governed when either end is in the program's namespace; every
 * pod of a role must agree with the others, or the roles are ill-defined and this throws.
 */
export function reachabilityMatrix(universe: Universe, policies: readonly NetworkPolicy[]): Matrix {
    const model = new Reachability(universe.namespaces, policies);
    const matrix: Matrix = new Map();
    for (const from of universe.roles) {
        const row = new Map<string, string[] | undefined>();
        matrix.set(from.name, row);
        for (const to of universe.roles) {
            const governed = [...from.pods, ...to.pods].some((p) => p.namespace === universe.namespace);
            if (!governed) {
                row.set(to.name, undefined);
                continue;
            }
            let cell: string[] | undefined;
            for (const source of from.pods) {
                for (const destination of to.pods.filter((p) => p !== source)) {
                    const allowed = universe.probes.filter((p) => model.check(source, destination, p.port, p.protocol).allowed).map((p) => `${p.port}/${p.protocol}`);
                    if (cell && cell.join() !== allowed.join()) {
                        throw new Error(`pods of ${from.name} -> ${to.name} disagree: ${cell.join(" ")} vs ${allowed.join(" ")} (${source.name} -> ${destination.name})`);
                    }
                    cell = allowed;
                }
            }
            row.set(to.name, cell ?? []);
        }
    }
    return matrix;
}

/** Every allowed governed connection as `from -> to port/PROTOCOL`, sorted. */
export function allowedFlows(matrix: Matrix): string[] {
    return [...matrix].flatMap(([from, row]) => [...row].flatMap(([to, ports]) => (ports ?? []).map((p) => `${from} -> ${to} ${p}`))).sort();
}

/** The matrix as a text grid: rows are sources, columns destinations; `-` nothing allowed, `·` not governed by the program. */
export function renderMatrix(universe: Universe, matrix: Matrix): string {
    const names = universe.roles.map((r) => r.name);
    const cell = (ports: string[] | undefined) => (ports === undefined ? "·" : ports.length === 0 ? "-" : ports.map((p) => p.replace("/TCP", "").replace("/UDP", "u")).join(","));
    const rows = names.map((from) => [from, ...names.map((to) => cell(matrix.get(from)!.get(to)))]);
    const header = ["from \\ to", ...names];
    const widths = header.map((_, i) => Math.max(...[header, ...rows].map((r) => r[i].length)));
    const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
    const legend = universe.roles.map((r) => `  ${r.name.padEnd(widths[0])}  ${r.description}`);
    return [line(header), ...rows.map(line), "", "ports are TCP unless marked u (UDP); - nothing allowed; · neither end in " + universe.namespace, ...legend].join("\n");
}
