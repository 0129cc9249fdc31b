/**
 * `npm run capacity`: replays a load profile through the Kubernetes HPA algorithm with a stack's
 * real HPA settings, read from the program's output, and reports how fast capacity follows.
 *
 *   npm run capacity -- --stack production [--load spike|step|ramp|<file.csv>] [options]
 *   npm run capacity -- --summary [--startup 30,120] [--hpa <manifest with {stack}>]
 *
 * Options (defaults in brackets):
 *   --hpa <file>              simulate this HPA manifest instead of the program's ({stack} is replaced)
 *   --base <req/s>            load before the rise [half of what minReplicas serve at the target]
 *   --factor <n>              peak = base x factor [10]
 *   --at <s>                  when the rise starts [60]
 *   --hold <s>                spike: how long the peak lasts [600]
 *   --ramp <s>                ramp: how long the rise takes [300]
 *   --duration <s>            length of the run [long enough to show the scale-down]
 *   --startup <s>             pod start-up delay, creation to serving [30]
 *   --metric-window <s>       the metric averages the load over this window [60]
 *   --sync <s>                controller sync period [15]
 *   --tolerance <ratio>       controller tolerance [0.1]
 *   --rps-metric <name>       the Pods metric counting requests/s per pod [http_requests_per_second]
 *   --cpu-per-request <m>     also drive CPU: millicores per request/s (needs the program's CPU request)
 *   --plot <file.svg>         where to write the chart [capacity-<stack>-<profile>.svg]
 */
import { readFileSync, writeFileSync } from "fs";
import * as path from "path";
import { describeMetric, describeRules } from "../analysis/capacity/hpaSpec";
import { csvProfile, LoadModel, LoadProfile, perPodCapacity, rampProfile, simulate, SimulationResult, spikeProfile, stepProfile } from "../analysis/capacity/simulation";
import { stackAutoscaler, StackAutoscaler } from "../analysis/capacity/stackHpa";
import { plotSimulation } from "../analysis/capacity/svgPlot";
import { shippedStacks } from "../harness/stackConfig";

/** What the seed claims (../shared/seed/kubernetes-autoscaling-summary.md). */
export const seedClaims = { maxApiPods: 100, requestsPerPod: 1000, users: 1_000_000 };

export interface CapacityOptions {
    stack?: string;
    summary: boolean;
    load: string;
    hpa?: string;
    base?: number;
    factor: number;
    at: number;
    hold: number;
    ramp: number;
    duration?: number;
    startup: number[];
    metricWindow: number;
    sync: number;
    tolerance: number;
    rpsMetric: string;
    cpuPerRequest?: number;
    plot?: string;
}

const numberOptions: Record<string, { key: keyof CapacityOptions; min: number; integer?: boolean }> = {
    "--base": { key: "base", min: 0 },
    "--factor": { key: "factor", min: 1 },
    "--at": { key: "at", min: 0, integer: true },
    "--hold": { key: "hold", min: 1, integer: true },
    "--ramp": { key: "ramp", min: 1, integer: true },
    "--duration": { key: "duration", min: 1, integer: true },
    "--metric-window": { key: "metricWindow", min: 0, integer: true },
    "--sync": { key: "sync", min: 1, integer: true },
    "--tolerance": { key: "tolerance", min: 0 },
    "--cpu-per-request": { key: "cpuPerRequest", min: 0 },
};

/** Parses the command line; throws one error naming every bad option. */
export function parseCapacityArgs(argv: string[]): CapacityOptions {
    const options: CapacityOptions = { summary: false, load: "spike", factor: 10, at: 60, hold: 600, ramp: 300, startup: [30], metricWindow: 60, sync: 15, tolerance: 0.1, rpsMetric: "http_requests_per_second" };
    const problems: string[] = [];
    for (let i = 0; i < argv.length; i++) {
        const flag = argv[i];
        const value = argv[i + 1];
        if (flag === "--summary") {
            options.summary = true;
            continue;
        }
        if (value === undefined || value.startsWith("--")) {
            problems.push(`${flag} needs a value`);
            continue;
        }
        i++;
        const numeric = numberOptions[flag];
        if (numeric) {
            const n = Number(value);
            if (!Number.isFinite(n) || n < numeric.min || (numeric.integer && !Number.isInteger(n))) {
                problems.push(`${flag} ${value} is invalid; expected ${numeric.integer ? "a whole number" : "a number"} >= ${numeric.min}`);
            } else {
                (options as unknown as Record<string, number>)[numeric.key] = n;
            }
        } else if (flag === "--stack") {
            options.stack = value;
        } else if (flag === "--load") {
            options.load = value;
        } else if (flag === "--hpa") {
            options.hpa = value;
        } else if (flag === "--rps-metric") {
            options.rpsMetric = value;
        } else if (flag === "--plot") {
            options.plot = value;
        } else if (flag === "--startup") {
            const values = value.split(",").map(Number);
            if (values.some((v) => !Number.isInteger(v) || v < 0)) {
                problems.push(`--startup ${value} is invalid; expected whole seconds >= 0, comma-separated for --summary`);
            } else {
                options.startup = values;
            }
        } else {
            problems.push(`unknown option ${flag}`);
        }
    }
    if (!options.summary && !options.stack) {
        problems.push(`--stack is required (one of ${shippedStacks.join(", ")}), or --summary`);
    }
    if (options.stack && !(shippedStacks as readonly string[]).includes(options.stack)) {
        problems.push(`--stack ${options.stack} is invalid; expected one of ${shippedStacks.join(", ")}`);
    }
    if (!["spike", "step", "ramp"].includes(options.load) && !options.load.endsWith(".csv")) {
        problems.push(`--load ${options.load} is invalid; expected spike, step, ramp or a .csv file of seconds,requestsPerSecond`);
    }
    if (!options.summary && options.startup.length !== 1) {
        problems.push("--startup takes one value without --summary");
    }
    if (problems.length > 0) {
        throw new Error(`npm run capacity: ${problems.join("; ")}`);
    }
    return options;
}

