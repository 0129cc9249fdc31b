/**
 * Reads a HorizontalPodAutoscaler (autoscaling/v2, as the program registers it or as a manifest)
 * into the normalized form the simulator runs: the API server's defaults applied, every value
 * checked, all problems reported at once.
 *
 * Defaults are the API's (kubernetes/website content/en/docs/tasks/run-application/
 * horizontal-pod-autoscale.md, "Default Behavior"; kubernetes/kubernetes pkg/apis/autoscaling/v2
 * defaults.go): minReplicas 1; no metrics means CPU at 80%; a `behavior` that is set gets its
 * missing rules filled (scale-up: no stabilization, 4 pods or 100% per 15 s, Max; scale-down:
 * 100% per 15 s, Max, stabilization from the controller's --horizontal-pod-autoscaler-downscale-stabilization).
 * A missing `behavior` stays missing: the controller then runs its older path (see hpaController.ts).
 */

import { parseQuantity } from "../../lib/quantity";

/** The HPA type as the program registers it on Pulumi's mocks. */
export const hpaType = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler";

export type SelectPolicy = "Max" | "Min" | "Disabled";

export interface ScalingPolicy {
    type: "Pods" | "Percent";
    value: number;
    periodSeconds: number;
}

/** One direction's rules, defaults applied. `stabilizationWindowSeconds` undefined means the controller's flag. */
export interface ScalingRules {
    stabilizationWindowSeconds?: number;
    selectPolicy: SelectPolicy;
    policies: ScalingPolicy[];
}

/** A metric the HPA scales on, with its target in plain units (1000 for "1k", 0.5 for "500m"). */
export type MetricSource =
    | { type: "Resource"; name: string; target: { type: "Utilization"; averageUtilization: number } | { type: "AverageValue"; averageValue: number } }
    | { type: "Pods"; name: string; target: { type: "AverageValue"; averageValue: number } }
    /** Object, External and ContainerResource metrics: kept for reporting, not simulated. */
    | { type: "Other"; name: string; description: string };

/** A HorizontalPodAutoscaler, normalized. */
export interface Autoscaler {
    name: string;
    /** `Kind/name` of the scale target. */
    target: string;
    minReplicas: number;
    maxReplicas: number;
    metrics: MetricSource[];
    /** undefined when the HPA sets no `behavior` (the controller's older normalization then applies). */
    behavior?: { scaleUp: ScalingRules; scaleDown: ScalingRules };
}

/** The API's defaults for a `behavior` that is set but leaves a direction or field out. */
export const defaultScaleUp: ScalingRules = {
    stabilizationWindowSeconds: 0,
    selectPolicy: "Max",
    policies: [
        { type: "Pods", value: 4, periodSeconds: 15 },
        { type: "Percent", value: 100, periodSeconds: 15 },
    ],
};
export const defaultScaleDown: ScalingRules = {
    stabilizationWindowSeconds: undefined,
    selectPolicy: "Max",
    policies: [{ type: "Percent", value: 100, periodSeconds: 15 }],
};

/** Limits the API server enforces on behavior fields (pkg/apis/autoscaling/validation). */
const maxPeriodSeconds = 1800;
const maxStabilizationSeconds = 3600;

/** Collects every problem of one HPA before failing, naming the field, the value and what is expected. */
class Problems {
    readonly list: string[] = [];
    add(field: string, value: unknown, expected: string): void {
        this.list.push(`${field} = ${JSON.stringify(value)} is invalid; expected ${expected}`);
    }
}

const isWhole = (value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): value is number =>
    typeof value === "number" && Number.isInteger(value) && value >= min && value <= max;

function readRules(raw: any, field: string, defaults: ScalingRules, problems: Problems): ScalingRules {
    if (raw === undefined || raw === null) {
        return { ...defaults, policies: defaults.policies.map((p) => ({ ...p })) };
    }
    const selectPolicy = raw.selectPolicy ?? defaults.selectPolicy;
    if (!["Max", "Min", "Disabled"].includes(selectPolicy)) {
        problems.add(`${field}.selectPolicy`, raw.selectPolicy, "Max, Min or Disabled");
    }
    const stabilization = raw.stabilizationWindowSeconds ?? defaults.stabilizationWindowSeconds;
    if (stabilization !== undefined && !isWhole(stabilization, 0, maxStabilizationSeconds)) {
        problems.add(`${field}.stabilizationWindowSeconds`, raw.stabilizationWindowSeconds, `a whole number of seconds from 0 to ${maxStabilizationSeconds}`);
    }
    const rawPolicies: any[] = raw.policies ?? defaults.policies;
    if (!Array.isArray(rawPolicies) || rawPolicies.length === 0) {
        problems.add(`${field}.policies`, raw.policies, "at least one policy");
    }
    const policies: ScalingPolicy[] = (Array.isArray(rawPolicies) ? rawPolicies : []).map((p, i) => {
        const at = `${field}.policies[${i}]`;
        if (p?.type !== "Pods" && p?.type !== "Percent") {
            problems.add(`${at}.type`, p?.type, "Pods or Percent");
        }
        if (!isWhole(p?.value, 1)) {
            problems.add(`${at}.value`, p?.value, "a whole number above 0");
        }
        if (!isWhole(p?.periodSeconds, 1, maxPeriodSeconds)) {
            problems.add(`${at}.periodSeconds`, p?.periodSeconds, `a whole number of seconds from 1 to ${maxPeriodSeconds}`);
        }
        return { type: p?.type, value: p?.value, periodSeconds: p?.periodSeconds };
    });
    return { stabilizationWindowSeconds: stabilization, selectPolicy, policies };
}

