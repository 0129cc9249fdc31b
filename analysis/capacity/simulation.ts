/**
 * Replays a load profile (requests/s over time) through an HPA: every sync period the controller
 * (hpaController.ts) sees the metrics the load produces on the ready pods and sets the replica
 * count; new pods serve only after the start-up delay. Reports replicas over time, the time until
 * the ready pods cover the peak load, and the requests that arrived above capacity meanwhile.
 *
 * The load model, stated:
 * - the load spreads evenly over the ready pods; starting pods serve nothing and report no metric
 *   (the controller sets them aside as not ready and, on a scale-up, counts them as 0);
 * - a driven metric is proportional to the requests per ready pod, averaged over the metric window
 *   (a Prometheus `rate(...[1m])` behind the custom metric; metrics-server's window for CPU);
 * - "capacity" is what the ready pods serve at the HPA's target, ready pods x the per-pod load at
 *   which the first driven metric reaches its target; requests above it are not necessarily lost,
 *   they are served above the target (slower) or queued;
 * - the HPA's other metrics (memory, business metrics) are not driven: assumed low enough never to
 *   be the largest proposal;
 * - scale-down removes the newest pods first (not-ready before ready, as the ReplicaSet does), and
 *   a removed pod stops serving at once; nodes are always available (no cluster-autoscaler delay
 *   beyond the start-up delay).
 */
import { ControllerFlags, Decision, defaultFlags, HorizontalController, plainMetricReplicas, utilizationReplicas } from "./hpaController";
import { Autoscaler, MetricSource } from "./hpaSpec";

/** Requests per second over time, linear between points (seconds ascending, from 0); held after the last. */
export interface LoadProfile {
    name: string;
    description: string;
    points: Array<[number, number]>;
    /** When the load starts rising towards its peak: time to capacity counts from here. */
    riseStart: number;
}

/** How the load drives one of the HPA's metrics. */
export type LoadModel =
    /** A Pods metric (requests per second per pod): `perRequest` metric units per request/s on a pod. */
    | { type: "Pods"; metric: string; perRequest: number }
    /** CPU: each request/s costs `millicoresPerRequest`; each pod requests `requestMillicores`. */
    | { type: "cpu"; millicoresPerRequest: number; requestMillicores: number };

export interface SimulationOptions {
    hpa: Autoscaler;
    load: LoadProfile;
    models: LoadModel[];
    /** Seconds from a pod's creation until it serves (scheduling, image, start, readiness). */
    startupSeconds: number;
    /** The metric is the average load over this many seconds before the sync (0: the load at that instant). */
    metricWindowSeconds: number;
    flags?: Partial<ControllerFlags>;
    /** Default: the last point of the profile. */
    durationSeconds?: number;
    /** Ready pods at t = 0; default: what the starting load needs, within min..max. */
    initialReplicas?: number;
}

export interface Second {
    t: number;
    load: number;
    /** The Deployment's replicas (what the HPA set). */
    replicas: number;
    ready: number;
    /** Requests/s the ready pods serve at the HPA's target. */
    capacity: number;
}

export interface SyncStep {
    t: number;
    /** The load the metrics reflect (window average). */
    metricLoad: number;
    ready: number;
    starting: number;
    /** Per driven metric, the replica count the controller computed for it. */
    proposals: Array<number | undefined>;
    before: number;
    decision: Decision;
}

export interface SimulationResult {
    timeline: Second[];
    syncs: SyncStep[];
    /** Requests/s one pod serves at the target of the first driven metric to reach it. */
    perPodCapacity: number;
    /** maxReplicas x perPodCapacity. */
    peakCapacity: number;
    peakLoad: number;
    riseStart: number;
    /** Seconds from the rise until the ready pods cover the peak load; undefined when they never do. */
    timeToCapacity?: number;
    /** Requests that arrived above capacity over the whole run (request-seconds above the line). */
    requestsAboveCapacity: number;
    /** Ready pods at the end of the peak, and how far above the per-pod target they then run (0.07: 7%). */
    atPeakEnd: { ready: number; aboveTarget: number };
    /** The controller's tolerance: an HPA may settle this far above the target and stay. */
    tolerance: number;
    driven: MetricSource[];
    notModelled: MetricSource[];
}

