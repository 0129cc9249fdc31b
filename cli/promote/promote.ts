import { LocalWorkspace, Stack } from "@pulumi/pulumi/automation";
import { copyFileSync, mkdtempSync, rmSync } from "fs";
import { tmpdir } from "os";
import { inlineProgram } from "../../harness/mockProgram";
import * as path from "path";
import { projectRoot, readProject } from "../../harness/stackConfig";
import { ChangeSummary, promote, PromotionRefused, PromotionStack } from "./promotion";
import { stackFileConfig } from "./stackFile";

/**
 * `npm run promote -- [--from staging] [--to production]`: writes what the source stack runs into
 * the target's stack file and previews the target, through the Automation API (the Pulumi CLI must be
 * installed and logged in to the stacks' backend). It never deploys: the edited stack file goes to
 * review as a pull request (promote.yml), and production deploys from main after the merge.
 */

/**
 * Binds a stack of the Automation API to the promotion interface. Config is read and written in the
 * stack file itself (cli/promote/stackFile.ts), not with `pulumi config set`, which would rewrite the whole
 * file: the promotion's diff shows exactly the keys it changes. The CLI reads the edited file.
 */
export function automationStack(stack: Stack, project: string, stackFile = path.join(projectRoot, `Pulumi.${stack.name.split("/").pop()}.yaml`)): PromotionStack {
    // The CLI reads (and may write a secrets provider's salt into) the copy in the workspace's own folder, never the repository's file.
    const workspaceCopy = () => copyFileSync(stackFile, path.join(stack.workspace.workDir, path.basename(stackFile)));
    const config = stackFileConfig(stackFile, project);
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
            workspaceCopy();
            const result = await stack.preview({ refresh, onOutput: (text) => process.stdout.write(text) });
            return summary(result.changeSummary);
        },
        getConfig: config.getConfig,
        setConfig: config.setConfig,
        removeConfig: config.removeConfig,
    };
}

function option(args: string[], name: string, fallback: string): string {
    const at = args.indexOf(name);
    return at >= 0 && args[at + 1] ? args[at + 1] : fallback;
}

async function main(args: string[]): Promise<void> {
    if (args.includes("--yes")) {
        throw new PromotionRefused("promotion no longer deploys (--yes): it edits the target's stack file for review; the target deploys from main once that change is merged (docs/delivery.md#promotion)");
    }
    const from = option(args, "--from", "staging");
    const to = option(args, "--to", "production");
    const project = readProject().name;
    // The project's program inline: preview needs only the pulumi CLI, no Node.js language host. The CLI works
    // in a folder of copies: a salt it saves (a passphrase backend) must never land in a shipped stack file.
    const workDir = mkdtempSync(path.join(tmpdir(), "promote-"));
    copyFileSync(path.join(projectRoot, "Pulumi.yaml"), path.join(workDir, "Pulumi.yaml"));
    const envVars = { PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER: "true" };
    const select = (stackName: string) => LocalWorkspace.selectStack({ stackName, projectName: project, program: inlineProgram() }, { workDir, envVars });
    try {
        const [source, target] = await Promise.all([select(from), select(to)]);
        await promote(automationStack(source, project), automationStack(target, project), { say: (line) => console.log(line) });
    } finally {
        rmSync(workDir, { recursive: true, force: true });
    }
    console.log(`${to} previewed; nothing deployed. Review and merge the change to Pulumi.${to}.yaml`);
}

if (require.main === module) {
    main(process.argv.slice(2)).catch((error: Error) => {
        console.error(error instanceof PromotionRefused ? `promotion refused: ${error.message}` : error);
        process.exit(1);
    });
}
