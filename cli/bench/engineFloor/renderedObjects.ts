import * as pulumi from "@pulumi/pulumi";
import { readFileSync } from "fs";
import { parseAllDocuments } from "yaml";

/** A Kubernetes object of any kind, registered under the kubernetes provider's type for its kind. */
class KubernetesObject extends pulumi.CustomResource {
    constructor(name: string, object: { apiVersion: string; kind: string }, opts: pulumi.CustomResourceOptions) {
        const [group, version] = object.apiVersion.includes("/") ? object.apiVersion.split("/") : ["core", object.apiVersion];
        super(`kubernetes:${group}/${version}:${object.kind}`, name, object, opts);
    }
}

/**
 * The engine's floor for one stack's objects, for `npm run bench:engine`: a Pulumi program that
 * registers the very objects kubectl applies (the YAML file named by BENCH_RENDERED_OBJECTS, which
 * the bench renders from the stack), flat: no component, no check before the first object, no order
 * but the namespace first. The provider still awaits what it always awaits (workloads ready, Jobs
 * complete), side by side. The objects in the namespace are deleted with it, as the program's are.
 * Against the program, what is left is what the program adds: its checks and the order of its awaits.
 */
export = async (): Promise<Record<string, unknown>> => {
    const file = process.env.BENCH_RENDERED_OBJECTS;
    if (!file) {
        throw new Error("BENCH_RENDERED_OBJECTS is not set: it names the YAML file of the objects to register (npm run bench:engine sets it)");
    }
    const objects = parseAllDocuments(readFileSync(file, "utf8")).map((d) => d.toJS() as { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } });
    const namespaces = objects.filter((o) => o.kind === "Namespace");
    if (namespaces.length !== 1) {
        throw new Error(`${file} holds ${namespaces.length} namespaces; expected one`);
    }
    const namespace = new KubernetesObject(`Namespace/${namespaces[0].metadata.name}`, namespaces[0], {});
    for (const object of objects.filter((o) => o.kind !== "Namespace")) {
        const inNamespace = object.metadata.namespace !== undefined;
        new KubernetesObject(`${object.kind}/${object.metadata.name}`, object, inNamespace ? { dependsOn: [namespace], deletedWith: namespace } : {});
    }
    return { objects: objects.length };
};