/** The load at `t`. */
export function loadAt(profile: LoadProfile, t: number): number {
    const points = profile.points;
    if (t < points[0][0]) {
        return points[0][1];
    }
    // The last point at or before t wins a jump (two points at one time).
    for (let i = points.length - 1; i >= 0; i--) {
        const [t0, v0] = points[i];
        if (t0 <= t) {
            const next = points[i + 1];
            return next && next[0] > t0 ? v0 + ((next[1] - v0) * (t - t0)) / (next[0] - t0) : v0;
        }
    }
    return points[points.length - 1][1];
}

/** The linear pieces of the profile inside [from, to): [start, end, load at start, load at end]. */
function pieces(profile: LoadProfile, from: number, to: number): Array<[number, number, number, number]> {
    const cuts = [from, ...profile.points.map(([t]) => t).filter((t) => t > from && t < to), to];
    const result: Array<[number, number, number, number]> = [];
    for (let i = 0; i + 1 < cuts.length; i++) {
        const [a, b] = [cuts[i], cuts[i + 1]];
        if (b > a) {
            // Evaluate just inside the piece so that a jump at `a` belongs to it, one at `b` does not.
            const slope = (loadAt(profile, a + (b - a) / 2) - loadAt(profile, a)) / ((b - a) / 2);
            const start = loadAt(profile, a);
            result.push([a, b, start, start + slope * (b - a)]);
        }
    }
    return result;
}

/** The average load over [from, to). */
export function averageLoad(profile: LoadProfile, from: number, to: number): number {
    if (to <= from) {
        return loadAt(profile, from);
    }
    const area = pieces(profile, from, to).reduce((sum, [a, b, la, lb]) => sum + ((la + lb) / 2) * (b - a), 0);
    return area / (to - from);
}

/** The integral of max(0, load - capacity) over [from, to), exact for a piecewise-linear load. */
export function excessOver(profile: LoadProfile, from: number, to: number, capacity: number): number {
    let total = 0;
    for (const [a, b, la, lb] of pieces(profile, from, to)) {
        const [ea, eb] = [la - capacity, lb - capacity];
        if (ea >= 0 && eb >= 0) {
            total += ((ea + eb) / 2) * (b - a);
        } else if (ea > 0 || eb > 0) {
            // One end above: a triangle up to where the load crosses the capacity.
            const above = Math.max(ea, eb);
            total += (above / 2) * ((b - a) * above) / (Math.abs(ea) + Math.abs(eb));
        }
    }
    return total;
}

/** A rate for descriptions, without floating-point noise (500, not 500.00000000000006). */
const rate = (n: number) => `${Number(n.toPrecision(6))} req/s`;

/** Load that rises from `base` to `peak` at `at` and stays. */
export function stepProfile(base: number, peak: number, at: number, duration: number): LoadProfile {
    return {
        name: "step",
        description: `${rate(base)}, stepping to ${rate(peak)} at ${at} s and staying there`,
        points: [
            [0, base],
            [at, base],
            [at, peak],
            [duration, peak],
        ],
        riseStart: at,
    };
}

/** Load that rises linearly from `base` to `peak` over `rampSeconds` from `at`, then stays. */
export function rampProfile(base: number, peak: number, at: number, rampSeconds: number, duration: number): LoadProfile {
    return {
        name: "ramp",
        description: `${rate(base)}, rising linearly to ${rate(peak)} from ${at} s to ${at + rampSeconds} s`,
        points: [
            [0, base],
            [at, base],
            [at + rampSeconds, peak],
            [duration, peak],
        ],
        riseStart: at,
    };
}

/** Load that jumps from `base` to `peak` at `at`, holds for `holdSeconds`, then falls back. */
export function spikeProfile(base: number, peak: number, at: number, holdSeconds: number, duration: number): LoadProfile {
    return {
        name: "spike",
        description: `${rate(base)}, jumping to ${rate(peak)} at ${at} s for ${holdSeconds} s, then back`,
        points: [
            [0, base],
            [at, base],
            [at, peak],
            [at + holdSeconds, peak],
            [at + holdSeconds, base],
            [duration, base],
        ],
        riseStart: at,
    };
}

