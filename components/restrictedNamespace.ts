import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { checkArgs } from "../lib/args";
import { standardLabels } from "../lib/labels";

/** Args of the namespace every object of the stack lives in. */
export interface RestrictedNamespaceArgs {
    /** The namespace's name (a DNS label). */
    name: string;
    /** The Pulumi stack that owns it (`app.kubernetes.io/instance`). */
    instance: string;
    /** Protect it from deletion: deleting a namespace deletes every volume and backup in it. */
    protectData: boolean;
}

/** The Pod Security Standard the namespace enforces, audits and warns about. */
export const podSecurityLevel = "restricted";

/** A namespace whose Pod Security admission enforces the `restricted` standard. */
export class RestrictedNamespace extends pulumi.ComponentResource {
    /** The namespace's name; depending on it orders objects after the namespace exists. */
    readonly name: pulumi.Output<string>;
    /** The Namespace object, for the objects in it to be deleted with it (`deletedWith`, lib/args.ts NamespaceDeletion). */
    readonly namespace: k8s.core.v1.Namespace;

    constructor(name: string, args: RestrictedNamespaceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("healthcare:core:RestrictedNamespace", name, {}, opts);
        checkArgs("RestrictedNamespace", name, [
            !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(args.name) && `name "${args.name}" is not a DNS label`,
        ]);

        const namespace = new k8s.core.v1.Namespace(
            args.name,
            {
                metadata: {
                    name: args.name,
                    labels: {
                        ...standardLabels({ name: args.name, component: "namespace", instance: args.instance }),
                        "pod-security.kubernetes.io/enforce": podSecurityLevel,
                        "pod-security.kubernetes.io/enforce-version": "latest",
                        "pod-security.kubernetes.io/audit": podSecurityLevel,
                        "pod-security.kubernetes.io/audit-version": "latest",
                        "pod-security.kubernetes.io/warn": podSecurityLevel,
                        "pod-security.kubernetes.io/warn-version": "latest",
                    },
                },
            },
            { parent: this, protect: args.protectData },
        );
        this.namespace = namespace;
        this.name = namespace.metadata.name;
        this.registerOutputs({ name: this.name });
    }
}
