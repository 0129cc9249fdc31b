import { CapturedResource } from "../harness/mockProgram";

/** A pod spec the program registers, wherever it sits (Pod, Deployment, StatefulSet, Job, CronJob, DaemonSet, ...). */
export interface PodTemplate {
    /** `<Kind>/<resource name>` of the object that holds it. */
    owner: string;
    /** The holding object's namespace. */
    namespace?: string;
    metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
    spec: any;
}

/**
 * Every pod spec in the registered Kubernetes objects, found by shape (an object whose `spec` has a
 * `containers` list) rather than by kind, so that a kind added later is checked without changing the tests.
 */
export function podTemplates(resources: readonly CapturedResource[]): PodTemplate[] {
    const found: PodTemplate[] = [];
    for (const resource of resources.filter((r) => r.type.startsWith("kubernetes:") && r.custom)) {
        const owner = `${resource.type.split(":").pop()}/${resource.name}`;
        const visit = (node: unknown): void => {
            if (Array.isArray(node)) {
                node.forEach(visit);
            } else if (typeof node === "object" && node !== null) {
                const candidate = node as { metadata?: PodTemplate["metadata"]; spec?: { containers?: unknown } };
                if (Array.isArray(candidate.spec?.containers)) {
                    found.push({ owner, namespace: resource.inputs.metadata?.namespace, metadata: candidate.metadata ?? {}, spec: candidate.spec });
                } else {
                    Object.values(node).forEach(visit);
                }
            }
        };
        visit(resource.inputs);
    }
    return found;
}

/** Every container of a pod spec: init (sidecars included), regular and ephemeral. */
export function allContainers(spec: any): any[] {
    return [...(spec.initContainers ?? []), ...(spec.containers ?? []), ...(spec.ephemeralContainers ?? [])];
}
