import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { projectRoot, readProject } from "./stackConfig";
import { ChangeSummary, promote, PromotionRefused, PromotionStack } from "./promotion";

/**
 * `npm run promote -- [--from staging] [--to production] [--yes]`: promotes what the source stack
 * runs to the target through the Automation API (the Pulumi CLI must be installed and logged in to
 * the stacks' backend). Without --yes it stops after production's preview.
 */

/** Binds a stack of the Automation API to the promotion interface. */
export function automationStack(stack: Stack, project: string): PromotionStack {
    const fullKey = (key: string) => `${project}:${key}`;
    const summary = (counts: Record<string, number | undefined> | undefined): ChangeSummary =>
        Object.fromEntries(Object.entries(counts ?? {}).map(([k, v]) => [k, v ?? 0]));
    return {
        name: stack.name,
        async history(limit) {
            const entries = await stack.history(limit, 1);
            return entries.map((e) => ({ kind: e.kind, result: e.result, startTime: e.startTime }));
        },
        async outputs() {
            const outputs = await stack.outputs();
            return Object.fromEntries(Object.entries(outputs).filter(([, o]) => !o.secret).map(([k, o]) => [k, o.value]));
        },
        async preview({ refresh }) {
            const result = await stack.preview({ refresh, onOutput: (text) => process.stdout.write(text) });
            return summary(result.changeSummary);
        },
        async getConfig(key) {
            const all = await stack.getAllConfig();
            return all[fullKey(key)]?.value;
        },
        setConfig: (key, value) => stack.setConfig(fullKey(key), { value }),
        removeConfig: (key) => stack.removeConfig(fullKey(key)),
        async up() {
            const result = await stack.up({ onOutput: (text) => process.stdout.write(text) });
            return summary(result.summary.resourceChanges);
        },
    };
}

function option(args: string[], name: string, fallback: string): string {
    const at = args.indexOf(name);
    return at >= 0 && args[at + 1] ? args[at + 1] : fallback;
}

async function main(args: string[]): Promise<void> {
    const from = option(args, "--from", "staging");
    const to = option(args, "--to", "production");
    const project = readProject().name;
    const select = (stackName: string) => LocalWorkspace.selectStack({ stackName, workDir: projectRoot });
    const [source, target] = await Promise.all([select(from), select(to)]);
    const result = await promote(automationStack(source, project), automationStack(target, project), {
        deploy: args.includes("--yes"),
        say: (line) => console.log(line),
    });
    console.log(result.deployed ? `${to} deployed` : `${to} previewed; nothing deployed`);
}

if (require.main === module) {
    main(process.argv.slice(2)).catch((error: Error) => {
        console.error(error instanceof PromotionRefused ? `promotion refused: ${error.message}` : error);
        process.exit(1);
    });
}
