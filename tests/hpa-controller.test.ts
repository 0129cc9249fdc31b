/**
 * The simulator's HPA controller against worked examples. Sources, cited per example:
 * - docs: kubernetes/website content/en/docs/tasks/run-application/horizontal-pod-autoscale.md
 * - calculator tests: kubernetes/kubernetes pkg/controller/podautoscaler/replica_calculator_test.go
 *   (same inputs, same expected replica counts)
 * - code: kubernetes/kubernetes pkg/controller/podautoscaler/horizontal.go and replica_calculator.go;
 *   where the docs simplify (a policy's period), the expected values follow the code and say so.
 */
import * as assert from "assert";
import { HorizontalController, isWithinTolerance, plainMetricReplicas, utilizationReplicas } from "../analysis/capacity/hpaController";
import { readAutoscaler } from "../analysis/capacity/hpaSpec";

const tolerance = 0.1;

/** An HPA between min and max with the given behavior (omit it for the controller's older path). */
const hpa = (minReplicas: number, maxReplicas: number, behavior?: object) =>
    readAutoscaler({ metadata: { name: "example" }, spec: { scaleTargetRef: { kind: "Deployment", name: "example" }, minReplicas, maxReplicas, behavior } });

/** Scale-down rules that never hold anything back: isolates the scale-up side, and vice versa. */
const freeDown = { stabilizationWindowSeconds: 0, policies: [{ type: "Percent", value: 100, periodSeconds: 15 }] };
const freeUp = { stabilizationWindowSeconds: 0, policies: [{ type: "Percent", value: 1000, periodSeconds: 15 }] };

/** Runs syncs every 15 s with one proposal each; returns the replica count after each. */
function run(controller: HorizontalController, start: number, proposals: number[], every = 15): number[] {
    let current = start;
    return proposals.map((proposal, i) => {
        current = controller.reconcile(i * every, current, [proposal]).replicas;
        return current;
    });
}

describe("HPA controller: per-metric replica count (replica_calculator.go)", () => {
    it("doubles for 200m against a 100m target and halves for 50m (docs, Algorithm details)", () => {
        assert.strictEqual(plainMetricReplicas(4, [200, 200, 200, 200], 0, 100, tolerance), 8);
        assert.strictEqual(plainMetricReplicas(4, [50, 50, 50, 50], 0, 100, tolerance), 2);
    });

    it("does nothing within the 10% tolerance, inclusive at both ends (docs, Algorithm details; Tolerances.isWithin)", () => {
        assert.ok(isWithinTolerance(1.1, tolerance) && isWithinTolerance(0.9, tolerance));
        assert.ok(!isWithinTolerance(1.101, tolerance) && !isWithinTolerance(0.899, tolerance));
        assert.strictEqual(plainMetricReplicas(10, new Array(10).fill(1_100_000), 0, 1_000_000, tolerance), 10);
        assert.strictEqual(plainMetricReplicas(10, new Array(10).fill(1_101_000), 0, 1_000_000, tolerance), 12);
        assert.strictEqual(plainMetricReplicas(10, new Array(10).fill(899_000), 0, 1_000_000, tolerance), 9);
    });

    it("scales up on CPU utilization: 300m, 500m, 700m of 1 CPU against 30% gives 5 (TestReplicaCalcScaleUp)", () => {
        assert.strictEqual(utilizationReplicas(3, [300, 500, 700], [1000, 1000, 1000], [], 30, tolerance), 5);
    });

    it("sets a not-ready pod aside and counts it as 0 on a scale-up: 4 instead of 5 (TestReplicaCalcScaleUpUnreadyLessScale; docs)", () => {
        // The first pod (300m) is not ready: 60% on the ready pods, then 40% over all three.
        assert.strictEqual(utilizationReplicas(3, [500, 700], [1000, 1000], [1000], 30, tolerance), 4);
    });

    it("scales up on a custom metric: 20, 10, 30 qps against 15 gives 4 (TestReplicaCalcScaleUpCM)", () => {
        assert.strictEqual(plainMetricReplicas(3, [20000, 10000, 30000], 0, 15000, tolerance), 4);
    });

    it("counts a not-ready pod as 0 on a custom-metric scale-up (TestReplicaCalcScaleUpCMUnreadyLessScale)", () => {
        assert.strictEqual(plainMetricReplicas(3, [50000, 10000], 1, 15000, tolerance), 4);
    });

    it("does not scale when the ready pods sit at the target, whatever the not-ready ones do (TestReplicaCalcScaleUpCMUnreadyNoScaleWouldScaleDown)", () => {
        assert.strictEqual(plainMetricReplicas(3, [15000], 2, 15000, tolerance), 3);
    });

    it("scales down: 5 pods at 28% of their CPU against 50% gives 3 (TestReplicaCalcScaleDown), 12 of 20 qps gives 3 (TestReplicaCalcScaleDownCM)", () => {
        assert.strictEqual(utilizationReplicas(5, [100, 300, 500, 250, 250], new Array(5).fill(1000), [], 50, tolerance), 3);
        assert.strictEqual(plainMetricReplicas(5, new Array(5).fill(12000), 0, 20000, tolerance), 3);
    });

    it("ignores not-ready pods on a scale-down: 2 (TestReplicaCalcScaleDownIgnoresUnreadyPods)", () => {
        assert.strictEqual(utilizationReplicas(5, [100, 300, 500], [1000, 1000, 1000], [1000, 1000], 50, tolerance), 2);
    });

    it("stays within the tolerance at 102% of a 100% target, with unequal requests (TestReplicaCalcTolerance) and at 20.666 of 20 qps (TestReplicaCalcToleranceCM)", () => {
        assert.strictEqual(utilizationReplicas(3, [1010, 1030, 1020], [900, 1000, 1100], [], 100, tolerance), 3);
        assert.strictEqual(plainMetricReplicas(3, [20000, 21000, 21000], 0, 20000, tolerance), 3);
    });

    it("reports no count when no ready pod has a metric (calcPlainMetricReplicas: 'did not receive metrics for targeted pods')", () => {
        assert.strictEqual(plainMetricReplicas(3, [], 3, 1000, tolerance), undefined);
    });
});