/** A profile from `seconds,requestsPerSecond` lines (a header line and # comments are skipped). */
export function csvProfile(name: string, text: string): LoadProfile {
    const points: Array<[number, number]> = [];
    const problems: string[] = [];
    text.split(/\r?\n/).forEach((line, i) => {
        const trimmed = line.trim();
        if (trimmed === "" || trimmed.startsWith("#") || (i === 0 && /[a-z]/i.test(trimmed))) {
            return;
        }
        const [t, v] = trimmed.split(",").map((cell) => Number(cell.trim()));
        const previous = points[points.length - 1];
        if (!Number.isFinite(t) || !Number.isFinite(v) || t < 0 || v < 0 || (previous && t < previous[0])) {
            problems.push(`line ${i + 1} "${trimmed}" is invalid; expected "seconds,requestsPerSecond", both >= 0, seconds not decreasing`);
        } else {
            points.push([t, v]);
        }
    });
    if (points.length < 2) {
        problems.push("expected at least two points");
    }
    if (problems.length > 0) {
        throw new Error(`load profile ${name}: ${problems.join("; ")}`);
    }
    const rise = points.findIndex(([, v]) => v > points[0][1]);
    return { name, description: `${points.length} points from ${name}`, points, riseStart: rise > 0 ? points[rise - 1][0] : 0 };
}

interface DrivenMetric {
    source: MetricSource;
    model: LoadModel;
    /** Requests/s per pod at which this metric reaches its target. */
    perPodCapacity: number;
    /** The controller's replica count for this metric, given the per-ready-pod load. */
    proposal(currentReplicas: number, ready: number, starting: number, loadPerReadyPod: number, tolerance: number): number | undefined;
}

/** Pairs the HPA's metrics with the load models; fails when no metric is driven. */
export function driveMetrics(hpa: Autoscaler, models: LoadModel[]): { driven: DrivenMetric[]; notModelled: MetricSource[] } {
    const driven: DrivenMetric[] = [];
    const notModelled: MetricSource[] = [];
    for (const source of hpa.metrics) {
        const model = models.find((m) =>
            m.type === "Pods" ? source.type === "Pods" && source.name === m.metric : source.type === "Resource" && source.name === "cpu",
        );
        if (model?.type === "Pods" && source.type === "Pods") {
            const targetMilli = Math.round(source.target.averageValue * 1000);
            driven.push({
                source,
                model,
                perPodCapacity: source.target.averageValue / model.perRequest,
                proposal: (current, ready, starting, perPod, tolerance) =>
                    plainMetricReplicas(current, new Array<number>(ready).fill(Math.round(perPod * model.perRequest * 1000)), starting, targetMilli, tolerance),
            });
        } else if (model?.type === "cpu" && source.type === "Resource") {
            const usage = (perPod: number) => Math.round(perPod * model.millicoresPerRequest);
            const request = model.requestMillicores;
            if (source.target.type === "Utilization") {
                const target = source.target.averageUtilization;
                driven.push({
                    source,
                    model,
                    perPodCapacity: ((target / 100) * request) / model.millicoresPerRequest,
                    proposal: (current, ready, starting, perPod, tolerance) =>
                        utilizationReplicas(current, new Array<number>(ready).fill(usage(perPod)), new Array<number>(ready).fill(request), new Array<number>(starting).fill(request), target, tolerance),
                });
            } else {
                const targetMilli = Math.round(source.target.averageValue * 1000);
                driven.push({
                    source,
                    model,
                    perPodCapacity: targetMilli / model.millicoresPerRequest,
                    proposal: (current, ready, starting, perPod, tolerance) => plainMetricReplicas(current, new Array<number>(ready).fill(usage(perPod)), starting, targetMilli, tolerance),
                });
            }
        } else {
            notModelled.push(source);
        }
    }
    if (driven.length === 0) {
        const wanted = models.map((m) => (m.type === "Pods" ? `Pods metric ${m.metric}` : "Resource cpu")).join(" or ");
        throw new Error(
            `HorizontalPodAutoscaler ${hpa.name} has no metric the load drives (${wanted}); its metrics: ${hpa.metrics.map((m) => m.name).join(", ")}`,
        );
    }
    return { driven, notModelled };
}

