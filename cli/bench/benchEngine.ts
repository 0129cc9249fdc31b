/**
 * `npm run bench:engine`: the program on the real engine against kubectl on the same objects, side
 * by side on one control plane (the e2e's: harness/engine), for each shipped stack.
 *
 *   npm run bench:engine [-- --runs 3] [--stack production]...
 *
 * Per stack and run, one after the other on the same cluster:
 * - the program (harness/engine/engine.ts, as the e2e runs it): `preview`, first `up`, a no-change
 *   `up`, then `destroy` (after `unprotect --all`, untimed); each timed as a user's `pulumi` run
 *   takes it: until the `pulumi` process exits (EngineStack), plus, for all but destroy, the
 *   program's load in a fresh Node.js process (programLoadSeconds), which a user's language host pays
 *   on every run and the bench's in-process program does not;
 * - kubectl on the objects `npm run render` renders for the stack (cli/render.ts; secrets filled with a
 *   throwaway value): `kubectl apply --server-side --dry-run=server` (the namespace created just
 *   before, untimed: a dry run cannot create it), `kubectl apply --server-side` then `kubectl rollout
 *   status` of every Deployment and StatefulSet and `kubectl wait --for=condition=complete` of every
 *   Job, the same apply again, then `kubectl delete` of the namespace and the cluster-scoped objects,
 *   waiting until they are gone;
 * - the engine's floor for the same objects: a program that registers kubectl's objects flat
 *   (cli/bench/engineFloor/renderedObjects.ts), the same four operations.
 * Each side's delete starts only once the namespace controller can no longer hold an early pass for
 * the namespace's name (NamespaceQueue). Then the engine's floor with (next to) nothing to do: a
 * program registering nothing, and one registering a single ConfigMap (cli/bench/engineFloor/), the
 * same four operations (kubectl on that ConfigMap beside them).
 * Prints medians (min-max) and the ratios, and where the first `up` and the destroy of each stack spent their time
 * (from the engine's events as they arrived). Local runs without its Helm add-ons, as in the e2e.
 */
import { spawnSync } from "child_process";
import { mkdirSync, readFileSync, writeFileSync } from "fs";
import * as os from "os";
import * as path from "path";
import { parseAllDocuments } from "yaml";
import { applyPlatformStandins, ControlPlane, startControlPlane } from "../../harness/engine/controlPlane";
import { EngineStack, engineFolder, localWithoutAddons, OperationResult } from "../../harness/engine/engine";
import { ensureToolchain, Toolchain } from "../../harness/engine/toolchain";
import { projectRoot, shippedStacks, stackConfig } from "../../harness/stackConfig";
import { stackSettings } from "../ops/workspace";
import { crdFiles, eventually, getObject } from "../../tests/e2e/support";

/** The four comparisons, in the order they run, with the issue's goals (program / kubectl). */
const comparisons = [
    { key: "preview", program: "preview", kubectl: "apply --server-side --dry-run=server", goal: 2 },
    { key: "up", program: "first up", kubectl: "apply + rollout status / Jobs complete", goal: 1.5 },
    { key: "noChange", program: "no-change up", kubectl: "re-apply", goal: 2 },
    { key: "destroy", program: "destroy", kubectl: "delete namespace (+ cluster-scoped), wait", goal: 1.5 },
] as const;
type Key = (typeof comparisons)[number]["key"];

interface Options {
    runs: number;
    stacks: string[];
}

function parseOptions(argv: readonly string[]): Options {
    const options: Options = { runs: 3, stacks: [] };
    for (let i = 0; i < argv.length; i++) {
        const [flag, inline] = argv[i].split("=", 2);
        const value = inline ?? argv[++i];
        if (flag === "--runs") {
            const n = Number(value);
            if (!Number.isInteger(n) || n < 1) {
                throw new Error(`--runs ${value} is invalid; expected a whole number >= 1`);
            }
            options.runs = n;
        } else if (flag === "--stack") {
            for (const stack of (value ?? "").split(",")) {
                if (!(shippedStacks as readonly string[]).includes(stack)) {
                    throw new Error(`--stack ${stack} is not a shipped stack; expected one of ${shippedStacks.join(", ")}`);
                }
                options.stacks.push(stack);
            }
        } else {
            throw new Error(`unknown argument ${argv[i]}; usage: npm run bench:engine [-- --runs <n>] [--stack <${shippedStacks.join("|")}>]...`);
        }
    }
    if (options.stacks.length === 0) {
        options.stacks = [...shippedStacks];
    }
    return options;
}