describe("HPA controller: several metrics (horizontal.go computeReplicasForMetrics)", () => {
    it("takes the largest proposal (docs, Scaling on multiple metrics)", () => {
        const controller = new HorizontalController(hpa(1, 20, { scaleUp: freeUp, scaleDown: freeDown }));
        assert.strictEqual(controller.reconcile(0, 4, [3, 7, 5]).replicas, 7);
    });

    it("skips a scale-down while a metric cannot be computed, but still scales up (docs, Algorithm details)", () => {
        const controller = new HorizontalController(hpa(1, 20, { scaleUp: freeUp, scaleDown: freeDown }));
        assert.strictEqual(controller.reconcile(0, 6, [2, undefined]).replicas, 6);
        assert.strictEqual(controller.reconcile(15, 6, [9, undefined]).replicas, 9);
    });
});

describe("HPA controller: min and max (horizontal.go reconcileAutoscaler, convertDesiredReplicasWithBehaviorRate)", () => {
    it("clamps a proposal to maxReplicas and minReplicas", () => {
        const controller = new HorizontalController(hpa(2, 10, { scaleUp: freeUp, scaleDown: freeDown }));
        assert.deepStrictEqual(controller.reconcile(0, 5, [40]), { replicas: 10, reason: "TooManyReplicas" });
        assert.deepStrictEqual(controller.reconcile(15, 10, [1]), { replicas: 2, reason: "TooFewReplicas" });
    });

    it("brings a target outside min..max back into range without looking at the metrics", () => {
        const controller = new HorizontalController(hpa(2, 10, { scaleUp: freeUp, scaleDown: freeDown }));
        assert.strictEqual(controller.reconcile(0, 14, [30]).replicas, 10);
        assert.strictEqual(controller.reconcile(15, 1, [1]).replicas, 2);
    });
});

