/**
 * `npm run bench:tests`: how long `npm test` takes, as a user runs it (type check, then mocha with
 * the arguments package.json gives it), end to end. Runs it several times one after another and
 * prints the median wall time with every run's figure and the machine's load average before each
 * run (the suite's target, under 60 s, is for this 2-core machine with nothing else running: a busy
 * machine shows in the load). A benchmark, not a test: no test asserts a time.
 *
 *   npm run bench:tests [-- --runs 3]
 */
import { spawnSync } from "child_process";
import * as os from "os";
import { performance } from "perf_hooks";
import { projectRoot } from "../../harness/stackConfig";

function parseRuns(argv: string[]): number {
    const at = argv.indexOf("--runs");
    const runs = at === -1 ? 3 : Number(argv[at + 1]);
    if (!Number.isInteger(runs) || runs < 1) {
        throw new Error(`--runs ${argv[at + 1]} is invalid; expected a whole number >= 1`);
    }
    return runs;
}

export function median(values: number[]): number {
    const sorted = [...values].sort((a, b) => a - b);
    const middle = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function main(): void {
    const runs = parseRuns(process.argv.slice(2));
    const samples: Array<{ seconds: number; load: number }> = [];
    for (let run = 1; run <= runs; run++) {
        const load = os.loadavg()[0];
        process.stderr.write(`npm test, run ${run}/${runs} (load average ${load.toFixed(1)})\n`);
        const started = performance.now();
        const result = spawnSync("npm", ["test"], { cwd: projectRoot, stdio: ["ignore", "ignore", "inherit"] });
        const seconds = (performance.now() - started) / 1000;
        if (result.status !== 0) {
            throw new Error(`npm test failed on run ${run} (exit ${result.status}): a failing suite is not a figure`);
        }
        samples.push({ seconds, load });
    }
    const walls = samples.map((s) => s.seconds);
    console.log(
        `npm test: median ${median(walls).toFixed(1)} s over ${runs} runs ` +
            `(${samples.map((s) => `${s.seconds.toFixed(1)} s at load ${s.load.toFixed(1)}`).join("; ")}; ${os.cpus().length} cores)`,
    );
}

if (require.main === module) {
    main();
}