/** Config the bench gives a stack beyond its stack file: the e2e's (local without its Helm add-ons). */
const benchOverrides = (stack: string): Record<string, string | boolean> => (stack === "local" ? { ...localWithoutAddons } : {});

/** A throwaway value for every secret the rendering redacted (the Secrets' data must be base64). */
const benchSecret = "bench-engine-throwaway";

function fillSecrets(value: unknown, placeholder: string, replacement: string): unknown {
    if (value === placeholder) {
        return replacement;
    }
    if (Array.isArray(value)) {
        return value.map((v) => fillSecrets(v, placeholder, replacement));
    }
    if (typeof value === "object" && value !== null) {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fillSecrets(v, placeholder, replacement)]));
    }
    return value;
}

/**
 * Renders the stack as cli/render.ts does, in this process (run as a child of the bench: the mocks
 * replace Pulumi's runtime, which the engine's inline program needs untouched), and writes the
 * objects, in apply order, as one multi-document YAML file.
 */
async function renderTo(stack: string, file: string): Promise<void> {
    const { renderResources, secretPlaceholder, toYaml } = await import("../render");
    const { runStack } = await import("../../harness/mockProgram");
    const run = await runStack(stackConfig(stack, benchOverrides(stack)), stack);
    const rendering = renderResources(run.resources);
    if (rendering.releases.length > 0) {
        throw new Error(`${stack} renders Helm releases (${rendering.releases.map((r) => r.name).join(", ")}): kubectl cannot apply them`);
    }
    const documents = rendering.objects.map((object) => {
        const manifest = object.manifest as Record<string, any>;
        if (object.kind === "Secret" && manifest.data) {
            manifest.data = fillSecrets(manifest.data, secretPlaceholder, Buffer.from(benchSecret).toString("base64"));
        }
        return toYaml(fillSecrets(manifest, secretPlaceholder, benchSecret));
    });
    writeFileSync(file, documents.join("---\n"));
}

/** What kubectl works on for one stack: the rendered objects, split the way the steps need them. */
interface KubectlTarget {
    /** The rendered objects' file (multi-document YAML). */
    file: string;
    all: string;
    namespace: string;
    namespaceManifest: string;
    clusterScoped: string;
    workloads: string[];
    jobs: string[];
    objects: number;
}

function kubectlTarget(stack: string, folder: string): KubectlTarget {
    const file = path.join(folder, `${stack}.yaml`);
    const result = spawnSync(process.execPath, ["-r", require.resolve("ts-node/register/transpile-only"), __filename, "--render-to", file, "--stack", stack], { stdio: ["ignore", "inherit", "inherit"], cwd: projectRoot });
    if (result.status !== 0) {
        throw new Error(`rendering ${stack} failed (exit ${result.status})`);
    }
    const all = readFileSync(file, "utf8");
    const objects = parseAllDocuments(all).map((d) => d.toJS() as { kind: string; metadata: { name: string; namespace?: string } });
    const namespaces = objects.filter((o) => o.kind === "Namespace");
    if (namespaces.length !== 1) {
        throw new Error(`${stack} renders ${namespaces.length} namespaces; the bench expects one`);
    }
    const namespace = namespaces[0].metadata.name;
    const clusterScoped = objects.filter((o) => o.kind !== "Namespace" && o.metadata.namespace === undefined);
    const toText = (list: unknown[]) => list.map((o) => JSON.stringify(o)).join("\n---\n");
    return {
        file,
        all,
        namespace,
        namespaceManifest: toText(namespaces),
        clusterScoped: toText(clusterScoped),
        workloads: objects.filter((o) => o.kind === "Deployment" || o.kind === "StatefulSet").map((o) => `${o.kind.toLowerCase()}/${o.metadata.name}`),
        jobs: objects.filter((o) => o.kind === "Job").map((o) => `job/${o.metadata.name}`),
        objects: objects.length,
    };
}