function readMetric(raw: any, field: string, problems: Problems): MetricSource {
    const averageValue = (target: any, at: string): number => {
        const value = parseQuantity(target?.averageValue);
        if (value === undefined || value <= 0) {
            problems.add(`${at}.target.averageValue`, target?.averageValue, "a positive quantity such as 1000, 1k or 500m");
        }
        return value ?? NaN;
    };
    switch (raw?.type) {
        case "Resource": {
            const at = `${field}.resource`;
            const target = raw.resource?.target;
            if (target?.type === "Utilization") {
                if (!isWhole(target.averageUtilization, 1)) {
                    problems.add(`${at}.target.averageUtilization`, target.averageUtilization, "a whole percentage above 0");
                }
                return { type: "Resource", name: raw.resource.name, target: { type: "Utilization", averageUtilization: target.averageUtilization } };
            }
            if (target?.type === "AverageValue") {
                return { type: "Resource", name: raw.resource.name, target: { type: "AverageValue", averageValue: averageValue(target, at) } };
            }
            problems.add(`${at}.target.type`, target?.type, "Utilization or AverageValue for a Resource metric");
            return { type: "Other", name: String(raw.resource?.name), description: "Resource metric with an unsupported target" };
        }
        case "Pods": {
            const at = `${field}.pods`;
            const target = raw.pods?.target;
            if (target?.type !== "AverageValue") {
                problems.add(`${at}.target.type`, target?.type, "AverageValue (the only target a Pods metric takes)");
            }
            return { type: "Pods", name: String(raw.pods?.metric?.name), target: { type: "AverageValue", averageValue: averageValue(target, at) } };
        }
        case "Object":
        case "External":
        case "ContainerResource": {
            const source = raw[raw.type.charAt(0).toLowerCase() + raw.type.slice(1)];
            const name = source?.metric?.name ?? source?.name ?? "?";
            return { type: "Other", name: String(name), description: `${raw.type} metric (not simulated)` };
        }
        default:
            problems.add(`${field}.type`, raw?.type, "Resource, Pods, Object, External or ContainerResource");
            return { type: "Other", name: "?", description: "unknown metric type" };
    }
}

/**
 * Normalizes an autoscaling/v2 HorizontalPodAutoscaler object (`{ metadata, spec }`, as registered
 * or as a manifest); throws one error listing every invalid field.
 */
export function readAutoscaler(object: any): Autoscaler {
    const problems = new Problems();
    const name = String(object?.metadata?.name ?? "(unnamed)");
    const spec = object?.spec ?? {};
    const minReplicas = spec.minReplicas ?? 1;
    if (!isWhole(minReplicas, 1)) {
        // minReplicas 0 needs the HPAScaleToZero alpha gate; the simulator does not model it.
        problems.add("spec.minReplicas", spec.minReplicas, "a whole number of at least 1");
    }
    if (!isWhole(spec.maxReplicas, 1)) {
        problems.add("spec.maxReplicas", spec.maxReplicas, "a whole number of at least 1");
    } else if (isWhole(minReplicas, 1) && spec.maxReplicas < minReplicas) {
        problems.add("spec.maxReplicas", spec.maxReplicas, `at least minReplicas (${minReplicas})`);
    }
    const rawMetrics: any[] = spec.metrics ?? [];
    if (!Array.isArray(rawMetrics)) {
        problems.add("spec.metrics", spec.metrics, "a list of metrics");
    }
    const metrics: MetricSource[] =
        Array.isArray(rawMetrics) && rawMetrics.length > 0
            ? rawMetrics.map((m, i) => readMetric(m, `spec.metrics[${i}]`, problems))
            : [{ type: "Resource", name: "cpu", target: { type: "Utilization", averageUtilization: 80 } }];
    const behavior =
        spec.behavior === undefined || spec.behavior === null
            ? undefined
            : {
                  scaleUp: readRules(spec.behavior.scaleUp, "spec.behavior.scaleUp", defaultScaleUp, problems),
                  scaleDown: readRules(spec.behavior.scaleDown, "spec.behavior.scaleDown", defaultScaleDown, problems),
              };
    if (problems.list.length > 0) {
        throw new Error(`HorizontalPodAutoscaler ${name} has ${problems.list.length} problem(s):\n  - ${problems.list.join("\n  - ")}`);
    }
    const ref = spec.scaleTargetRef ?? {};
    return { name, target: `${ref.kind ?? "?"}/${ref.name ?? "?"}`, minReplicas, maxReplicas: spec.maxReplicas, metrics, behavior };
}

/** One line per metric, for reports: `Pods http_requests_per_second AverageValue 1000`. */
export function describeMetric(metric: MetricSource): string {
    if (metric.type === "Other") {
        return `${metric.name}: ${metric.description}`;
    }
    const target = metric.target.type === "Utilization" ? `${metric.target.averageUtilization}% of requests` : `${metric.target.averageValue} per pod`;
    return `${metric.type} ${metric.name}: ${target}`;
}

/** One line per direction, for reports. */
export function describeRules(rules: ScalingRules): string {
    const window = rules.stabilizationWindowSeconds === undefined ? "controller default" : `${rules.stabilizationWindowSeconds} s`;
    const policies = rules.policies.map((p) => `${p.type === "Pods" ? `${p.value} pods` : `${p.value}%`} per ${p.periodSeconds} s`).join(", ");
    return `stabilization ${window}; ${rules.selectPolicy === "Disabled" ? "disabled" : `${rules.selectPolicy} of ${policies}`}`;
}
