import * as pulumi from "@pulumi/pulumi";

/** What every component that deploys into the stack's namespace takes. */
export interface NamespacedArgs {
    /** Namespace to deploy into: an output of what must exist first (the default-deny policy), so every child waits for it. */
    namespace: pulumi.Output<string>;
    /** The Pulumi stack (`app.kubernetes.io/instance`). */
    instance: string;
    /** How its objects go when a run deletes the namespace too (NamespaceDeletion); undefined: each on its own. */
    deletion?: NamespaceDeletion;
}

/**
 * The stack's Namespace, for the objects in it to be deleted with it (`deletedWith`). When a run deletes
 * the namespace as well (`pulumi destroy`), they skip their own deletes and the namespace's delete removes
 * them, as `kubectl delete namespace` does. Its await ends only once everything in it is gone, pods and
 * volume claims included: what each object's own await proved (a Deployment's foreground delete waited
 * for its pods). A run that deletes one of them and keeps the namespace (an object left out of the
 * program, a replacement) still deletes it, and waits, on its own.
 */
export interface NamespaceDeletion {
    /** The Namespace object. */
    readonly namespace: pulumi.Resource;
    /**
     * Custom resources too: only when the same run cannot delete the operator that serves them (the
     * stack installs no add-on). Otherwise each is deleted on its own, before its operator's release,
     * so that no finalizer outlives the operator that removes it and holds the namespace's delete forever.
     */
    readonly customResources: boolean;
}

/** Resource options for a built-in Kubernetes object in the stack's namespace: deleted with it (NamespaceDeletion). */
export function builtInOptions(parent: pulumi.Resource, deletion: NamespaceDeletion | undefined): pulumi.CustomResourceOptions {
    return { parent, deletedWith: deletion?.namespace };
}

/** Resource options for a custom resource in the stack's namespace: deleted with it only where `customResources` allows. */
export function customResourceOptions(parent: pulumi.Resource, deletion: NamespaceDeletion | undefined): pulumi.CustomResourceOptions {
    return { parent, deletedWith: deletion?.customResources ? deletion.namespace : undefined };
}

/** Thrown by a component whose args are invalid, before it registers anything. */
export class ComponentArgsError extends pulumi.RunError {
    constructor(type: string, name: string, problems: readonly string[]) {
        super(`${type} "${name}" has invalid args:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
        this.name = "ComponentArgsError";
    }
}

/**
 * Checks a component's args up front. Each entry is a problem message, or a falsy value when that
 * check passed; every problem is reported at once.
 */
export function checkArgs(type: string, name: string, checks: ReadonlyArray<string | false | undefined>): void {
    const problems = checks.filter((c): c is string => typeof c === "string" && c.length > 0);
    if (problems.length > 0) {
        throw new ComponentArgsError(type, name, problems);
    }
}

/**
 * Resource options for data that must survive a mistaken `pulumi destroy` or its removal from the
 * program: passwords, the Secrets that hold them, volumes. `deletion` for a Kubernetes object of the
 * namespace (not a password): gone with the namespace only when the run deletes the namespace anyway.
 */
export function dataOptions(parent: pulumi.Resource, protectData: boolean, deletion?: NamespaceDeletion): pulumi.CustomResourceOptions {
    return { ...builtInOptions(parent, deletion), protect: protectData, retainOnDelete: protectData };
}

/**
 * Resource options for a data store's StatefulSet: protected, but not `retainOnDelete`. That option
 * also skips the provider's delete when the StatefulSet is replaced, and a fixed-name replacement
 * then collides with the old object. Deleted with the orphaning policy (`dataAnnotations`), the old
 * StatefulSet leaves its pods and claims to the new one, which adopts them: the runbook in docs/postgres.md,
 * "Replacing a protected StatefulSet".
 */
export function statefulSetOptions(parent: pulumi.Resource, protectData: boolean, deletion: NamespaceDeletion | undefined): pulumi.CustomResourceOptions {
    return { ...builtInOptions(parent, deletion), protect: protectData };
}

/**
 * Annotations for a protected StatefulSet: when it must be replaced (a volume-size change), its
 * pods are orphaned instead of deleted and the new StatefulSet adopts them, so the replacement is
 * not an outage.
 */
export function dataAnnotations(protectData: boolean): Record<string, string> | undefined {
    return protectData ? { "pulumi.com/deletionPropagationPolicy": "orphan" } : undefined;
}

/**
 * Waits for checks that run side by side before the first object is registered. Resolves with each
 * one's value; when any fails, rejects with the first failure, its message followed by every other
 * failure's, so that one run names every problem (a refused data change and a cluster that lacks an API).
 */
export async function allChecks<A, B>(first: Promise<A>, second: Promise<B>): Promise<[A, B]> {
    const [a, b] = await Promise.allSettled([first, second]);
    const failures = [a, b].filter((r): r is PromiseRejectedResult => r.status === "rejected").map((r) => r.reason as Error);
    if (failures.length > 0) {
        const [error, ...others] = failures;
        if (others.length > 0) {
            error.message = [error.message, ...others.map((e) => e.message)].join("\n");
        }
        throw error;
    }
    return [(a as PromiseFulfilledResult<A>).value, (b as PromiseFulfilledResult<B>).value];
}