const seconds = (body: () => void): number => {
    const started = process.hrtime.bigint();
    body();
    return Number(process.hrtime.bigint() - started) / 1e9;
};

/**
 * Keeps one side's namespace deletion from starting the namespace controller's early pass left by the
 * other's. The controller's work queue is keyed by the namespace's name, and each update of a
 * terminating namespace queues its name again 5 s later (namespaceDeletionGracePeriod,
 * kube-controller-manager's namespace_controller.go): after a namespace is gone, its name stays queued
 * for up to 5 s. A namespace of the same name deleted in that window gets its first deletion pass when
 * that entry comes due instead of 5 s after its own deletion. kubectl's delete came about 3 s after
 * the program's namespace was gone, so kubectl's deletions took 6.6-7.5 s where the program's, with no
 * such entry, took 11-11.8 s (seen in the controller's V(5) log, 2026-12-04). So both sides' deletes
 * wait, untimed, until 6 s have passed since the last namespace was gone.
 */
class NamespaceQueue {
    private static readonly settledAfterMs = 6_000;
    private lastGone = 0;

    /** Call once the namespace is gone. */
    gone(): void {
        this.lastGone = Date.now();
    }

    /** Waits until no queued entry of the last namespace can start the next deletion's pass early. */
    settle(): void {
        const wait = this.lastGone + NamespaceQueue.settledAfterMs - Date.now();
        if (wait > 0) {
            Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, wait);
        }
    }
}

/** One kubectl cycle: dry run, apply and wait, re-apply, delete and wait. */
function kubectlCycle(cluster: ControlPlane, target: KubectlTarget, namespaceQueue: NamespaceQueue): Record<Key, number> {
    const ns = ["-n", target.namespace];
    // A server-side dry run cannot create the namespace its objects go to: create it first, untimed.
    cluster.kubectl(["apply", "--server-side", "-f", "-"], target.namespaceManifest);
    const preview = seconds(() => cluster.kubectl(["apply", "--server-side", "--dry-run=server", "-f", "-"], target.all));
    const up = seconds(() => {
        cluster.kubectl(["apply", "--server-side", "-f", "-"], target.all);
        for (const workload of target.workloads) {
            cluster.kubectl(["rollout", "status", ...ns, workload, "--timeout=600s"]);
        }
        if (target.jobs.length > 0) {
            cluster.kubectl(["wait", ...ns, "--for=condition=complete", ...target.jobs, "--timeout=600s"]);
        }
    });
    const noChange = seconds(() => cluster.kubectl(["apply", "--server-side", "-f", "-"], target.all));
    namespaceQueue.settle();
    const destroy = seconds(() => {
        cluster.kubectl(["delete", "namespace", target.namespace, "--wait=true", "--timeout=600s"]);
        if (target.clusterScoped) {
            cluster.kubectl(["delete", "--wait=true", "--timeout=600s", "-f", "-"], target.clusterScoped);
        }
    });
    namespaceQueue.gone();
    return { preview, up, noChange, destroy };
}

interface ProgramCycle {
    /** Each operation as a user's `pulumi` run takes it: until the `pulumi` process exits, plus the program's load (programLoadSeconds). */
    times: Record<Key, number>;
    /** The program's load in a fresh process, in seconds (programLoadSeconds). */
    load: number;
    firstUp: OperationResult;
    destroy: OperationResult;
    /** Seconds the namespace took to disappear after `destroy` returned (0: gone by then). */
    namespaceLag: number;
}

/**
 * Seconds a fresh Node.js process takes to load the program as `pulumi`'s language host does for a
 * TypeScript project: Node's start, ts-node registered on the project's tsconfig.json (transpile-only,
 * its "ts-node" section), then the program's module and everything it imports (@pulumi/pulumi,
 * @pulumi/kubernetes, the components, ts-node transpiling each). The bench runs the program inside
 * its own process (the Automation API's inline program), where all of that happened once, at the
 * first operation; a user's `pulumi preview` or `up` starts a new language host each time and pays it
 * again, so each run's figure is added to the program's preview, up and no-change up (not to
 * destroy, which does not run the program).
 */
