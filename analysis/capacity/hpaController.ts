/**
 * The HorizontalPodAutoscaler controller's decision, step by step as kube-controller-manager
 * computes it (kubernetes/kubernetes pkg/controller/podautoscaler): the per-metric replica count
 * (replica_calculator.go), then the stabilization windows and the scaling policies
 * (horizontal.go). Time is in seconds; the window and period comparisons keep the controller's
 * strict `After`/`Before`, so that an event exactly `periodSeconds` old no longer counts.
 *
 * Modelled: tolerance, not-yet-ready pods on scale-up (counted as 0, as the controller does),
 * integer metric arithmetic (milli-units, whole-percent utilization), several metrics (largest
 * proposal wins), min/max, stabilization, policies with periods and selectPolicy, the older path
 * for HPAs without `behavior`. Not modelled: pods missing metrics, the CPU initialization period and
 * initial readiness delay (every starting pod counts as not ready), scale to zero, configurable
 * per-direction tolerances (alpha in 1.33).
 */
import { Autoscaler, ScalingRules } from "./hpaSpec";

/** kube-controller-manager flags that shape the decision, at their defaults. */
export interface ControllerFlags {
    /** --horizontal-pod-autoscaler-tolerance */
    tolerance: number;
    /** --horizontal-pod-autoscaler-downscale-stabilization, seconds */
    downscaleStabilizationSeconds: number;
    /** --horizontal-pod-autoscaler-sync-period, seconds */
    syncPeriodSeconds: number;
}

export const defaultFlags: ControllerFlags = { tolerance: 0.1, downscaleStabilizationSeconds: 300, syncPeriodSeconds: 15 };

/** Tolerances.isWithin (replica_calculator.go): inclusive at both ends. */
export function isWithinTolerance(usageRatio: number, tolerance: number): boolean {
    return 1.0 - tolerance <= usageRatio && usageRatio <= 1.0 + tolerance;
}

/**
 * calcPlainMetricReplicas (replica_calculator.go) for a Pods or raw Resource metric, without pods
 * missing metrics: `readyValues` are the ready pods' values in milli-units (whole numbers), and
 * `unreadyPods` the pods that are not ready yet (set aside; counted as 0 on a scale-up).
 * Returns undefined where the controller reports an error (no ready pod has a metric).
 */
export function plainMetricReplicas(currentReplicas: number, readyValues: number[], unreadyPods: number, targetMilli: number, tolerance: number): number | undefined {
    if (readyValues.length === 0) {
        return undefined; // "did not receive metrics for targeted pods (pods might be unready)"
    }
    const usageRatio = (values: number[]) => Math.trunc(values.reduce((a, b) => a + b, 0) / values.length) / targetMilli; // GetMetricUsageRatio
    const ratio = usageRatio(readyValues);
    const scaleUpWithUnready = unreadyPods > 0 && ratio > 1.0;
    if (!scaleUpWithUnready) {
        return isWithinTolerance(ratio, tolerance) ? currentReplicas : Math.ceil(ratio * readyValues.length);
    }
    const withUnready = [...readyValues, ...new Array<number>(unreadyPods).fill(0)];
    return recomputed(currentReplicas, ratio, usageRatio(withUnready), withUnready.length, tolerance);
}

/**
 * GetResourceReplicas (replica_calculator.go) for a Utilization target: `readyUsage` and
 * `readyRequests` per ready pod (e.g. millicores), `unreadyRequests` for the pods not ready yet.
 */
export function utilizationReplicas(
    currentReplicas: number,
    readyUsage: number[],
    readyRequests: number[],
    unreadyRequests: number[],
    targetUtilization: number,
    tolerance: number,
): number | undefined {
    if (readyUsage.length === 0) {
        return undefined;
    }
    const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
    // GetResourceUtilizationRatio: whole-percent utilization (int32 of an integer division).
    const ratio = (usage: number[], requests: number[]) => Math.trunc((sum(usage) * 100) / sum(requests)) / targetUtilization;
    const usageRatio = ratio(readyUsage, readyRequests);
    const scaleUpWithUnready = unreadyRequests.length > 0 && usageRatio > 1.0;
    if (!scaleUpWithUnready) {
        return isWithinTolerance(usageRatio, tolerance) ? currentReplicas : Math.ceil(usageRatio * readyUsage.length);
    }
    const usage = [...readyUsage, ...unreadyRequests.map(() => 0)];
    const newRatio = ratio(usage, [...readyRequests, ...unreadyRequests]);
    return recomputed(currentReplicas, usageRatio, newRatio, usage.length, tolerance);
}

/** The tail both calculators share once not-ready pods are counted in. */
function recomputed(currentReplicas: number, usageRatio: number, newUsageRatio: number, podsCounted: number, tolerance: number): number {
    if (isWithinTolerance(newUsageRatio, tolerance) || (usageRatio < 1.0 && newUsageRatio > 1.0) || (usageRatio > 1.0 && newUsageRatio < 1.0)) {
        return currentReplicas; // too small a change, or the direction would flip
    }
    const newReplicas = Math.ceil(newUsageRatio * podsCounted);
    if ((newUsageRatio < 1.0 && newReplicas > currentReplicas) || (newUsageRatio > 1.0 && newReplicas < currentReplicas)) {
        return currentReplicas;
    }
    return newReplicas;
}

