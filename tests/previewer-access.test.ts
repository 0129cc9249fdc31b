import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { PreviewerAccess, previewVerbs } from "../components/previewerAccess";
import { ComponentArgsError } from "../lib/args";
import { CapturedResource, ProgramRun, runStack } from "../harness/mockProgram";
import { stackConfig, onStatefulSetEngine } from "../harness/stackConfig";
import { CLUSTER_ROLE, ROLE } from "./support/resourceTypes";

/** `kubernetes:<group>/<version>:<Kind>` as RBAC names it: the group ("" for core) and the plural resource. */
function rbacResource(type: string): { group: string; resource: string } {
    const [, groupVersion, kind] = type.split(":");
    const group = groupVersion.includes("/") && groupVersion.split("/")[0] !== "core" ? groupVersion.split("/")[0] : "";
    const lower = kind.toLowerCase();
    const resource = lower.endsWith("y") ? `${lower.slice(0, -1)}ies` : lower.endsWith("s") ? `${lower}es` : `${lower}s`;
    return { group, resource };
}

/** Whether `rules` allow `verb` on the object; a rule with resourceNames allows those names only. */
function allows(rules: any[], verb: string, group: string, resource: string, name?: string): boolean {
    return rules.some(
        (r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb) && (!r.resourceNames || (name !== undefined && r.resourceNames.includes(name))),
    );
}

/** The Kubernetes objects a refresh of the stack reads: everything it manages, and the objects it reads with `.get`. */
function kubernetesObjects(run: ProgramRun): CapturedResource[] {
    // Helm releases are read through Helm's own storage, not as one object: the shipped deployed stacks install none.
    return run.resources.filter((r) => r.custom && r.type.startsWith("kubernetes:") && r.type !== "kubernetes:helm.sh/v3:Release");
}

/** Staging published through an Ingress whose certificate a platform ClusterIssuer issues: the preview reads that issuer. */
const onIngress = { apiExposure: "ingress", ingressClassName: "haproxy", ingressControllerNamespace: "haproxy", ingressClusterIssuer: "letsencrypt" };