function programLoadSeconds(programModule: string): number {
    const load = [
        `require(${JSON.stringify(require.resolve("ts-node"))}).register({ project: ${JSON.stringify(path.join(projectRoot, "tsconfig.json"))} });`,
        `require(${JSON.stringify(programModule)});`,
    ].join("\n");
    return seconds(() => {
        const result = spawnSync(process.execPath, ["-e", load], { cwd: projectRoot, encoding: "utf8" });
        if (result.status !== 0) {
            throw new Error(`loading ${programModule} in a fresh process failed: ${result.stderr}`);
        }
    });
}

/** One cycle of the program on the engine: preview, up, no-change up, destroy. */
async function programCycle(stack: EngineStack, cluster: ControlPlane, namespace: string | undefined, namespaceQueue: NamespaceQueue): Promise<ProgramCycle> {
    const load = programLoadSeconds(stack.program);
    const preview = await stack.preview();
    const firstUp = await stack.up();
    const noChange = await stack.up();
    if (Object.entries(noChange.changes).some(([op, n]) => op !== "same" && op !== "read" && (n ?? 0) > 0)) {
        throw new Error(`the no-change up of ${stack.name} changed something: ${JSON.stringify(noChange.changes)}`);
    }
    await stack.unprotectAll();
    if (namespace) {
        namespaceQueue.settle();
    }
    const destroy = await stack.destroy();
    const after = process.hrtime.bigint();
    if (namespace) {
        await eventually(`namespace ${namespace} gone`, () => (getObject(cluster, "namespace", namespace) === undefined ? true : undefined), 300_000);
        namespaceQueue.gone();
    }
    const namespaceLag = getObjectGoneLag(after);
    return { times: { preview: load + preview.seconds, up: load + firstUp.seconds, noChange: load + noChange.seconds, destroy: destroy.seconds }, load, firstUp, destroy, namespaceLag };
}

/** One row group of the table: a program (the stack's, or a floor) and kubectl beside it, each operation's runs. */
interface BenchRow {
    label: string;
    objects: number;
    /** kubectl ran on the floor programs' one ConfigMap, not on a stack's objects. */
    onOneConfigMap?: boolean;
    program: Record<Key, number[]>;
    kubectl: Record<Key, number[]>;
    /** The program's load in a fresh process, each run (programLoadSeconds). */
    loads: number[];
    notes: string[];
}

const emptyRuns = () => ({ preview: [], up: [], noChange: [], destroy: [] }) as Record<Key, number[]>;
const benchRow = (label: string, objects: number, onOneConfigMap?: boolean): BenchRow => ({ label, objects, onOneConfigMap, program: emptyRuns(), kubectl: emptyRuns(), loads: [], notes: [] });

const getObjectGoneLag = (since: bigint) => Number(process.hrtime.bigint() - since) / 1e9;

