/**
 * The capacity simulator: reading HPAs (the program's, or a manifest such as the seed's), replaying
 * load profiles, the command line and the chart.
 */
import * as assert from "assert";
import { parseCapacityArgs, seedClaimText, timeToCapacityText } from "../cli/capacity";
import { readAutoscaler } from "../analysis/capacity/hpaSpec";
import { parseQuantity } from "../lib/quantity";
import { averageLoad, csvProfile, excessOver, loadAt, LoadModel, rampProfile, simulate, spikeProfile, stepProfile } from "../analysis/capacity/simulation";
import { findApiHpa, readHpaManifest, seedHpaManifest, stackAutoscaler } from "../analysis/capacity/stackHpa";
import { plotSimulation } from "../analysis/capacity/svgPlot";
import { ProgramRun } from "../harness/mockProgram";
import { shippedStacks, stackConfig } from "../harness/stackConfig";

const requests: LoadModel[] = [{ type: "Pods", metric: "http_requests_per_second", perRequest: 1 }];
const seed = (stack: string) => readHpaManifest(seedHpaManifest(stack));

describe("capacity: reading an HPA", () => {
    it("reads the seed's HPA for every stack: its replica range, targets and behavior", () => {
        const ranges = { local: [1, 3], staging: [3, 20], production: [10, 100] } as Record<string, number[]>;
        for (const stack of shippedStacks) {
            const hpa = seed(stack);
            assert.deepStrictEqual([hpa.minReplicas, hpa.maxReplicas], ranges[stack], stack);
            assert.strictEqual(hpa.target, "Deployment/healthcare-api");
            assert.deepStrictEqual(
                hpa.metrics.map((m) => [m.type, m.name, m.type === "Other" ? undefined : m.target]),
                [
                    ["Resource", "cpu", { type: "Utilization", averageUtilization: 70 }],
                    ["Resource", "memory", { type: "Utilization", averageUtilization: 80 }],
                    ["Pods", "http_requests_per_second", { type: "AverageValue", averageValue: 1000 }],
                    ["Pods", "active_appointments_count", { type: "AverageValue", averageValue: 500 }],
                ],
            );
            assert.deepStrictEqual(hpa.behavior?.scaleUp, {
                stabilizationWindowSeconds: 30,
                selectPolicy: "Max",
                policies: [
                    { type: "Pods", value: 5, periodSeconds: 60 },
                    { type: "Percent", value: 100, periodSeconds: 60 },
                ],
            });
            assert.deepStrictEqual(hpa.behavior?.scaleDown, {
                stabilizationWindowSeconds: 300,
                selectPolicy: "Min",
                policies: [
                    { type: "Percent", value: 50, periodSeconds: 60 },
                    { type: "Pods", value: 2, periodSeconds: 60 },
                ],
            });
        }
    });

    it("applies the API's defaults: minReplicas 1, CPU 80% without metrics, default rules for a direction left out", () => {
        const hpa = readAutoscaler({ metadata: { name: "x" }, spec: { maxReplicas: 5, behavior: { scaleDown: { stabilizationWindowSeconds: 60 } } } });
        assert.strictEqual(hpa.minReplicas, 1);
        assert.deepStrictEqual(hpa.metrics, [{ type: "Resource", name: "cpu", target: { type: "Utilization", averageUtilization: 80 } }]);
        assert.deepStrictEqual(hpa.behavior?.scaleUp.policies, [
            { type: "Pods", value: 4, periodSeconds: 15 },
            { type: "Percent", value: 100, periodSeconds: 15 },
        ]);
        assert.deepStrictEqual(hpa.behavior?.scaleDown, { stabilizationWindowSeconds: 60, selectPolicy: "Max", policies: [{ type: "Percent", value: 100, periodSeconds: 15 }] });
        assert.strictEqual(readAutoscaler({ spec: { maxReplicas: 5 } }).behavior, undefined, "no behavior: the controller's older path");
    });

    it("lists every invalid field at once, naming the field, the value and what is expected", () => {
        assert.throws(
            () =>
                readAutoscaler({
                    metadata: { name: "bad" },
                    spec: {
                        minReplicas: 5,
                        maxReplicas: 2,
                        metrics: [{ type: "Pods", pods: { metric: { name: "rps" }, target: { type: "AverageValue", averageValue: "lots" } } }],
                        behavior: { scaleUp: { selectPolicy: "Fastest", policies: [{ type: "Pods", value: 0, periodSeconds: 4000 }] } },
                    },
                }),
            (error: Error) => {
                for (const expected of [
                    'spec.maxReplicas = 2 is invalid; expected at least minReplicas (5)',
                    'spec.metrics[0].pods.target.averageValue = "lots" is invalid',
                    'spec.behavior.scaleUp.selectPolicy = "Fastest" is invalid; expected Max, Min or Disabled',
                    "spec.behavior.scaleUp.policies[0].value = 0 is invalid",
                    "spec.behavior.scaleUp.policies[0].periodSeconds = 4000 is invalid; expected a whole number of seconds from 1 to 1800",
                ]) {
                    assert.ok(error.message.includes(expected), `missing "${expected}" in:\n${error.message}`);
                }
                return error.message.startsWith("HorizontalPodAutoscaler bad has 5 problem(s)");
            },
        );
    });

    it("parses Kubernetes quantities as the targets use them", () => {
        assert.deepStrictEqual(["1000", "1k", "500m", "1.5", "2Ki", "1e3", 7].map(parseQuantity), [1000, 1000, 0.5, 1.5, 2048, 1000, 7]);
        assert.deepStrictEqual(["", "1 k", "k", "1kb"].map(parseQuantity), [undefined, undefined, undefined, undefined]);
    });

    it("finds the API's HPA among the registered resources by type and name, and says clearly when there is none", () => {
        const manifest = { metadata: { name: "healthcare-api" }, spec: { scaleTargetRef: { kind: "Deployment", name: "healthcare-api" }, maxReplicas: 4 } };
        const withHpa = fakeRun([{ type: "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", name: "healthcare-api", inputs: manifest }]);
        assert.strictEqual(findApiHpa(withHpa, "production").inputs.spec.maxReplicas, 4);
        assert.throws(
            () => findApiHpa(fakeRun([]), "production"),
            /stack production: the program registers no kubernetes:autoscaling\/v2:HorizontalPodAutoscaler named healthcare-api \(HPAs registered: none\), so there is no HPA to simulate\. .*--hpa <file> \(the seed's: tests\/fixtures\/hpa\/seed-production\.yaml\)/,
        );
    });

    for (const stack of shippedStacks) {
        it(`reads the ${stack} program's own HPA: the stack's replica range, on healthcare-api, scaling on requests per second`, async () => {
            const { autoscaler, source } = await stackAutoscaler(stack);
            const config = stackConfig(stack);
            assert.strictEqual(source, "the program");
            assert.strictEqual(autoscaler.target, "Deployment/healthcare-api");
            assert.deepStrictEqual([autoscaler.minReplicas, autoscaler.maxReplicas], [Number(config["healthcare-backend:apiMinReplicas"]), Number(config["healthcare-backend:apiMaxReplicas"])]);
            assert.ok(autoscaler.metrics.some((m) => m.type === "Pods" && m.name === "http_requests_per_second"), JSON.stringify(autoscaler.metrics));
        });
    }

    it("fails clearly for a stack whose program registers no HPA (apiHpaEnabled false)", async () => {
        await assert.rejects(
            stackAutoscaler("staging", undefined, { apiHpaEnabled: false }),
            /^Error: stack staging: the program registers no kubernetes:autoscaling\/v2:HorizontalPodAutoscaler named healthcare-api \(HPAs registered: none\)/,
        );
    });
});

/** A ProgramRun holding only `resources`. */
function fakeRun(resources: Array<{ type: string; name: string; inputs: any }>): ProgramRun {
    const captured = resources.map((r) => ({ ...r, provider: "", custom: true, options: { protect: false, retainOnDelete: false, ignoreChanges: [], dependsOn: [] } }));
    return {
        resources: captured,
        outputs: {},
        ofType: (type) => captured.filter((r) => r.type === type),
        get: () => {
            throw new Error("not used");
        },
    };
}

describe("capacity: load profiles", () => {
    it("step, ramp and spike follow their description, with the jump at the rise time", () => {
        const step = stepProfile(100, 1000, 60, 600);
        assert.deepStrictEqual([0, 59, 60, 599].map((t) => loadAt(step, t)), [100, 100, 1000, 1000]);
        const ramp = rampProfile(100, 1100, 60, 100, 600);
        assert.deepStrictEqual([60, 110, 160, 500].map((t) => loadAt(ramp, t)), [100, 600, 1100, 1100]);
        const spike = spikeProfile(100, 1000, 60, 120, 600);
        assert.deepStrictEqual([59, 60, 179, 180].map((t) => loadAt(spike, t)), [100, 1000, 1000, 100]);
    });

    it("integrates exactly: window averages and requests above a capacity", () => {
        const step = stepProfile(100, 1000, 60, 600);
        assert.strictEqual(averageLoad(step, 30, 90), 550);
        assert.strictEqual(excessOver(step, 0, 120, 400), 600 * 60);
        const ramp = rampProfile(0, 1000, 0, 100, 200);
        // The part of the ramp above 500: a triangle of 50 s x 500 req/s.
        assert.strictEqual(excessOver(ramp, 0, 100, 500), 12500);
        assert.strictEqual(excessOver(ramp, 0, 1, 0), 5);
    });

    it("reads a CSV profile and rejects bad lines with their numbers", () => {
        const profile = csvProfile("p.csv", "seconds,rps\n0,100\n30,100\n90,700\n");
        assert.deepStrictEqual([profile.riseStart, loadAt(profile, 60)], [30, 400]);
        assert.throws(() => csvProfile("q.csv", "0,100\n20,x\n30,5\n10,5\n"), /line 2 "20,x" is invalid.*line 4 "10,5" is invalid/);
    });
});

describe("capacity: simulation", () => {
    it("replays the worked example: production, 10x spike, the metric at the instant, 30 s start-up", () => {
        // By hand: at 60 s the 30 s scale-up window still holds the quiet recommendation (5); at 75 s
        // the proposal is 50 and the policy allows 20 (100% of 10); the next step waits until the
        // first is 60 s old (135 s: 40), then 195 s: 50, ready 30 s later at 225 s: 165 s after the
        // spike. Above capacity: 40k x 45 s + 30k x 60 s + 10k x 60 s.
        const result = simulate({ hpa: seed("production"), load: spikeProfile(5000, 50000, 60, 600, 900), models: requests, startupSeconds: 30, metricWindowSeconds: 0 });
        const changes = result.syncs.filter((s) => s.decision.replicas !== s.before).map((s) => [s.t, s.decision.replicas]);
        assert.deepStrictEqual(changes, [
            [75, 20],
            [135, 40],
            [195, 50],
        ]);
        assert.strictEqual(result.timeToCapacity, 165);
        assert.strictEqual(result.requestsAboveCapacity, 40000 * 45 + 30000 * 60 + 10000 * 60);
        assert.strictEqual(result.peakCapacity, 100_000);
    });

    it("scales down only after the 300 s window, by 2 pods a minute (selectPolicy Min of 50% and 2 pods)", () => {
        const result = simulate({ hpa: seed("production"), load: spikeProfile(5000, 50000, 60, 600, 1500), models: requests, startupSeconds: 30, metricWindowSeconds: 0 });
        const downs = result.syncs.filter((s) => s.decision.replicas < s.before);
        assert.strictEqual(downs[0].t, 660 + 300 - 15, "the last high recommendation (645 s) leaves the window at 945 s");
        assert.ok(downs.every((s, i) => s.before - s.decision.replicas === 2 && (i === 0 || s.t - downs[i - 1].t === 60)));
    });

    it("takes longer with a metric window and with a longer start-up, never less", () => {
        const ttc = (window: number, startup: number) =>
            simulate({ hpa: seed("production"), load: spikeProfile(5000, 50000, 60, 600, 900), models: requests, startupSeconds: startup, metricWindowSeconds: window }).timeToCapacity!;
        assert.ok(ttc(60, 30) > ttc(0, 30), `window: ${ttc(60, 30)} vs ${ttc(0, 30)}`);
        assert.ok(ttc(60, 120) >= ttc(60, 30) + 90, `start-up: ${ttc(60, 120)} vs ${ttc(60, 30)}`);
    });

    it("never reaches a peak above maxReplicas x the per-pod target, and says so", () => {
        const result = simulate({ hpa: seed("local"), load: spikeProfile(500, 5000, 60, 600, 900), models: requests, startupSeconds: 30, metricWindowSeconds: 60 });
        assert.strictEqual(result.timeToCapacity, undefined);
        assert.strictEqual(Math.max(...result.timeline.map((s) => s.replicas)), 3);
        assert.strictEqual(timeToCapacityText(result), "never: the peak 5,000 req/s exceeds the peak capacity 3,000 req/s");
    });

    it("can settle inside the tolerance band, short of the target, and says so (staging, 2-minute metric window)", () => {
        // The window average rises slowly; at 14 pods 15,000 req/s is 1071 per pod, a ratio of 1.071:
        // inside the 10% tolerance, so the controller adds nothing more.
        const result = simulate({ hpa: seed("staging"), load: spikeProfile(1500, 15000, 60, 600, 900), models: requests, startupSeconds: 30, metricWindowSeconds: 120 });
        assert.strictEqual(result.timeToCapacity, undefined);
        assert.deepStrictEqual(result.atPeakEnd.ready, 14);
        assert.strictEqual(timeToCapacityText(result), "never at the target: settles at 14 pods, 7.1% above it (inside the 10% tolerance)");
    });

    it("lets the largest proposal win when CPU is driven too and reaches its 70% first (0.8 millicores per request/s on 1 CPU: at 875 req/s)", () => {
        // 1 CPU requested, 0.7 millicores per request/s: 70% at exactly 1000 req/s per pod, same as the
        // request target; at 0.8 millicores CPU reaches 70% at 875 req/s and drives the scale-up.
        const cpu = (m: number): LoadModel => ({ type: "cpu", millicoresPerRequest: m, requestMillicores: 1000 });
        const run = (models: LoadModel[]) => simulate({ hpa: seed("production"), load: stepProfile(5000, 40000, 60, 600), models, startupSeconds: 30, metricWindowSeconds: 0 });
        const both = run([...requests, cpu(0.8)]);
        assert.strictEqual(both.perPodCapacity, 875);
        assert.deepStrictEqual(both.driven.map((m) => m.name), ["cpu", "http_requests_per_second"]);
        assert.ok(Math.max(...both.timeline.map((s) => s.replicas)) > Math.max(...run(requests).timeline.map((s) => s.replicas)));
    });

    it("refuses an HPA the load cannot drive, naming its metrics", () => {
        const cpuOnly = readAutoscaler({ metadata: { name: "cpu-only" }, spec: { maxReplicas: 5 } });
        assert.throws(() => simulate({ hpa: cpuOnly, load: stepProfile(1, 2, 1, 10), models: requests, startupSeconds: 0, metricWindowSeconds: 0 }), /cpu-only has no metric the load drives \(Pods metric http_requests_per_second\); its metrics: cpu/);
    });

    it("compares peak capacity with the seed's claims", () => {
        const result = simulate({ hpa: seed("production"), load: stepProfile(5000, 5000, 0, 30), models: requests, startupSeconds: 30, metricWindowSeconds: 60 });
        assert.strictEqual(
            seedClaimText(result, 100),
            'peak capacity 100 pods x 1,000 req/s = 100,000 req/s; seed: up to 100 API pods at 1,000 req/s = 100,000 req/s (reached); "1M+ users": 1,000,000 users fit only if each averages at most 0.1 req/s (one request every 10 s)',
        );
    });
});

describe("capacity: command line and chart", () => {
    it("parses options and reports every bad one at once", () => {
        const options = parseCapacityArgs(["--stack", "staging", "--load", "ramp", "--startup", "45", "--factor", "4"]);
        assert.deepStrictEqual([options.stack, options.load, options.startup, options.factor, options.metricWindow], ["staging", "ramp", [45], 4, 60]);
        assert.throws(
            () => parseCapacityArgs(["--stack", "prod", "--load", "wave", "--startup", "-3", "--sync", "0.5", "--colour", "red"]),
            (error: Error) =>
                ["--stack prod is invalid", "--load wave is invalid", "--startup -3 is invalid", "--sync 0.5 is invalid", "unknown option --colour"].every((m) => error.message.includes(m)),
        );
        assert.throws(() => parseCapacityArgs([]), /--stack is required/);
    });

    it("draws load, capacity and replicas over the whole run, and marks the time to capacity", () => {
        const result = simulate({ hpa: seed("production"), load: spikeProfile(5000, 50000, 60, 600, 900), models: requests, startupSeconds: 30, metricWindowSeconds: 0 });
        const svg = plotSimulation(result, "production", "spike");
        assert.ok(svg.startsWith("<svg") && svg.trim().endsWith("</svg>"));
        for (const id of ["load", "capacity", "replicas"]) {
            const points = new RegExp(`<polyline id="${id}"[^>]* points="([^"]+)"`).exec(svg)?.[1].split(" ") ?? [];
            assert.strictEqual(points.length, id === "load" ? 900 : 1800, id);
        }
        assert.ok(svg.includes("capacity reached after 165 s"));
        assert.strictEqual((svg.match(/<text/g) ?? []).length, (svg.match(/<\/text>/g) ?? []).length);
    });
});
