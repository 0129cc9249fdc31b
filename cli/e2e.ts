import Mocha = require("mocha");
import { readdirSync } from "fs";
import * as path from "path";
import { ensureToolchain } from "../harness/engine/toolchain";
import { e2eRows, formatRows } from "../tests/e2e/support";
import { projectRoot, shippedStacks } from "../harness/stackConfig";

/**
 * `npm run e2e [-- --stack <s>]...`: the e2e suite (tests/e2e/*.e2e.ts) on the real engine and a
 * real API server, for every shipped stack or those named; prints a table of every engine operation
 * (stack, step, seconds, changes) and exits non-zero when any test failed.
 */
function parseStacks(argv: readonly string[]): string[] {
    const stacks: string[] = [];
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i];
        const value = arg === "--stack" ? argv[++i] : arg.startsWith("--stack=") ? arg.slice("--stack=".length) : undefined;
        if (value === undefined) {
            throw new Error(`unknown argument ${arg}; usage: npm run e2e [-- --stack <${shippedStacks.join("|")}>]...`);
        }
        for (const stack of value.split(",")) {
            if (!(shippedStacks as readonly string[]).includes(stack)) {
                throw new Error(`--stack ${stack} is not a shipped stack; expected one of ${shippedStacks.join(", ")}`);
            }
            stacks.push(stack);
        }
    }
    return stacks;
}

function main(): void {
    let stacks: string[];
    try {
        stacks = parseStacks(process.argv.slice(2));
    } catch (error) {
        console.error(`e2e: ${(error as Error).message}`);
        process.exit(2);
    }
    if (stacks.length > 0) {
        process.env.E2E_STACKS = stacks.join(",");
    }
    // Built here, before any test's time limit starts: cold, it takes about 23 minutes on 2 cores.
    const building = Date.now();
    ensureToolchain();
    console.log(`e2e: toolchain ready in ${((Date.now() - building) / 1000).toFixed(0)} s`);
    const mocha = new Mocha({ reporter: "spec", timeout: 60_000 });
    const dir = path.join(projectRoot, "tests", "e2e");
    for (const file of readdirSync(dir).filter((f) => f.endsWith(".e2e.ts")).sort()) {
        mocha.addFile(path.join(dir, file));
    }
    const started = Date.now();
    mocha.run((failures) => {
        console.log(`\ne2e: ${((Date.now() - started) / 1000).toFixed(0)} s in all\n${formatRows(e2eRows)}`);
        process.exitCode = failures > 0 ? 1 : 0;
    });
}

main();
