import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { builtInOptions, checkArgs, NamespacedArgs } from "../lib/args";
import { partOf, sanitizeLabelValue, standardLabels } from "../lib/labels";
import { names } from "../lib/names";

/** Args of the namespace's default deny. */
/** Args of the default-deny policy: the namespace component's output, so the policy waits for it. */
export type DefaultDenyArgs = NamespacedArgs;

/**
 * Denies all ingress and egress to every pod of the namespace, including pods this program does not
 * know about. Its `namespace` output resolves only once the policy exists: objects placed through it
 * are created after it, so no workload pod ever starts unrestricted.
 */
export class DefaultDeny extends pulumi.ComponentResource {
    /** The namespace's name, available once the default deny exists. */
    readonly namespace: pulumi.Output<string>;
    /** metadata.name of the policy. */
    readonly policyName: string;

    constructor(name: string, args: DefaultDenyArgs, opts?: pulumi.ComponentResourceOptions) {
        super("healthcare:security:DefaultDeny", name, {}, opts);
        checkArgs("DefaultDeny", name, [
            (!args.instance || sanitizeLabelValue(args.instance) !== args.instance) && `instance "${args.instance}" is not a label value`,
        ]);
        this.policyName = names.networkPolicy.defaultDeny;
        const policy = new k8s.networking.v1.NetworkPolicy(
            this.policyName,
            {
                metadata: {
                    name: this.policyName,
                    namespace: args.namespace,
                    labels: standardLabels({ name: partOf, component: "network-policy", instance: args.instance }),
                },
                spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] },
            },
            builtInOptions(this, args.deletion),
        );
        this.namespace = policy.metadata.namespace;
        this.registerOutputs({ namespace: this.namespace, policyName: this.policyName });
    }
}