describe("the previewer's read-only access", () => {
    for (const [stack, overrides] of [
        ["staging", {}],
        ["production", {}],
        ["staging", onStatefulSetEngine],
        ["staging", onIngress],
    ] as const) {
        const label = `${stack}${overrides === onStatefulSetEngine ? " (statefulset engine)" : overrides === onIngress ? " (an Ingress)" : ""}`;
        describe(label, () => {
            let run: ProgramRun;
            let role: any;
            let clusterRole: any;
            before(async () => {
                run = await runStack(stackConfig(stack, overrides), stack);
                role = run.get(ROLE, "healthcare-previewer").inputs;
                clusterRole = run.get(CLUSTER_ROLE, "healthcare-backend-previewer").inputs;
            });

            it("the Role lets a preview read every object the stack manages in its namespace, Secrets included", () => {
                const namespaced = kubernetesObjects(run).filter((r) => !r.read && r.inputs.metadata?.namespace === "healthcare-backend");
                assert.ok(namespaced.length > 20, `${namespaced.length} namespaced objects`);
                const missing = namespaced
                    .map((r) => ({ ...rbacResource(r.type), what: `${r.type} ${r.name}` }))
                    .filter((r) => !previewVerbs.every((verb) => allows(role.rules, verb, r.group, r.resource)));
                assert.deepStrictEqual(missing, []);
                assert.ok(allows(role.rules, "get", "", "secrets"), "a refresh reads the Secrets");
            });

            it("the ClusterRole lets it get, by name, every cluster-scoped object the stack manages and every object it reads outside the namespace", () => {
                const outside = kubernetesObjects(run).filter((r) => r.read || r.inputs.metadata?.namespace === undefined);
                const kinds = new Set(outside.map((r) => r.type.split(":").pop()));
                // What this stack has outside its namespace: the API server's addresses (CloudNativePG), its PriorityClass, this
                // component's own ClusterRole and binding. (A ClusterIssuer's check only with an Ingress: below.)
                for (const kind of ["Namespace", "PriorityClass", "ClusterRole", "ClusterRoleBinding", ...(overrides === onIngress ? ["ClusterIssuer"] : [])]) {
                    assert.ok(kinds.has(kind), `${kind} among ${[...kinds].join(", ")}`);
                }
                const missing = outside
                    .map((r) => {
                        const name = r.read ? r.read.split("/").pop()! : r.inputs.metadata.name;
                        return { ...rbacResource(r.type), name, what: `${r.type} ${r.read ?? r.name}` };
                    })
                    .filter((r) => !allows(clusterRole.rules, "get", r.group, r.resource, r.name));
                assert.deepStrictEqual(missing, []);
                // By name only: another stack's namespace or any other CRD stays unreadable.
                assert.ok(!allows(clusterRole.rules, "get", "", "namespaces", "kube-system"));
                assert.ok(!allows(clusterRole.rules, "get", "apiextensions.k8s.io", "customresourcedefinitions", "certificates.cert-manager.io"));
                assert.ok(clusterRole.rules.every((r: any) => r.resourceNames?.length > 0));
            });

            it("grants nothing but get, list and watch, without wildcards, to the previewer's ServiceAccount alone", () => {
                for (const rule of [...role.rules, ...clusterRole.rules]) {
                    assert.deepStrictEqual(rule.verbs.filter((v: string) => !(previewVerbs as readonly string[]).includes(v)), [], JSON.stringify(rule));
                    assert.ok(![...rule.apiGroups, ...rule.resources].includes("*"), JSON.stringify(rule));
                }
                const account = run.get("kubernetes:core/v1:ServiceAccount", "healthcare-previewer").inputs;
                assert.strictEqual(account.automountServiceAccountToken, false);
                const subject = [{ kind: "ServiceAccount", name: "healthcare-previewer", namespace: "healthcare-backend" }];
                const binding = run.get("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "healthcare-previewer").inputs;
                const clusterBinding = run.get("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", "healthcare-backend-previewer").inputs;
                assert.deepStrictEqual(binding.subjects, subject);
                assert.deepStrictEqual(clusterBinding.subjects, subject);
                assert.deepStrictEqual(binding.roleRef, { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "healthcare-previewer" });
                assert.deepStrictEqual(clusterBinding.roleRef, { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "healthcare-backend-previewer" });
            });
        });
    }

    it("local ships without it (previewerAccess: false), and the setting turns it on", async () => {
        const rbac = (run: ProgramRun) => run.resources.filter((r) => r.type.includes("rbac.authorization.k8s.io") || r.name === "healthcare-previewer").map((r) => `${r.type.split(":").pop()} ${r.name}`);
        assert.deepStrictEqual(rbac(await runStack(stackConfig("local"), "local")), []);
        assert.deepStrictEqual(rbac(await runStack(stackConfig("local", { previewerAccess: true }), "local")).sort(), [
            "ClusterRole healthcare-backend-previewer",
            "ClusterRoleBinding healthcare-backend-previewer",
            "Role healthcare-previewer",
            "RoleBinding healthcare-previewer",
            "ServiceAccount healthcare-previewer",
        ]);
    });

    it("refuses args that would grant more than named reads, before registering anything", () => {
        const base = { namespace: pulumi.output("healthcare-backend"), instance: "staging", clusterRoleName: "healthcare-backend-previewer", clusterReads: [] };
        assert.throws(
            () => new PreviewerAccess("bad", { ...base, clusterRoleName: "Previewer", clusterReads: [{ group: "", resource: "namespaces", name: "" }] }),
            (e: unknown) =>
                e instanceof ComponentArgsError &&
                /clusterRoleName "Previewer" is not a DNS subdomain name/.test(e.message) &&
                /clusterReads: namespaces\.core has no name \(the ClusterRole grants reads by name only\)/.test(e.message),
        );
        assert.throws(() => new PreviewerAccess("bad", { ...base, clusterReads: [{ group: "", resource: "*", name: "x" }] }), /"\*" is not a plural resource name/);
    });
});
