import * as pulumi from "@pulumi/pulumi";
import { dnsSubdomain, Reader } from "./reader";

/** Where the stack deploys and cluster-wide objects it creates. */

export interface ClusterSettings {
    /** kubeconfig context; undefined uses the kubeconfig's current context (local only). */
    readonly context?: string;
    /** kubeconfig path or contents; undefined uses $KUBECONFIG or ~/.kube/config. */
    readonly kubeconfig?: pulumi.Output<string>;
}

/** The data stores' PriorityClass name: a DNS subdomain outside the reserved system- prefix; empty is none. */
export function readDataPriorityClass(r: Reader): string | undefined {
    const name = r.string("dataPriorityClassName");
    if (!name) {
        return undefined;
    }
    if (!dnsSubdomain.test(name)) {
        r.problem("dataPriorityClassName", name, "a DNS subdomain name (lower-case letters, digits, '-' and '.'), or empty for none");
    } else if (name.startsWith("system-")) {
        r.problem("dataPriorityClassName", name, "a name that does not start with system- (Kubernetes reserves that prefix)");
    }
    return name;
}