const median = (values: readonly number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const range = (values: readonly number[]) => `${Math.min(...values).toFixed(1)}-${Math.max(...values).toFixed(1)}`;
const cell = (values: readonly number[]) => `${median(values).toFixed(1)} (${range(values)})`;

/** Where an operation (the first `up`, the destroy) went: when the first Kubernetes object started, and the objects that took longest. */
function whereTimeGoes(verb: string, operation: OperationResult): string[] {
    const shortUrn = (urn: string) => urn.slice(urn.lastIndexOf("::") + 2);
    // Kubernetes objects only: the stack, components and providers span their children.
    const objects = operation.steps.filter((s) => s.type.startsWith("kubernetes:") && s.finishedAt !== undefined && s.op !== "same");
    if (objects.length === 0) {
        return [`${verb}: total ${operation.seconds.toFixed(1)} s; no Kubernetes object`];
    }
    const first = Math.min(...objects.map((s) => s.startedAt));
    const lastEnd = Math.max(...objects.map((s) => s.finishedAt!));
    const longest = [...objects]
        .sort((a, b) => b.finishedAt! - b.startedAt - (a.finishedAt! - a.startedAt))
        .slice(0, 5)
        .map((s) => `${s.type.replace(/^kubernetes:/, "")} ${shortUrn(s.urn)} ${s.startedAt.toFixed(1)} -> ${s.finishedAt!.toFixed(1)}`);
    return [`${verb}: total ${operation.seconds.toFixed(1)} s; first object started at ${first.toFixed(1)} s, last one done at ${lastEnd.toFixed(1)} s; longest: ${longest.join("; ")}`];
}

function formatTable(rows: string[][]): string {
    return rows.map((r) => `| ${r.join(" | ")} |`).join("\n");
}

async function main(): Promise<void> {
    const argv = process.argv.slice(2);
    if (argv[0] === "--render-to") {
        await renderTo(argv[3], argv[1]);
        return;
    }
    const options = parseOptions(argv);
    const toolchain: Toolchain = ensureToolchain();
    const folder = engineFolder("bench-engine");
    const renders = path.join(folder, "rendered");
    mkdirSync(renders, { recursive: true });
    const targets = new Map(options.stacks.map((stack) => [stack, kubectlTarget(stack, renders)]));
    const contexts = [...new Set(shippedStacks.map((s) => stackSettings(s).cluster.context).filter((c): c is string => c !== undefined)), "bench-admin"];
    const say = (line: string) => console.log(`bench:engine: ${line}`);
    say(`control plane in ${folder}`);
    const cluster = await startControlPlane({ dir: path.join(folder, "control-plane"), toolchain, version: toolchain.e2eKubernetes, mode: "full", contexts, say });
    const load = [os.loadavg()[0]];
    const namespaceQueue = new NamespaceQueue();
    const results: BenchRow[] = [];
    try {
        for (const file of crdFiles()) {
            cluster.kubectl(["apply", "--server-side", "-f", file]);
        }
        cluster.kubectl(["wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"]);
        await applyPlatformStandins(cluster);

        for (const stackName of options.stacks) {
            const target = targets.get(stackName)!;
            const result = benchRow(stackName, target.objects);
            const flat = benchRow(`floor: ${stackName}'s objects, flat`, target.objects);
            results.push(result, flat);
            const stack = await EngineStack.create(stackName, { toolchain, dir: folder, kubeconfig: cluster.kubeconfig });
            await stack.setConfig(benchOverrides(stackName));
            const flatStack = await EngineStack.create(stackName, { toolchain, dir: folder, kubeconfig: cluster.kubeconfig, programModule: path.join(__dirname, "engineFloor", "renderedObjects.ts") });
            process.env.BENCH_RENDERED_OBJECTS = target.file;
            for (let run = 1; run <= options.runs; run++) {
                say(`${stackName} run ${run}/${options.runs}: the program`);
                const cycle = await programCycle(stack, cluster, target.namespace, namespaceQueue);
                say(`${stackName} run ${run}/${options.runs}: kubectl`);
                const kubectl = kubectlCycle(cluster, target, namespaceQueue);
                say(`${stackName} run ${run}/${options.runs}: the same objects, flat`);
                const flatCycle = await programCycle(flatStack, cluster, target.namespace, namespaceQueue);
                result.loads.push(cycle.load);
                flat.loads.push(flatCycle.load);
                for (const c of comparisons) {
                    result.program[c.key].push(cycle.times[c.key]);
                    result.kubectl[c.key].push(kubectl[c.key]);
                    flat.program[c.key].push(flatCycle.times[c.key]);
                    flat.kubectl[c.key].push(kubectl[c.key]);
                }
                if (run === options.runs) {
                    flat.notes.push(...whereTimeGoes("first up", flatCycle.firstUp), ...whereTimeGoes("destroy", flatCycle.destroy));
                }
                say(`program/kubectl/flat: ${comparisons.map((c) => `${c.key} ${cycle.times[c.key].toFixed(1)}/${kubectl[c.key].toFixed(1)}/${flatCycle.times[c.key].toFixed(1)} s`).join(", ")}`);
                if (run === options.runs) {
                    result.notes.push(...whereTimeGoes("first up", cycle.firstUp), ...whereTimeGoes("destroy", cycle.destroy));
                }
                if (cycle.namespaceLag > 0.6) {
                    result.notes.push(`run ${run}: the namespace disappeared ${cycle.namespaceLag.toFixed(1)} s after destroy returned`);
                }
            }
        }

        // The engine's floor: the same operations on programs with (next to) nothing to do.
        const configMap = JSON.stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "engine-floor", namespace: "default" }, data: { purpose: "floor" } });
        for (const [label, program] of [
            ["floor: empty program", "empty.ts"],
            ["floor: one ConfigMap", "oneConfigMap.ts"],
        ] as const) {
            const result = benchRow(label, program === "empty.ts" ? 0 : 1, true);
            results.push(result);
            const stack = await EngineStack.create("local", { toolchain, dir: folder, kubeconfig: cluster.kubeconfig, programModule: path.join(__dirname, "engineFloor", program) });
            for (let run = 1; run <= options.runs; run++) {
                say(`${label} run ${run}/${options.runs}`);
                const cycle = await programCycle(stack, cluster, undefined, namespaceQueue);
                const kubectl = {
                    preview: seconds(() => cluster.kubectl(["apply", "--server-side", "--dry-run=server", "-f", "-"], configMap)),
                    up: seconds(() => cluster.kubectl(["apply", "--server-side", "-f", "-"], configMap)),
                    noChange: seconds(() => cluster.kubectl(["apply", "--server-side", "-f", "-"], configMap)),
                    destroy: seconds(() => cluster.kubectl(["delete", "--wait=true", "-f", "-"], configMap)),
                };
                result.loads.push(cycle.load);
                for (const c of comparisons) {
                    result.program[c.key].push(cycle.times[c.key]);
                    result.kubectl[c.key].push(kubectl[c.key]);
                }
                if (run === options.runs) {
                    result.notes.push(...whereTimeGoes("first up", cycle.firstUp), ...whereTimeGoes("destroy", cycle.destroy));
                }
            }
        }
    } finally {
        cluster.stop();
    }
    load.push(os.loadavg()[0]);

    // The engine's floor against each stack's kubectl time: what a program of one ConfigMap already
    // costs, as a ratio; where it reaches the goal, no program of that stack's objects can meet it.
    const floor = results.find((r) => r.label === "floor: one ConfigMap");
    const header = ["Stack (objects)", "Step: the program / kubectl on the same objects", "The program (s)", "kubectl (s)", "Ratio", "Goal", "The engine's floor alone (one ConfigMap) / kubectl"];
    const rows = results.flatMap((r) =>
        comparisons.map((c) => {
            const ratio = median(r.program[c.key]) / median(r.kubectl[c.key]);
            const floorRatio = floor && !r.label.startsWith("floor") ? `${(median(floor.program[c.key]) / median(r.kubectl[c.key])).toFixed(1)}x` : "-";
            return [`${r.label} (${r.objects})`, r.onOneConfigMap ? `${c.program} / the same kubectl step on one ConfigMap` : `${c.program} / ${c.kubectl}`, cell(r.program[c.key]), cell(r.kubectl[c.key]), `${ratio.toFixed(1)}x`, `${c.goal}x`, floorRatio];
        }),
    );
    console.log(`\nbench:engine: medians (min-max) of ${options.runs} runs; Kubernetes ${toolchain.e2eKubernetes} with kwok, Pulumi CLI ${toolchain.pulumiVersion}, kubernetes provider ${toolchain.kubernetesProviderVersion} (built from ${toolchain.kubernetesProviderSource})`);
    console.log(`${os.cpus().length} cores, Node ${process.version}; 1-minute load average ${load.map((l) => l.toFixed(2)).join(" before, ")} after\n`);
    console.log(formatTable([header, header.map(() => "---"), ...rows]));
    console.log("\nThe program's load in a fresh process (programLoadSeconds), included in its preview, up and no-change up above:");
    for (const r of results) {
        console.log(`- ${r.label}: ${cell(r.loads)} s`);
    }
    console.log("\nWhere the first up and the destroy went (last run; engine events as they arrived, seconds from the operation's start; the load above not included):");
    for (const r of results) {
        for (const note of r.notes) {
            console.log(`- ${r.label}: ${note}`);
        }
    }
}

main().catch((error: Error) => {
    console.error(`bench:engine: ${error.stack ?? error.message}`);
    process.exit(1);
});
