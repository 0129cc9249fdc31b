/**
 * One benchmark sample, started by cli/bench/bench.ts in a fresh Node process from its compiled form
 * (bin/cli/bench/evaluateStack.js): evaluates the program for a shipped stack on Pulumi's mocks and
 * prints one JSON line (resources registered, whether ts-node type-checked, in-process phase times).
 *
 *   node bin/cli/bench/evaluateStack.js <stack>                the compiled program (bin/index.js)
 *   node bin/cli/bench/evaluateStack.js <stack> --typescript   index.ts through ts-node, as `pulumi up` runs it
 *
 * With --typescript, ts-node is registered the way `pulumi up` registers it for a `typescript: true`
 * project (@pulumi/pulumi 3.248 cmd/run/run.js, non-ESM branch): the project's tsconfig.json,
 * Pulumi's default compiler options under the tsconfig's, and `transpileOnly` from
 * PULUMI_NODEJS_TRANSPILE_ONLY when set, else from the tsconfig's `noCheck`; ts-node then applies
 * the tsconfig's "ts-node" section for what is still unset. Only the program goes through ts-node,
 * not this tooling.
 */
import * as path from "path";
import { performance } from "perf_hooks";

/** Registers ts-node as `pulumi up` does; returns whether it type-checks. */
function registerTsNodeLikePulumi(projectRoot: string): boolean {
    // Both load lazily: the compiled mode must not pay for them.
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const ts = require("typescript") as typeof import("typescript");
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const tsNode = require("ts-node") as typeof import("ts-node");
    const tsconfigPath = path.join(projectRoot, "tsconfig.json");
    const compilerOptions = ts.parseConfigFileTextToJson(tsconfigPath, ts.sys.readFile(tsconfigPath) ?? "{}").config?.compilerOptions ?? {};
    const fromEnvironment = process.env["PULUMI_NODEJS_TRANSPILE_ONLY"];
    const transpileOnly: boolean | undefined = fromEnvironment ? fromEnvironment === "true" : compilerOptions.noCheck;
    const service = tsNode.register({
        compiler: "typescript",
        transpileOnly,
        // The tsconfig's swc implies transpile-only, and ts-node refuses both with transpileOnly false
        // (as `pulumi up` would): forced to type-check, this measures TypeScript's own compiler instead.
        ...(transpileOnly === false ? { swc: false } : {}),
        project: tsconfigPath,
        skipProject: false,
        compilerOptions: { target: "ES2020", module: "nodenext", moduleResolution: "nodenext", sourceMap: "true", ...compilerOptions },
    });
    return !(service.options.transpileOnly === true && service.options.typeCheck !== true);
}

function parseArgs(argv: string[]): { stack: string; typescript: boolean } {
    const [stack, flag, ...rest] = argv;
    if (!stack || (flag !== undefined && flag !== "--typescript") || rest.length > 0) {
        throw new Error("usage: evaluateStack <stack> [--typescript]");
    }
    return { stack, typescript: flag === "--typescript" };
}

async function main(): Promise<void> {
    const started = performance.now();
    const args = parseArgs(process.argv.slice(2));
    // Loaded after the clock starts: loading @pulumi/pulumi is part of what `pulumi up` pays.
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { defaultProgramModule, runStack } = require("../../harness/mockProgram") as typeof import("../../harness/mockProgram");
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { projectRoot, stackConfig } = require("../../harness/stackConfig") as typeof import("../../harness/stackConfig");
    let program = defaultProgramModule;
    let typeChecked: boolean | undefined; // only meaningful through ts-node
    if (args.typescript) {
        typeChecked = registerTsNodeLikePulumi(projectRoot);
        program = path.join(projectRoot, "index.ts");
    }
    const ready = performance.now();
    const run = await runStack(stackConfig(args.stack), args.stack, program, { asPulumiUp: true });
    const done = performance.now();
    const sample = {
        stack: args.stack,
        program: path.relative(projectRoot, program),
        typeChecked,
        resources: run.resources.length,
        processStartMs: started,
        setupMs: ready - started,
        programMs: done - ready,
        cpuMs: (process.cpuUsage().user + process.cpuUsage().system) / 1000,
    };
    process.stdout.write(`${JSON.stringify(sample)}\n`);
}

main().catch((error) => {
    process.stderr.write(`${error instanceof Error ? error.stack : error}\n`);
    process.exit(1);
});
