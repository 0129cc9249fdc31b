import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { builtInOptions, checkArgs, NamespacedArgs } from "../lib/args";
import { sanitizeLabelValue, standardLabels } from "../lib/labels";
import { names } from "../lib/names";

/** One kind of object, as RBAC rules name it. */
export interface ApiResource {
    /** API group; "" for the core group. */
    readonly group: string;
    /** Plural resource name (`deployments`). */
    readonly resource: string;
}

/** One cluster-scoped object (or object outside the namespace) a preview reads, by name. */
export interface NamedRead extends ApiResource {
    /** metadata.name of the object. */
    readonly name: string;
}

/**
 * Every kind the program manages in the stack's namespace, on either PostgreSQL engine and with every
 * feature on. A preview refreshes each of them (`pulumi preview --refresh` reads the live object),
 * Secrets included: a previewer can read every password in the namespace. RBAC does not check that a
 * kind exists, so a kind the cluster does not serve (no CloudNativePG) costs nothing.
 */
export const previewedResources: readonly ApiResource[] = [
    ...["configmaps", "secrets", "services", "serviceaccounts", "persistentvolumeclaims"].map((resource) => ({ group: "", resource })),
    ...["deployments", "statefulsets"].map((resource) => ({ group: "apps", resource })),
    ...["jobs", "cronjobs"].map((resource) => ({ group: "batch", resource })),
    ...["networkpolicies", "ingresses"].map((resource) => ({ group: "networking.k8s.io", resource })),
    // The API's HTTPRoute, and the Gateway a stack creates for itself (apiExposure: gateway).
    ...["httproutes", "gateways"].map((resource) => ({ group: "gateway.networking.k8s.io", resource })),
    { group: "policy", resource: "poddisruptionbudgets" },
    { group: "autoscaling", resource: "horizontalpodautoscalers" },
    { group: "autoscaling.k8s.io", resource: "verticalpodautoscalers" },
    ...["servicemonitors", "podmonitors", "prometheusrules"].map((resource) => ({ group: "monitoring.coreos.com", resource })),
    ...["clusters", "poolers", "scheduledbackups"].map((resource) => ({ group: "postgresql.cnpg.io", resource })),
    { group: "barmancloud.cnpg.io", resource: "objectstores" },
    // Redis's own issuers and certificates (redisTls).
    ...["issuers", "certificates"].map((resource) => ({ group: "cert-manager.io", resource })),
    // This component's own Role and RoleBinding: the refresh reads them too.
    ...["roles", "rolebindings"].map((resource) => ({ group: "rbac.authorization.k8s.io", resource })),
];

/** Read-only verbs: a preview never writes (the provider falls back to a client-side diff when its server-side dry run is forbidden). */
export const previewVerbs = ["get", "list", "watch"] as const;

/** Args of the read-only access a `pulumi preview` of the stack needs. */
export interface PreviewerAccessArgs extends NamespacedArgs {
    /** metadata.name of the ClusterRole and its ClusterRoleBinding: cluster-scoped, so unique per stack on a cluster. */
    clusterRoleName: string;
    /** Cluster-scoped objects (and objects outside the namespace) the stack manages or reads: the ClusterRole grants `get` on exactly these names. */
    clusterReads: readonly NamedRead[];
}

const dnsSubdomain = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** `rules` entries with one group and resource each, grouped by API group: the form `kubectl describe role` shows. */
function rulesByGroup(resources: readonly ApiResource[], verbs: readonly string[]): k8s.types.input.rbac.v1.PolicyRule[] {
    const groups = new Map<string, string[]>();
    for (const r of resources) {
        groups.set(r.group, [...(groups.get(r.group) ?? []), r.resource]);
    }
    return [...groups.entries()].map(([group, resources]) => ({ apiGroups: [group], resources, verbs: [...verbs] }));
}

/**
 * A ServiceAccount a CI preview runs as, with read-only access to what the stack manages: a Role in
 * the namespace (get, list, watch on every kind the program manages there) and a ClusterRole for the
 * cluster-scoped reads, each by name (the Namespace, the PriorityClass, the CRDs the prerequisites check
 * reads, the API server's EndpointSlice, this ClusterRole and its binding). Nothing here can write, so
 * code from a pull request that runs with it cannot change the cluster. The kubeconfig is made outside
 * the program (docs/delivery.md "The previewer's kubeconfig").
 */
