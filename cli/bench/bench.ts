/**
 * `npm run bench`: how long the program takes to load and evaluate per shipped stack on Pulumi's
 * mocks, and how long the test suite takes; each sample in a fresh Node process, so that module
 * loading is counted. Prints a Markdown table (median and min–max over the runs) for docs/capacity-and-benchmarks.md.
 *
 *   npm run bench [-- --runs 5] [--test-runs 3] [--stacks local,production] [--skip-tests | --tests-only]
 *
 * The test suite runs fewer times by default: one run takes a minute or more on 2 cores.
 *
 * Rows per stack:
 *   compiled JS        bin/index.js (`npm run build`), no TypeScript at run time
 *   pulumi up (ts)     index.ts through ts-node registered as `pulumi up` registers it, with the
 *                      project's tsconfig as it is (transpile-only: tsconfig "ts-node" section)
 *   type-checked (ts)  the same with PULUMI_NODEJS_TRANSPILE_ONLY=false
 * Test suite rows: npm test's two steps (tsc --noEmit, then mocha with the arguments package.json
 * gives it: files in parallel workers) and their sum; CPU counts every process a step started.
 *
 * Samples of all rows are interleaved run by run, so that a burst of load on a shared machine
 * spreads over the rows instead of landing on one.
 */
import { spawnSync } from "child_process";
import { readFileSync } from "fs";
import * as os from "os";
import * as path from "path";
import { performance } from "perf_hooks";
import { projectRoot, shippedStacks } from "../../harness/stackConfig";

/** One measured process (or sequence of processes). */
interface Sample {
    wallMs: number;
    /** CPU time (user + system) the measured process reported for itself. */
    cpuMs?: number;
    /** Resources registered on the mocks. */
    resources?: number;
    typeChecked?: boolean;
}

interface Row {
    group: string;
    label: string;
    samples: Sample[];
}

interface Options {
    runs: number;
    testRuns: number;
    stacks: string[];
    tests: boolean;
}

function parseOptions(argv: string[]): Options {
    const options: Options = { runs: 5, testRuns: 3, stacks: [...shippedStacks], tests: true };
    const wholeNumber = (flag: string, value: string | undefined) => {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 1) {
            throw new Error(`${flag} ${value} is invalid; expected a whole number >= 1`);
        }
        return n;
    };
    for (let i = 0; i < argv.length; i++) {
        const flag = argv[i];
        if (flag === "--runs") {
            options.runs = wholeNumber(flag, argv[++i]);
        } else if (flag === "--test-runs") {
            options.testRuns = wholeNumber(flag, argv[++i]);
        } else if (flag === "--stacks") {
            options.stacks = (argv[++i] ?? "").split(",").filter(Boolean);
            const unknown = options.stacks.filter((s) => !(shippedStacks as readonly string[]).includes(s));
            if (unknown.length > 0 || options.stacks.length === 0) {
                throw new Error(`--stacks ${argv[i]} is invalid; expected a comma-separated list of ${shippedStacks.join(", ")}`);
            }
        } else if (flag === "--skip-tests") {
            options.tests = false;
        } else if (flag === "--tests-only") {
            options.stacks = [];
        } else {
            throw new Error(`unknown option ${flag}; expected --runs N, --test-runs N, --stacks a,b, --skip-tests or --tests-only`);
        }
    }
    return options;
}

/** The environment of every child: no inherited ts-node or Pulumi switches, only the ones a row sets. */
function childEnvironment(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const key of Object.keys(env)) {
        if (key.startsWith("TS_NODE_") || key === "PULUMI_NODEJS_TRANSPILE_ONLY") {
            delete env[key];
        }
    }
    return { ...env, ...extra };
}

