/**
 * Which test files each npm script runs, worked out the way mocha itself collects them: the spec
 * globs and `--ignore` globs of the script's `mocha` command, resolved by mocha's own file collector
 * (`mocha/lib/cli/collect-files`, the code `mocha` runs; mocha is pinned in package.json). A file no
 * script runs would silently never be tested; one two scripts run would run twice in CI.
 */
import { readdirSync, readFileSync } from "fs";
import * as path from "path";
import { projectRoot } from "../../harness/stackConfig";

/** The npm scripts that run unit tests: `npm test` (everything but tests/data) and `npm run test:data` (tests/data: the suites on real redis-server, PostgreSQL, S3 and Prometheus processes). */
export const unitTestScripts = ["test", "test:data"] as const;
export type UnitTestScript = (typeof unitTestScripts)[number];

/** The folder of the e2e suite: `npm run e2e` runs its `*.e2e.ts` files on the real engine; no unit-test script may reach into it. */
export const e2eDir = "tests/e2e";

/** A mocha command's file selection. */
export interface MochaSelection {
    /** Spec globs, in the order given (mocha hands files to the workers in this order). */
    spec: string[];
    /** `--ignore` globs: mocha drops a file any of them matches, whichever spec glob found it. */
    ignore: string[];
}

/** The npm scripts of package.json at `root`. */
export function npmScripts(root = projectRoot): Record<string, string> {
    return JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")).scripts;
}

/** The spec and `--ignore` globs of the `mocha ...` command in an npm script (`[npm run typecheck && ]mocha <args>`). */
export function mochaSelection(script: string): MochaSelection {
    const args = /(?:^|&& )mocha (.*)$/.exec(script)?.[1];
    if (args === undefined) {
        throw new Error(`not a mocha command: ${script}`);
    }
    const words = (args.match(/"[^"]*"|\S+/g) ?? []).map((a) => a.replace(/^"(.*)"$/, "$1"));
    const selection: MochaSelection = { spec: [], ignore: [] };
    for (let i = 0; i < words.length; i++) {
        if (words[i] === "--ignore") {
            selection.ignore.push(words[++i]);
        } else if (words[i] === "--jobs") {
            i++;
        } else if (!words[i].startsWith("-")) {
            selection.spec.push(words[i]);
        }
    }
    return selection;
}

/** The files mocha runs for a selection, relative to `root` and in mocha's order (mocha does not drop a file two spec globs find). */
export function filesSelected(selection: MochaSelection, root = projectRoot): string[] {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const collectFiles = require("mocha/lib/cli/collect-files") as (opts: object) => { files: string[] };
    // Absolute globs: the same matching as mocha's relative ones from `root`, without changing the process's cwd.
    const absolute = (glob: string) => path.join(root, glob);
    const { files } = collectFiles({
        spec: selection.spec.map(absolute),
        ignore: selection.ignore.map(absolute),
        extension: [],
        file: [],
        recursive: false,
        sort: false,
    });
    return files.map((f) => path.relative(root, f).split(path.sep).join("/"));
}

/** Every `*.test.ts` under `tests/` at `root`, subfolders included. */
export function testFiles(root = projectRoot): string[] {
    return (readdirSync(path.join(root, "tests"), { recursive: true }) as string[])
        .map((f) => `tests/${f.split(path.sep).join("/")}`)
        .filter((f) => f.endsWith(".test.ts"))
        .sort();
}

/** For every test file: how many times each unit-test script runs it. */
export function runsPerFile(root = projectRoot): Array<{ file: string; runs: Record<UnitTestScript, number> }> {
    const scripts = npmScripts(root);
    const selected = Object.fromEntries(unitTestScripts.map((s) => [s, filesSelected(mochaSelection(scripts[s]), root)])) as Record<UnitTestScript, string[]>;
    return testFiles(root).map((file) => ({
        file,
        runs: Object.fromEntries(unitTestScripts.map((s) => [s, selected[s].filter((f) => f === file).length])) as Record<UnitTestScript, number>,
    }));
}

/**
 * What is wrong with the test selection at `root`, one line per file: a test file outside the e2e
 * folder that no script or more than one run (or that one runs twice), and any `*.test.ts` in the
 * e2e folder (the e2e runner takes only `*.e2e.ts` there, so it would run nowhere).
 */
export function selectionProblems(root = projectRoot): string[] {
    const problems: string[] = [];
    for (const { file, runs } of runsPerFile(root)) {
        const total = Object.values(runs).reduce((a, b) => a + b, 0);
        const counts = unitTestScripts.map((s) => `${s} ${runs[s]}`).join(", ");
        if (file.startsWith(`${e2eDir}/`)) {
            problems.push(`${file}: in the e2e folder, where npm run e2e runs only *.e2e.ts (${counts})`);
        } else if (total !== 1) {
            problems.push(`${file}: run ${total} times (${counts})`);
        }
    }
    return problems;
}