export class PreviewerAccess extends pulumi.ComponentResource {
    /** The ServiceAccount's name (in the stack's namespace). */
    readonly serviceAccountName: pulumi.Output<string>;
    /** The ClusterRole's name. */
    readonly clusterRoleName: pulumi.Output<string>;

    constructor(name: string, args: PreviewerAccessArgs, opts?: pulumi.ComponentResourceOptions) {
        super("healthcare:security:PreviewerAccess", name, {}, opts);
        checkArgs("PreviewerAccess", name, [
            !dnsSubdomain.test(args.clusterRoleName) && `clusterRoleName "${args.clusterRoleName}" is not a DNS subdomain name`,
            (!args.instance || sanitizeLabelValue(args.instance) !== args.instance) && `instance "${args.instance}" is not a label value`,
            ...args.clusterReads.map((r) => !r.name && `clusterReads: ${r.resource}.${r.group || "core"} has no name (the ClusterRole grants reads by name only)`),
            ...args.clusterReads.map((r) => !/^[a-z0-9]+$/.test(r.resource) && `clusterReads: "${r.resource}" is not a plural resource name`),
        ]);
        const n = names.previewer;
        const labels = standardLabels({ name: n.serviceAccount, component: "previewer", instance: args.instance });
        const meta = (objectName: string) => ({ name: objectName, namespace: args.namespace, labels });
        // The namespace's objects go with it; the cluster-scoped ClusterRole and its binding are deleted on their own.
        const builtIn = builtInOptions(this, args.deletion);

        const account = new k8s.core.v1.ServiceAccount(
            n.serviceAccount,
            // No pod runs as it: tokens are requested for CI explicitly (kubectl create token).
            { metadata: meta(n.serviceAccount), automountServiceAccountToken: false },
            builtIn,
        );
        const subjects = [{ kind: "ServiceAccount", name: account.metadata.name, namespace: args.namespace }];

        const role = new k8s.rbac.v1.Role(n.role, { metadata: meta(n.role), rules: rulesByGroup(previewedResources, previewVerbs) }, builtIn);
        new k8s.rbac.v1.RoleBinding(
            n.roleBinding,
            { metadata: meta(n.roleBinding), roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role.metadata.name }, subjects },
            builtIn,
        );

        const rbac = "rbac.authorization.k8s.io";
        const reads: NamedRead[] = [
            ...args.clusterReads,
            { group: rbac, resource: "clusterroles", name: args.clusterRoleName },
            { group: rbac, resource: "clusterrolebindings", name: args.clusterRoleName },
        ];
        // One rule per object kind, its names listed: `get` by name is all a refresh does outside the namespace.
        const byKind = new Map<string, NamedRead[]>();
        for (const read of reads) {
            const key = `${read.group}/${read.resource}`;
            byKind.set(key, [...(byKind.get(key) ?? []), read]);
        }
        const clusterRole = new k8s.rbac.v1.ClusterRole(
            args.clusterRoleName,
            {
                metadata: { name: args.clusterRoleName, labels },
                rules: [...byKind.values()].map((same) => ({
                    apiGroups: [same[0].group],
                    resources: [same[0].resource],
                    resourceNames: [...new Set(same.map((r) => r.name))],
                    verbs: ["get"],
                })),
            },
            { parent: this },
        );
        new k8s.rbac.v1.ClusterRoleBinding(
            args.clusterRoleName,
            { metadata: { name: args.clusterRoleName, labels }, roleRef: { apiGroup: rbac, kind: "ClusterRole", name: clusterRole.metadata.name }, subjects },
            { parent: this },
        );

        this.serviceAccountName = account.metadata.name;
        this.clusterRoleName = clusterRole.metadata.name;
        this.registerOutputs({ serviceAccountName: this.serviceAccountName, clusterRoleName: this.clusterRoleName });
    }
}