describe("HPA controller: scaling policies (horizontal.go calculateScale{Up,Down}Limit*, getReplicasChangePerPeriod)", () => {
    it("adds the larger of 4 pods or 100% every 15 s by default (docs, Default Behavior)", () => {
        const controller = new HorizontalController(hpa(1, 100, { scaleDown: freeDown })); // scaleUp left to the API defaults
        assert.deepStrictEqual(run(controller, 1, [100, 100, 100, 100]), [5, 10, 20, 40]);
    });

    it("limits a scale-up against the replica count at the START of the period, not the current one (seed's policies, 60 s)", () => {
        // 5 pods or 100% per 60 s: from 10, one step to 20; the next doubling only when that step
        // has left the 60 s window (strictly older than 60 s), at t = 60, then 120, 180.
        const controller = new HorizontalController(
            hpa(10, 100, {
                scaleUp: { stabilizationWindowSeconds: 0, selectPolicy: "Max", policies: [{ type: "Pods", value: 5, periodSeconds: 60 }, { type: "Percent", value: 100, periodSeconds: 60 }] },
                scaleDown: freeDown,
            }),
        );
        assert.deepStrictEqual(run(controller, 10, new Array(13).fill(100)), [20, 20, 20, 20, 40, 40, 40, 40, 80, 80, 80, 80, 100]);
    });

    it("removes 8 of 80 pods, then 8 of 72 a period later, then 4 a minute below 40 (docs, Scaling policies: Pods 4 and Percent 10 per 60 s)", () => {
        // The docs: "if there are 80 replicas ... 8 replicas will be reduced. In the next iteration
        // when the number of replicas is 72, 10% of the pods is 7.2 but the number is rounded up to
        // 8". The code applies the limit per period: the next step waits until the first is 60 s old.
        const controller = new HorizontalController(
            hpa(1, 100, {
                scaleUp: freeUp,
                scaleDown: { stabilizationWindowSeconds: 0, policies: [{ type: "Pods", value: 4, periodSeconds: 60 }, { type: "Percent", value: 10, periodSeconds: 60 }] },
            }),
        );
        const perMinute = run(controller, 80, new Array(9).fill(10), 60);
        assert.deepStrictEqual(perMinute, [72, 64, 57, 51, 45, 40, 36, 32, 28]);
        const sameMinute = new HorizontalController(controller.hpa);
        assert.deepStrictEqual(run(sameMinute, 80, [10, 10, 10, 10, 10]), [72, 72, 72, 72, 64]);
    });

    it("selectPolicy Min takes the smaller change: 5 pods of 100, 10% of 40 (docs, Example: limit scale down rate)", () => {
        const down = { stabilizationWindowSeconds: 0, selectPolicy: "Min", policies: [{ type: "Percent", value: 10, periodSeconds: 60 }, { type: "Pods", value: 5, periodSeconds: 60 }] };
        assert.strictEqual(new HorizontalController(hpa(1, 100, { scaleUp: freeUp, scaleDown: down })).reconcile(0, 100, [10]).replicas, 95);
        assert.strictEqual(new HorizontalController(hpa(1, 100, { scaleUp: freeUp, scaleDown: down })).reconcile(0, 40, [10]).replicas, 36);
    });

    it("selectPolicy Min on the way up takes the smaller addition; Max the larger (seed's 5 pods or 100%)", () => {
        const up = (selectPolicy: string) => ({ stabilizationWindowSeconds: 0, selectPolicy, policies: [{ type: "Pods", value: 5, periodSeconds: 60 }, { type: "Percent", value: 100, periodSeconds: 60 }] });
        assert.strictEqual(new HorizontalController(hpa(1, 100, { scaleUp: up("Max"), scaleDown: freeDown })).reconcile(0, 10, [50]).replicas, 20);
        assert.strictEqual(new HorizontalController(hpa(1, 100, { scaleUp: up("Min"), scaleDown: freeDown })).reconcile(0, 10, [50]).replicas, 15);
        assert.strictEqual(new HorizontalController(hpa(1, 100, { scaleUp: up("Max"), scaleDown: freeDown })).reconcile(0, 2, [50]).replicas, 7);
    });

    it("selectPolicy Disabled stops that direction only (docs, Example: disable scale down)", () => {
        const controller = new HorizontalController(hpa(1, 100, { scaleUp: freeUp, scaleDown: { selectPolicy: "Disabled" } }));
        assert.deepStrictEqual(run(controller, 10, [2, 2, 30, 2]), [10, 10, 30, 30]);
    });

    it("rounds a Percent scale-up up, so 10% of 3 pods still adds one (calculateScaleUpLimitWithScalingRules)", () => {
        const up = { stabilizationWindowSeconds: 0, policies: [{ type: "Percent", value: 10, periodSeconds: 15 }] };
        assert.strictEqual(new HorizontalController(hpa(1, 100, { scaleUp: up, scaleDown: freeDown })).reconcile(0, 3, [10]).replicas, 4);
    });

    it("without behavior, scales up at most to max(2 x current, 4) per sync (convertDesiredReplicasWithRules, calculateScaleUpLimit)", () => {
        assert.deepStrictEqual(run(new HorizontalController(hpa(1, 100)), 1, [100, 100, 100, 100]), [4, 8, 16, 32]);
    });
});

describe("HPA controller: stabilization windows (horizontal.go stabilizeRecommendationWithBehaviors)", () => {
    it("scales down to the HIGHEST recommendation of the window (docs, Stabilization window)", () => {
        const controller = new HorizontalController(hpa(1, 100, { scaleUp: freeUp, scaleDown: { stabilizationWindowSeconds: 60, policies: freeDown.policies } }));
        // Recommendations 10, 4, 6, 3, 3, 3, 3: the 10 leaves the window at t = 60, the 6 at t = 90.
        assert.deepStrictEqual(run(controller, 10, [10, 4, 6, 3, 3, 3, 3]), [10, 10, 10, 10, 6, 6, 3]);
    });

    it("scales up to the LOWEST recommendation of the scale-up window: a 30 s window acts on the third high sample", () => {
        const controller = new HorizontalController(hpa(1, 100, { scaleUp: { stabilizationWindowSeconds: 30, policies: freeUp.policies }, scaleDown: freeDown }));
        assert.deepStrictEqual(run(controller, 2, [2, 8, 8, 8]), [2, 2, 8, 8]);
    });

    it("without behavior, holds a scale-down for --horizontal-pod-autoscaler-downscale-stabilization (5 minutes) (docs, Algorithm details)", () => {
        const controller = new HorizontalController(hpa(1, 100));
        const replicas = run(controller, 10, [10, ...new Array(21).fill(2)]);
        // The 10 recorded at t = 0 counts until it is more than 300 s old (stabilizeRecommendation keeps t = cutoff).
        assert.strictEqual(replicas[20], 10, "at t = 300 s");
        assert.strictEqual(replicas[21], 2, "at t = 315 s");
    });
});
