import { existsSync, readdirSync } from "fs";
import * as path from "path";
import { ControlPlane } from "../../harness/engine/controlPlane";
import { describeChanges, OperationResult, Step } from "../../harness/engine/engine";
import { projectRoot } from "../../harness/stackConfig";

/** One row of the e2e's table: stack, step, seconds, changes. */
export interface E2eRow {
    stack: string;
    step: string;
    seconds: number;
    changes: string;
}

/** Rows recorded by this process's e2e run, printed at the end by cli/e2e.ts. */
export const e2eRows: E2eRow[] = [];

/** Records an engine operation in the table and returns it. */
export function record(stack: string, step: string, result: OperationResult): OperationResult {
    e2eRows.push({ stack, step, seconds: result.seconds, changes: describeChanges(result.changes) });
    return result;
}

/** The table, aligned. */
export function formatRows(rows: readonly E2eRow[]): string {
    const header = ["stack", "step", "seconds", "changes"];
    const cells = rows.map((r) => [r.stack, r.step, r.seconds.toFixed(1), r.changes]);
    const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
    const line = (c: string[]) => c.map((v, i) => (i === 2 ? v.padStart(widths[i]) : v.padEnd(widths[i]))).join("  ").trimEnd();
    return [line(header), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n");
}

/** A Kubernetes object as JSON, or undefined when it does not exist. */
export function getObject(cluster: ControlPlane, kind: string, name: string, namespace?: string): any | undefined {
    try {
        return JSON.parse(cluster.kubectl(["get", kind, name, ...(namespace ? ["-n", namespace] : []), "-o", "json"]));
    } catch (error) {
        if (/NotFound|not found/.test(String(error))) {
            return undefined;
        }
        throw error;
    }
}

/** Every object left in `namespace`, as `kind/name`, over all listable namespaced kinds. */
export function objectsIn(cluster: ControlPlane, namespace: string): string[] {
    const kinds = cluster
        .kubectl(["api-resources", "--namespaced=true", "--verbs=list", "-o", "name"])
        .trim()
        .split("\n")
        // Events record what happened; they are not objects of the stack.
        .filter((k) => k && !/^events(\.events\.k8s\.io)?$/.test(k));
    const out = cluster.kubectl(["get", kinds.join(","), "-n", namespace, "--ignore-not-found", "-o", "name"]).trim();
    return out ? out.split("\n") : [];
}

/** Cluster-scoped objects labelled as this stack's (`app.kubernetes.io/instance`), as `kind/name`. */
export function clusterObjectsOf(cluster: ControlPlane, stack: string): string[] {
    const kinds = cluster.kubectl(["api-resources", "--namespaced=false", "--verbs=list", "-o", "name"]).trim().split("\n").filter(Boolean);
    const out = cluster.kubectl(["get", kinds.join(","), "-l", `app.kubernetes.io/instance=${stack}`, "--ignore-not-found", "-o", "name"]).trim();
    return out ? out.split("\n") : [];
}

/** Polls `check` until it returns a value other than undefined, or fails with `describe()`. */
export async function eventually<T>(what: string, check: () => T | undefined, timeoutMs: number, describe: () => string = () => ""): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const value = check();
        if (value !== undefined) {
            return value;
        }
        if (Date.now() > deadline) {
            throw new Error(`${what}: not within ${timeoutMs / 1000} s. ${describe()}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 500));
    }
}

/** The CRDs the stacks' custom resources need, as `npm run setup:checks` fetched them (pinned). */
export function crdFiles(): string[] {
    const dir = path.join(projectRoot, ".tools", "crds");
    if (!existsSync(dir)) {
        throw new Error(`no CRDs in ${dir}: run \`npm run setup:checks\` first (it fetches them, pinned, from the Go module proxy)`);
    }
    return readdirSync(dir)
        .filter((f) => f.endsWith(".yaml"))
        .sort()
        .map((f) => path.join(dir, f));
}

/** `update urn-name (type) [keys]`, for assertion messages. */
export function describeStep(step: Step): string {
    return `${step.op} ${step.urn.slice(step.urn.lastIndexOf("::") + 2)} (${step.type})${step.keys?.length ? ` [${step.keys.join(", ")}]` : ""}`;
}
