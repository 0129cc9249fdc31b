import * as pulumi from "@pulumi/pulumi";

/** What autoscalers and disruption budgets need to know about a workload's controller. */
export interface ScaleTarget {
    /** The apps/v1 kind of the controller. */
    readonly kind: "Deployment" | "StatefulSet";
    /** The controller's metadata.name (an output, so that whatever targets it waits for it). */
    readonly name: pulumi.Output<string>;
    /** The workload's main container: the one a VPA sizes (sidecars are left alone). */
    readonly container: string;
    /** Labels that select the workload's pods. */
    readonly podSelector: Readonly<Record<string, string>>;
    /** The fewest and most pods the workload runs (equal for a fixed count). */
    readonly replicas: { readonly min: number; readonly max: number };
}
