/** Standard `app.kubernetes.io/*` labels and the selectors derived from them. */

/** The application every object belongs to (`app.kubernetes.io/part-of`). */
export const partOf = "healthcare-backend";

/** Identifies one workload of the stack. */
export interface WorkloadIdentity {
    /** `app.kubernetes.io/name`: what the workload is (`healthcare-api`, `postgres`, `redis-cluster`). */
    readonly name: string;
    /** `app.kubernetes.io/component`: its role in the stack (`api`, `database`, `cache`). */
    readonly component: string;
    /** `app.kubernetes.io/instance`: the Pulumi stack that deploys it. */
    readonly instance: string;
    /** `app.kubernetes.io/version`: the version it runs; left out of selectors. */
    readonly version?: string;
}

/** The immutable subset of labels a selector may use: never the version, which changes on upgrade. */
export function selectorLabels(id: WorkloadIdentity): Record<string, string> {
    return {
        "app.kubernetes.io/name": id.name,
        "app.kubernetes.io/instance": id.instance,
        "app.kubernetes.io/component": id.component,
    };
}

/** Every standard label, for metadata and pod templates. */
export function standardLabels(id: WorkloadIdentity): Record<string, string> {
    return {
        ...selectorLabels(id),
        "app.kubernetes.io/part-of": partOf,
        "app.kubernetes.io/managed-by": "pulumi",
        ...(id.version ? { "app.kubernetes.io/version": sanitizeLabelValue(id.version) } : {}),
    };
}

/** Labels for an object that belongs to a workload but is not one of its pods (autoscalers, budgets, monitors). */
export function objectLabels(podSelector: Readonly<Record<string, string>>): Record<string, string> {
    return { ...podSelector, "app.kubernetes.io/part-of": partOf, "app.kubernetes.io/managed-by": "pulumi" };
}

/** Label values allow at most 63 characters of [A-Za-z0-9._-]; image tags and digests may not fit. */
export function sanitizeLabelValue(value: string): string {
    return value.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 63).replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, "");
}

// Label syntax (https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#syntax-and-character-set),
// for selectors that come from config.
const labelName = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const labelPrefix = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const labelValue = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

/** Whether `key` is a label key: an optional DNS-subdomain prefix and `/`, then a name of at most 63 characters. */
export function isLabelKey(key: string): boolean {
    const slash = key.lastIndexOf("/");
    return slash < 0 ? labelName.test(key) : labelPrefix.test(key.slice(0, slash)) && labelName.test(key.slice(slash + 1));
}

/**
 * Labels from `key=value` pairs separated by commas (the equality form of `kubectl get -l`), or the
 * reason the text is not such a list. An empty text is an empty selector.
 */
export function parseLabelSelector(text: string): { labels: Record<string, string> } | { problem: string } {
    const labels: Record<string, string> = {};
    const pairs = text.trim() === "" ? [] : text.split(",").map((p) => p.trim());
    for (const pair of pairs) {
        const match = /^([^=!\s]+)\s*=\s*([^=\s]*)$/.exec(pair);
        if (!match) {
            return { problem: `"${pair}" is not key=value` };
        }
        const [, key, value] = match;
        if (!isLabelKey(key)) {
            return { problem: `"${key}" is not a label key` };
        }
        if (!labelValue.test(value)) {
            return { problem: `"${value}" is not a label value` };
        }
        if (key in labels) {
            return { problem: `"${key}" is given twice` };
        }
        labels[key] = value;
    }
    return { labels };
}