interface Recommendation {
    time: number;
    replicas: number;
}
interface ScaleEvent {
    time: number;
    change: number;
    outdated: boolean;
}

/** What one sync decided. */
export interface Decision {
    /** The replica count the controller sets (equal to the current one when it does not rescale). */
    replicas: number;
    /** Why, in the controller's condition vocabulary where it has one. */
    reason: string;
}

/**
 * One HPA's controller state (recommendations and scale events live in kube-controller-manager's
 * memory, per HPA) and its reconcile step.
 */
export class HorizontalController {
    private readonly recommendations: Recommendation[] = [];
    private readonly scaleUpEvents: ScaleEvent[] = [];
    private readonly scaleDownEvents: ScaleEvent[] = [];
    readonly flags: ControllerFlags;

    constructor(
        readonly hpa: Autoscaler,
        flags: Partial<ControllerFlags> = {},
    ) {
        this.flags = { ...defaultFlags, ...flags };
    }

    /**
     * reconcileAutoscaler at `now` with the target's `currentReplicas` (spec.replicas) and the
     * per-metric proposals (undefined for a metric the controller could not compute).
     */
    reconcile(now: number, currentReplicas: number, proposals: Array<number | undefined>): Decision {
        const { minReplicas, maxReplicas } = this.hpa;
        let decision: Decision;
        if (currentReplicas > maxReplicas) {
            decision = { replicas: maxReplicas, reason: "current replicas above maxReplicas" };
        } else if (currentReplicas < minReplicas) {
            decision = { replicas: minReplicas, reason: "current replicas below minReplicas" };
        } else {
            const valid = proposals.filter((p): p is number => p !== undefined);
            if (valid.length === 0) {
                return { replicas: currentReplicas, reason: "no metric could be computed (ScalingActive false)" };
            }
            // computeReplicasForMetrics: the largest proposal wins; with an invalid metric, no scale-down.
            const metricReplicas = Math.max(0, ...valid);
            if (valid.length < proposals.length && metricReplicas < currentReplicas) {
                return { replicas: currentReplicas, reason: "a metric is invalid and the others suggest a scale-down" };
            }
            decision = this.hpa.behavior
                ? this.normalizeWithBehaviors(now, currentReplicas, metricReplicas)
                : this.normalizeWithoutBehavior(now, currentReplicas, metricReplicas);
        }
        if (decision.replicas !== currentReplicas) {
            this.storeScaleEvent(now, currentReplicas, decision.replicas);
        }
        return decision;
    }

    /** normalizeDesiredReplicasWithBehaviors: stabilize, then limit the rate. */
    private normalizeWithBehaviors(now: number, currentReplicas: number, desired: number): Decision {
        const stabilized = this.stabilizeWithBehaviors(now, currentReplicas, desired);
        return this.limitRate(now, currentReplicas, stabilized);
    }

    private windowOf(rules: ScalingRules): number {
        // maybeInitScaleDownStabilizationWindow: an unset window takes the controller's flag.
        return rules.stabilizationWindowSeconds ?? this.flags.downscaleStabilizationSeconds;
    }

    /**
     * stabilizeRecommendationWithBehaviors: the lowest recommendation of the scale-up window caps
     * a rise, the highest of the scale-down window caps a fall; then records this recommendation.
     */
    private stabilizeWithBehaviors(now: number, currentReplicas: number, desired: number): number {
        const behavior = this.hpa.behavior!;
        const upCutoff = now - this.windowOf(behavior.scaleUp);
        const downCutoff = now - this.windowOf(behavior.scaleDown);
        let up = desired;
        let down = desired;
        let oldIndex = -1;
        this.recommendations.forEach((rec, i) => {
            if (rec.time > upCutoff) {
                up = Math.min(rec.replicas, up);
            }
            if (rec.time > downCutoff) {
                down = Math.max(rec.replicas, down);
            }
            if (rec.time < upCutoff && rec.time < downCutoff) {
                oldIndex = i;
            }
        });
        let recommendation = currentReplicas;
        if (recommendation < up) {
            recommendation = up;
        }
        if (recommendation > down) {
            recommendation = down;
        }
        this.record(oldIndex, { time: now, replicas: desired });
        return recommendation;
    }

    /** convertDesiredReplicasWithBehaviorRate: the policies' limit, then min/max. */
    private limitRate(now: number, currentReplicas: number, desired: number): Decision {
        const { minReplicas, maxReplicas, behavior } = this.hpa;
        if (desired > currentReplicas) {
            const scaleUpLimit = Math.max(currentReplicas, this.scaleUpLimit(now, currentReplicas, behavior!.scaleUp));
            const allowed = Math.min(maxReplicas, scaleUpLimit);
            if (desired > allowed) {
                return { replicas: allowed, reason: allowed < maxReplicas ? "ScaleUpLimit" : "TooManyReplicas" };
            }
        } else if (desired < currentReplicas) {
            const scaleDownLimit = Math.min(currentReplicas, this.scaleDownLimit(now, currentReplicas, behavior!.scaleDown));
            const allowed = Math.max(minReplicas, scaleDownLimit);
            if (desired < allowed) {
                return { replicas: allowed, reason: allowed > minReplicas ? "ScaleDownLimit" : "TooFewReplicas" };
            }
        }
        return { replicas: desired, reason: "DesiredWithinRange" };
    }