/** The load models the options ask for. */
function loadModels(options: CapacityOptions, hpa: StackAutoscaler): LoadModel[] {
    const models: LoadModel[] = [{ type: "Pods", metric: options.rpsMetric, perRequest: 1 }];
    if (options.cpuPerRequest !== undefined) {
        if (hpa.cpuRequestMillicores === undefined) {
            throw new Error("--cpu-per-request needs the API container's CPU request, and the program's Deployment healthcare-api sets none");
        }
        models.push({ type: "cpu", millicoresPerRequest: options.cpuPerRequest, requestMillicores: hpa.cpuRequestMillicores });
    }
    return models;
}

/** The profile the options describe, around `base` req/s. */
export function buildProfile(options: CapacityOptions, base: number): LoadProfile {
    const peak = base * options.factor;
    switch (options.load) {
        case "step":
            return stepProfile(base, peak, options.at, options.duration ?? options.at + 900);
        case "ramp":
            return rampProfile(base, peak, options.at, options.ramp, options.duration ?? options.at + options.ramp + 600);
        case "spike":
            return spikeProfile(base, peak, options.at, options.hold, options.duration ?? options.at + options.hold + 1800);
        default:
            return csvProfile(options.load, readFileSync(options.load, "utf8"));
    }
}

function run(options: CapacityOptions, hpa: StackAutoscaler, startup: number): { result: SimulationResult; profile: LoadProfile; base: number } {
    const models = loadModels(options, hpa);
    // Quiet starting load: half of what the minimum fleet serves at the target.
    const base = options.base ?? (hpa.autoscaler.minReplicas * perPodCapacity(hpa.autoscaler, models)) / 2;
    const profile = buildProfile(options, base);
    const result = simulate({
        hpa: hpa.autoscaler,
        load: profile,
        models,
        startupSeconds: startup,
        metricWindowSeconds: options.metricWindow,
        flags: { syncPeriodSeconds: options.sync, tolerance: options.tolerance },
        durationSeconds: options.duration,
    });
    return { result, profile, base };
}

const count = (n: number) => Math.round(n).toLocaleString("en-US");

/** Time to capacity, or why there is none. */
export function timeToCapacityText(result: SimulationResult): string {
    if (result.timeToCapacity !== undefined) {
        return `${result.timeToCapacity} s`;
    }
    if (result.peakLoad > result.peakCapacity) {
        return `never: the peak ${count(result.peakLoad)} req/s exceeds the peak capacity ${count(result.peakCapacity)} req/s`;
    }
    const { ready, aboveTarget } = result.atPeakEnd;
    if (aboveTarget > 0 && aboveTarget <= result.tolerance) {
        return `never at the target: settles at ${ready} pods, ${(100 * aboveTarget).toFixed(1)}% above it (inside the ${100 * result.tolerance}% tolerance)`;
    }
    return "not within the run";
}

/** The seed's claims against the HPA's peak capacity. */
export function seedClaimText(result: SimulationResult, maxReplicas: number): string {
    const claimed = seedClaims.maxApiPods * seedClaims.requestsPerPod;
    const perUser = result.peakCapacity / seedClaims.users;
    return [
        `peak capacity ${maxReplicas} pods x ${count(result.perPodCapacity)} req/s = ${count(result.peakCapacity)} req/s`,
        `seed: up to ${seedClaims.maxApiPods} API pods at ${count(seedClaims.requestsPerPod)} req/s = ${count(claimed)} req/s (${result.peakCapacity >= claimed ? "reached" : `${Math.round((100 * result.peakCapacity) / claimed)}% of it`})`,
        `"1M+ users": ${count(seedClaims.users)} users fit only if each averages at most ${Number(perUser.toPrecision(2))} req/s (one request every ${Number((1 / perUser).toPrecision(2))} s)`,
    ].join("; ");
}

