import * as pulumi from "@pulumi/pulumi";

/** What autoscalers and disruption budgets need to know about a workload's controller. */
export interface ScaleTarget {
    /** The controller's API version and kind (apps/v1 Deployment or StatefulSet, or an operator's resource with a scale subresource). */
    readonly apiVersion: string;
    readonly kind: string;
    /** The controller's metadata.name (an output, so that whatever targets it waits for it). */
    readonly name: pulumi.Output<string>;
    /** The workload's main container: the one a VPA sizes (sidecars are left alone). */
    readonly container: string;
    /** Labels that select the workload's pods. */
    readonly podSelector: Readonly<Record<string, string>>;
    /** The fewest and most pods the workload runs (equal for a fixed count). */
    readonly replicas: { readonly min: number; readonly max: number };
    /** The operator that runs the workload keeps its own PodDisruptionBudget and resizes its pods itself: no budget, no evicting VPA here. */
    readonly operatorManaged?: boolean;
}

/** `ScaleTarget` fields of an apps/v1 controller. */
export function appsController(kind: "Deployment" | "StatefulSet"): Pick<ScaleTarget, "apiVersion" | "kind"> {
    return { apiVersion: "apps/v1", kind };
}