    /** getReplicasChangePerPeriod: the changes of events strictly newer than `now - periodSeconds`. */
    private changeInPeriod(now: number, periodSeconds: number, events: ScaleEvent[]): number {
        return events.filter((e) => e.time > now - periodSeconds).reduce((sum, e) => sum + e.change, 0);
    }

    /** The replica count at the start of a policy's period: the limit is relative to it, not to now. */
    private periodStart(now: number, currentReplicas: number, periodSeconds: number): number {
        return currentReplicas - this.changeInPeriod(now, periodSeconds, this.scaleUpEvents) + this.changeInPeriod(now, periodSeconds, this.scaleDownEvents);
    }

    /** calculateScaleUpLimitWithScalingRules */
    private scaleUpLimit(now: number, currentReplicas: number, rules: ScalingRules): number {
        if (rules.selectPolicy === "Disabled") {
            return currentReplicas;
        }
        const proposals = rules.policies.map((policy) => {
            const start = this.periodStart(now, currentReplicas, policy.periodSeconds);
            // Rounded up, or a small Percent would never add a pod.
            return policy.type === "Pods" ? start + policy.value : Math.ceil(start * (1 + policy.value / 100));
        });
        return rules.selectPolicy === "Min" ? Math.min(...proposals) : Math.max(...proposals);
    }

    /** calculateScaleDownLimitWithBehaviors */
    private scaleDownLimit(now: number, currentReplicas: number, rules: ScalingRules): number {
        if (rules.selectPolicy === "Disabled") {
            return currentReplicas;
        }
        const proposals = rules.policies.map((policy) => {
            const start = this.periodStart(now, currentReplicas, policy.periodSeconds);
            // int32(float64(start) * (1 - value/100)): truncated, so the pods removed round up.
            return policy.type === "Pods" ? start - policy.value : Math.trunc(start * (1 - policy.value / 100));
        });
        // Max means the biggest change, which on the way down is the smallest replica count.
        return rules.selectPolicy === "Min" ? Math.max(...proposals) : Math.min(...proposals);
    }

    /**
     * normalizeDesiredReplicas, for an HPA without `behavior`: the highest recommendation of the
     * downscale window (stabilizeRecommendation), then min and a scale-up limit of
     * max(2 x current, 4) per sync (convertDesiredReplicasWithRules).
     */
    private normalizeWithoutBehavior(now: number, currentReplicas: number, desired: number): Decision {
        const cutoff = now - this.flags.downscaleStabilizationSeconds;
        let stabilized = desired;
        let oldIndex = -1;
        this.recommendations.forEach((rec, i) => {
            if (rec.time < cutoff) {
                oldIndex = i;
            } else if (rec.replicas > stabilized) {
                stabilized = rec.replicas;
            }
        });
        this.record(oldIndex, { time: now, replicas: desired });
        const scaleUpLimit = Math.trunc(Math.max(2 * currentReplicas, 4));
        const allowed = Math.min(this.hpa.maxReplicas, scaleUpLimit);
        if (stabilized < this.hpa.minReplicas) {
            return { replicas: this.hpa.minReplicas, reason: "TooFewReplicas" };
        }
        if (stabilized > allowed) {
            return { replicas: allowed, reason: allowed < this.hpa.maxReplicas ? "ScaleUpLimit" : "TooManyReplicas" };
        }
        return { replicas: stabilized, reason: "DesiredWithinRange" };
    }

    /** Records a recommendation in place of an old one when there is one, as the controller does. */
    private record(oldIndex: number, recommendation: Recommendation): void {
        if (oldIndex >= 0) {
            this.recommendations[oldIndex] = recommendation;
        } else {
            this.recommendations.push(recommendation);
        }
    }

    /** storeScaleEvent: only with `behavior`; reuses a slot older than the direction's longest period. */
    private storeScaleEvent(now: number, previous: number, next: number): void {
        const behavior = this.hpa.behavior;
        if (!behavior) {
            return;
        }
        const up = next > previous;
        const events = up ? this.scaleUpEvents : this.scaleDownEvents;
        const longest = Math.max(0, ...(up ? behavior.scaleUp : behavior.scaleDown).policies.map((p) => p.periodSeconds));
        let oldIndex = -1;
        events.forEach((event, i) => {
            if (event.time < now - longest) {
                event.outdated = true;
            }
            if (event.outdated) {
                oldIndex = i;
            }
        });
        const event = { time: now, change: Math.abs(next - previous), outdated: false };
        if (oldIndex >= 0) {
            events[oldIndex] = event;
        } else {
            events.push(event);
        }
    }
}