function report(stack: string, options: CapacityOptions, hpa: StackAutoscaler, startup: number, plotFile: string): string {
    const { result, profile } = run(options, hpa, startup);
    const a = hpa.autoscaler;
    const lines: string[] = [];
    lines.push(`Stack ${stack}: HorizontalPodAutoscaler ${a.name} (from ${hpa.source}) on ${a.target}, ${a.minReplicas}-${a.maxReplicas} replicas`);
    lines.push(`  metrics: ${a.metrics.map(describeMetric).join("; ")}`);
    lines.push(a.behavior ? `  scale-up: ${describeRules(a.behavior.scaleUp)}\n  scale-down: ${describeRules(a.behavior.scaleDown)}` : "  behavior: not set (the controller's older normalization)");
    lines.push(`  driven by the load: ${result.driven.map((m) => m.name).join(", ")}; not modelled (assumed never the largest proposal): ${result.notModelled.map((m) => m.name).join(", ") || "none"}`);
    lines.push(`Load (${profile.name}): ${profile.description}`);
    lines.push(`Assumptions: pod start-up ${startup} s; metric window ${options.metricWindow} s; sync every ${options.sync} s; tolerance ${options.tolerance}`);
    lines.push("");
    lines.push("| t (s) | load (req/s) | replicas set | ready | capacity (req/s) | controller |");
    lines.push("|---|---|---|---|---|---|");
    for (const sync of result.syncs.filter((s) => s.decision.replicas !== s.before)) {
        const second = result.timeline[sync.t];
        lines.push(`| ${sync.t} | ${count(second.load)} | ${sync.before} -> ${sync.decision.replicas} | ${second.ready} | ${count(second.capacity)} | ${sync.decision.reason} |`);
    }
    lines.push("");
    lines.push(`Time to capacity (ready pods cover the peak ${count(result.peakLoad)} req/s, counted from the rise at ${result.riseStart} s): ${timeToCapacityText(result)}`);
    const total = result.timeline.reduce((sum, s) => sum + s.load, 0);
    lines.push(`Requests above capacity: ${count(result.requestsAboveCapacity)} (${((100 * result.requestsAboveCapacity) / total).toFixed(1)}% of ${count(total)} in the run)`);
    lines.push(`Capacity: ${seedClaimText(result, a.maxReplicas)}`);
    writeFileSync(plotFile, plotSimulation(result, `${stack}: ${profile.name}, pod start-up ${startup} s`, `${profile.description}; HPA ${a.name} ${a.minReplicas}-${a.maxReplicas} (from ${hpa.source})`));
    lines.push(`Plot: ${plotFile}`);
    return lines.join("\n");
}

/** docs/capacity-and-benchmarks.md's table: each stack's 10x spike (or the given profile) per start-up delay. */
export async function summary(options: CapacityOptions, autoscalerOf: (stack: string, manifest?: string) => Promise<StackAutoscaler> = stackAutoscaler): Promise<{ text: string; failed: number }> {
    const lines = [
        "| Stack | HPA replicas | Load: base -> peak (req/s) | Pod start-up | Time to capacity | Requests above capacity | Peak capacity (req/s) |",
        "|---|---|---|---|---|---|---|",
    ];
    const sources = new Set<string>();
    let failed = 0;
    for (const stack of shippedStacks) {
        try {
            const hpa = await autoscalerOf(stack, options.hpa?.replace("{stack}", stack));
            sources.add(hpa.source.replace(stack, "{stack}"));
            for (const startup of options.startup) {
                const { result, base } = run(options, hpa, startup);
                lines.push(
                    `| ${stack} | ${hpa.autoscaler.minReplicas}-${hpa.autoscaler.maxReplicas} | ${count(base)} -> ${count(result.peakLoad)} | ${startup} s | ${timeToCapacityText(result)} | ${count(result.requestsAboveCapacity)} | ${count(result.peakCapacity)} |`,
                );
            }
        } catch (error) {
            failed++;
            // One stack that cannot be simulated (no HPA, no metric the load drives) says why; the others still run.
            lines.push(`| ${stack} | not simulated: ${(error instanceof Error ? error.message : String(error)).replace(/\|/g, "/")} | | | | | |`);
        }
    }
    const profile = options.load === "spike" ? `spike x${options.factor} at ${options.at} s held ${options.hold} s` : options.load;
    const from = sources.size > 0 ? [...sources].join(", ") : "nowhere";
    return { text: `HPA from ${from}; load ${profile}; metric window ${options.metricWindow} s; sync ${options.sync} s; tolerance ${options.tolerance}\n\n${lines.join("\n")}`, failed };
}

async function main(argv: string[]): Promise<void> {
    const options = parseCapacityArgs(argv);
    if (options.summary) {
        const { text, failed } = await summary(options);
        process.stdout.write(`${text}\n`);
        if (failed > 0) {
            throw new Error(`${failed} of ${shippedStacks.length} stacks could not be simulated (see the table)`);
        }
        return;
    }
    const stack = options.stack!;
    const hpa = await stackAutoscaler(stack, options.hpa?.replace("{stack}", stack));
    const plotFile = options.plot ?? `capacity-${stack}-${path.basename(options.load, ".csv")}.svg`;
    process.stdout.write(`${report(stack, options, hpa, options.startup[0], plotFile)}\n`);
}

if (require.main === module) {
    main(process.argv.slice(2)).catch((error) => {
        process.stderr.write(`${error instanceof Error ? error.message : error}\n`);
        process.exit(1);
    });
}