/** Runs `node <args>` in the project folder; returns its stdout and wall time; fails loudly. */
function node(args: string[], env: NodeJS.ProcessEnv): { stdout: string; wallMs: number } {
    const started = performance.now();
    const result = spawnSync(process.execPath, args, { cwd: projectRoot, env, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    const wallMs = performance.now() - started;
    if (result.status !== 0) {
        throw new Error(`node ${args.join(" ")} failed (exit ${result.status ?? result.signal}):\n${result.stdout}\n${result.stderr}`);
    }
    return { stdout: result.stdout, wallMs };
}

const compiled = (file: string) => path.join(projectRoot, "bin", "cli", "bench", file);

function evaluateStack(stack: string, typescript: boolean, env: NodeJS.ProcessEnv): Sample {
    const { stdout, wallMs } = node([compiled("evaluateStack.js"), stack, ...(typescript ? ["--typescript"] : [])], env);
    const sample = JSON.parse(stdout.trim().split("\n").pop() ?? "{}");
    return { wallMs, cpuMs: sample.cpuMs, resources: sample.resources, typeChecked: sample.typeChecked };
}

/**
 * CPU time (user + system) of this process's waited-for children and their waited-for descendants
 * (mocha's workers, the redis-server and PostgreSQL processes the tests start), from /proc (Linux).
 */
function childrenCpuMs(): number {
    const fields = readFileSync("/proc/self/stat", "utf8").replace(/^.*\) /, "").split(" ");
    // After "pid (comm) ": field 3 is the state; cutime and cstime are fields 16 and 17, in clock ticks (100 per second).
    return (Number(fields[16 - 3]) + Number(fields[17 - 3])) * 10;
}

/** Runs `node <args>` like `node`, adding the CPU time of everything it started. */
function measured(args: string[]): Sample {
    const cpuBefore = childrenCpuMs();
    const { wallMs } = node(args, childEnvironment());
    return { wallMs, cpuMs: childrenCpuMs() - cpuBefore };
}

/** mocha's arguments in `npm test` (package.json: `npm run typecheck && mocha <arguments>`). */
function npmTestMochaArgs(): string[] {
    const script: string = JSON.parse(readFileSync(path.join(projectRoot, "package.json"), "utf8")).scripts.test;
    const args = /&& mocha (.*)$/.exec(script)?.[1];
    if (args === undefined) {
        throw new Error(`package.json's test script is not "npm run typecheck && mocha ...": ${script}`);
    }
    return (args.match(/"[^"]*"|\S+/g) ?? []).map((a) => a.replace(/^"(.*)"$/, "$1"));
}

function measure(options: Options): Row[] {
    const rows: Row[] = [];
    const row = (group: string, label: string) => {
        const created: Row = { group, label, samples: [] };
        rows.push(created);
        return created;
    };
    const plan: Array<() => void> = [];
    const testPlan: Array<() => void> = [];
    for (const stack of options.stacks) {
        const js = row(stack, "compiled JS (bin/index.js)");
        const ts = row(stack, "TypeScript, as `pulumi up` runs it");
        const checked = row(stack, "TypeScript, PULUMI_NODEJS_TRANSPILE_ONLY=false");
        plan.push(() => js.samples.push(evaluateStack(stack, false, childEnvironment())));
        plan.push(() => ts.samples.push(evaluateStack(stack, true, childEnvironment())));
        plan.push(() => checked.samples.push(evaluateStack(stack, true, childEnvironment({ PULUMI_NODEJS_TRANSPILE_ONLY: "false" }))));
    }
    if (options.tests) {
        const typecheck = row("test suite", "`npm test` step 1: tsc --noEmit");
        const mochaTs = row("test suite", "`npm test` step 2: mocha " + npmTestMochaArgs().join(" "));
        const npmTest = row("test suite", "`npm test` (both steps)");
        testPlan.push(() => {
            const tsc = measured([require.resolve("typescript/bin/tsc", { paths: [projectRoot] }), "--noEmit", "-p", "."]);
            const tests = measured([require.resolve("mocha/bin/mocha.js", { paths: [projectRoot] }), ...npmTestMochaArgs()]);
            typecheck.samples.push(tsc);
            mochaTs.samples.push(tests);
            npmTest.samples.push({ wallMs: tsc.wallMs + tests.wallMs, cpuMs: (tsc.cpuMs ?? 0) + (tests.cpuMs ?? 0) });
        });
    }
    const runs = Math.max(options.stacks.length > 0 ? options.runs : 0, options.tests ? options.testRuns : 0);
    for (let run = 1; run <= runs; run++) {
        process.stderr.write(`run ${run}/${runs}\n`);
        if (run <= options.runs) {
            plan.forEach((step) => step());
        }
        if (run <= options.testRuns) {
            testPlan.forEach((step) => step());
        }
    }
    return rows;
}

function median(values: number[]): number {
    const sorted = [...values].sort((a, b) => a - b);
    const middle = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

const seconds = (ms: number) => (ms / 1000).toFixed(2);

/** The Markdown table: one line per row with median and spread over its samples. */
export function table(rows: Row[]): string {
    const lines = ["| What | Mode | Runs | Wall median (s) | Wall min–max (s) | CPU median (s) | Resources registered |", "|---|---|---|---|---|---|---|"];
    for (const { group, label, samples } of rows) {
        const walls = samples.map((s) => s.wallMs);
        const cpus = samples.flatMap((s) => (s.cpuMs === undefined ? [] : [s.cpuMs]));
        const resources = [...new Set(samples.map((s) => s.resources))].filter((r) => r !== undefined);
        // What ts-node actually did, as the sample reported it: the row's claim, verified.
        const modes = [...new Set(samples.flatMap((s) => (s.typeChecked === undefined ? [] : [s.typeChecked ? "type-checked" : "transpile-only"])))];
        const checked = modes.length > 0 ? ` → ${modes.join(" and ")}` : "";
        lines.push(
            `| ${group} | ${label}${checked} | ${samples.length} | ${seconds(median(walls))} | ${seconds(Math.min(...walls))}–${seconds(Math.max(...walls))} | ${
                cpus.length > 0 ? seconds(median(cpus)) : "–"
            } | ${resources.length > 0 ? resources.join(", ") : "–"} |`,
        );
    }
    return lines.join("\n");
}

function machine(): string {
    const cpus = os.cpus();
    return `${cpus.length} cores (${cpus[0]?.model.trim() ?? "unknown CPU"}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()}`;
}

function main(): void {
    const options = parseOptions(process.argv.slice(2));
    const loadBefore = os.loadavg()[0];
    const rows = measure(options);
    const loadAfter = os.loadavg()[0];
    process.stdout.write(`Machine: ${machine()}; 1-minute load average ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after\n\n`);
    process.stdout.write(`${table(rows)}\n\n`);
    for (const stack of options.stacks) {
        const rowOf = (prefix: string) => rows.find((r) => r.group === stack && r.label.startsWith(prefix));
        const js = median(rowOf("compiled JS")?.samples.map((s) => s.wallMs) ?? []);
        const ts = median(rowOf("TypeScript, as")?.samples.map((s) => s.wallMs) ?? []);
        process.stdout.write(
            `${stack}: compiled JS ${seconds(js)} s (target < 1 s: ${js < 1000 ? "met" : "missed"}); TypeScript as pulumi up runs it ${seconds(ts)} s (target < 3 s: ${
                ts < 3000 ? "met" : "missed"
            })\n`,
        );
    }
}

if (require.main === module) {
    try {
        main();
    } catch (error) {
        process.stderr.write(`${error instanceof Error ? error.message : error}\n`);
        process.exit(1);
    }
}
