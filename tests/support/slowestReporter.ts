/**
 * Mocha's spec reporter, followed by the ten slowest tests and hooks and the time each test file
 * took (its tests and hooks), so that a slow test is seen the run it is added. Works with
 * `--parallel`: it reads the durations mocha measured in the workers, not the clock here (in
 * parallel mode a file's events arrive all at once when the file is done).
 *
 * `SLOWEST_REPORT_FILE=<path>` also writes every test's and hook's duration as JSON (for profiling).
 */
import { writeFileSync } from "fs";
import * as Mocha from "mocha";
import * as path from "path";

const { EVENT_HOOK_END, EVENT_TEST_END, EVENT_RUN_END } = Mocha.Runner.constants;

/** How many of the slowest to list. */
const listed = 10;

interface Timed {
    kind: "test" | "hook";
    title: string;
    file: string;
    ms: number;
}

class SlowestReporter extends Mocha.reporters.Spec {
    constructor(runner: Mocha.Runner, options?: Mocha.MochaOptions) {
        super(runner, options);
        const timed: Timed[] = [];
        const record = (kind: Timed["kind"]) => (runnable: Mocha.Runnable) => {
            timed.push({ kind, title: runnable.fullTitle(), file: path.relative(process.cwd(), runnable.file ?? "?"), ms: runnable.duration ?? 0 });
        };
        runner.on(EVENT_TEST_END, record("test"));
        runner.on(EVENT_HOOK_END, record("hook"));
        // After spec's epilogue (registered by Base before this listener).
        runner.once(EVENT_RUN_END, () => {
            const seconds = (ms: number) => `${(ms / 1000).toFixed(1).padStart(6)} s`;
            const slowest = [...timed].sort((a, b) => b.ms - a.ms).slice(0, listed);
            const lines = [`  Slowest ${slowest.length} tests and hooks:`];
            for (const t of slowest) {
                lines.push(`  ${seconds(t.ms)}  ${t.kind === "hook" ? "(hook) " : ""}${t.title}  [${t.file}]`);
            }
            const byFile = new Map<string, number>();
            for (const t of timed) {
                byFile.set(t.file, (byFile.get(t.file) ?? 0) + t.ms);
            }
            lines.push("", `  Time per file (tests and hooks; ${byFile.size} files):`);
            for (const [file, ms] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, listed)) {
                lines.push(`  ${seconds(ms)}  ${file}`);
            }
            process.stdout.write(`${lines.join("\n")}\n\n`);
            const target = process.env["SLOWEST_REPORT_FILE"];
            if (target) {
                writeFileSync(target, JSON.stringify(timed, null, 1));
            }
        });
    }
}

export = SlowestReporter;