/** Requests/s one pod serves when the first driven metric reaches its target. */
export function perPodCapacity(hpa: Autoscaler, models: LoadModel[]): number {
    return Math.min(...driveMetrics(hpa, models).driven.map((d) => d.perPodCapacity));
}

/** Runs the profile through the controller, second by second. */
export function simulate(options: SimulationOptions): SimulationResult {
    const { hpa, load } = options;
    const flags: ControllerFlags = { ...defaultFlags, ...options.flags };
    const controller = new HorizontalController(hpa, flags);
    const { driven, notModelled } = driveMetrics(hpa, options.models);
    const capacityPerPod = Math.min(...driven.map((d) => d.perPodCapacity));
    const duration = options.durationSeconds ?? load.points[load.points.length - 1][0];
    const clamp = (n: number) => Math.min(hpa.maxReplicas, Math.max(hpa.minReplicas, n));
    const initial = options.initialReplicas ?? clamp(Math.ceil(loadAt(load, 0) / capacityPerPod));

    // Each pod is the time it starts serving; newest last.
    let pods: number[] = new Array<number>(initial).fill(-Infinity);
    const readyAt = (t: number) => pods.filter((p) => p <= t).length;
    const timeline: Second[] = [];
    const syncs: SyncStep[] = [];
    let requestsAboveCapacity = 0;

    for (let t = 0; t < duration; t++) {
        if (t % flags.syncPeriodSeconds === 0) {
            const ready = readyAt(t);
            const starting = pods.length - ready;
            const from = Math.max(0, t - options.metricWindowSeconds);
            const metricLoad = options.metricWindowSeconds > 0 && t > 0 ? averageLoad(load, from, t) : loadAt(load, t);
            const proposals = driven.map((d) => (ready === 0 ? undefined : d.proposal(pods.length, ready, starting, metricLoad / ready, flags.tolerance)));
            const before = pods.length;
            const decision = controller.reconcile(t, before, proposals);
            if (decision.replicas > before) {
                pods = [...pods, ...new Array<number>(decision.replicas - before).fill(t + options.startupSeconds)];
            } else if (decision.replicas < before) {
                // The ReplicaSet deletes not-ready and most recently ready pods first: the newest.
                pods = [...pods].sort((a, b) => a - b).slice(0, decision.replicas);
            }
            syncs.push({ t, metricLoad, ready, starting, proposals, before, decision });
        }
        const ready = readyAt(t);
        const capacity = ready * capacityPerPod;
        requestsAboveCapacity += excessOver(load, t, t + 1, capacity);
        timeline.push({ t, load: loadAt(load, t), replicas: pods.length, ready, capacity });
    }

    const peakLoad = Math.max(...load.points.filter(([t]) => t >= load.riseStart && t <= duration).map(([, v]) => v), loadAt(load, load.riseStart));
    const covered = timeline.find((s) => s.t >= load.riseStart && s.capacity >= peakLoad);
    const peakEnd = [...timeline].reverse().find((s) => s.load >= peakLoad) ?? timeline[timeline.length - 1];
    return {
        timeline,
        syncs,
        perPodCapacity: capacityPerPod,
        peakCapacity: hpa.maxReplicas * capacityPerPod,
        peakLoad,
        riseStart: load.riseStart,
        timeToCapacity: covered ? covered.t - load.riseStart : undefined,
        requestsAboveCapacity,
        atPeakEnd: { ready: peakEnd.ready, aboveTarget: peakEnd.ready > 0 ? peakLoad / (peakEnd.ready * capacityPerPod) - 1 : Infinity },
        tolerance: flags.tolerance,
        driven: driven.map((d) => d.source),
        notModelled,
    };
}
