/**
 * Renders every shipped stack and holds its objects to the third-party checks:
 *
 *   npm run check:manifests [-- --stack <name>] [-- --out <dir>]
 *
 * Per stack: render into `<out>/<stack>` (default `rendered/`), validate the schemas (strict, every
 * Kubernetes version in `kubernetesVersions`, CRDs for custom resources), scan with checkov. Then
 * every rendered object goes through a server-side dry run on real API servers (the oldest and
 * newest Kubernetes the toolchain serves, cli/checks/dryRun.ts). Fails on any schema problem, any
 * object an API server refuses or warns about under Pod Security, any failed check the skip list
 * (cli/checks/policy-skips.yaml) does not cover, and, when every stack was checked, on a skip that no longer
 * matches anything.
 */
import * as path from "path";
import { dryRunStacks } from "./dryRun";
import { ensureToolchain } from "../../harness/engine/toolchain";
import { applySkips, assertChecksInstalled, kubernetesVersions, loadPolicySkips, PolicySkip, scanPolicies, validateSchemas } from "./manifestChecks";
import { parseOptions, renderStack, writeRendering } from "../render";
import { projectRoot, shippedStacks } from "../../harness/stackConfig";

const seconds = (since: bigint) => (Number(process.hrtime.bigint() - since) / 1e9).toFixed(1);

async function main(): Promise<number> {
    const options = parseOptions(process.argv.slice(2), ["stack", "out"]);
    const stacks = options.stack ? [options.stack] : [...shippedStacks];
    const outRoot = path.resolve(process.cwd(), options.out ?? path.join(projectRoot, "rendered"));
    assertChecksInstalled();
    const skips = loadPolicySkips();
    const used = new Set<PolicySkip>();
    let problems = 0;
    const rendered: Array<{ stack: string; objectFiles: string[]; releaseNamespaces: string[] }> = [];

    for (const stack of stacks) {
        let started = process.hrtime.bigint();
        const rendering = await renderStack(stack);
        const { objectFiles, releaseFiles } = writeRendering(rendering, path.join(outRoot, stack), stack);
        rendered.push({ stack, objectFiles, releaseNamespaces: [...new Set(rendering.releases.map((r) => String(r.namespace)))] });
        const renderTime = seconds(started);

        started = process.hrtime.bigint();
        const schemas = validateSchemas(objectFiles);
        const schemaTime = seconds(started);

        started = process.hrtime.bigint();
        const scan = scanPolicies(objectFiles);
        const policies = applySkips(scan.failed, skips);
        policies.used.forEach((s) => used.add(s));
        const scanTime = seconds(started);

        console.log(
            `${stack}: ${objectFiles.length} objects, ${releaseFiles.length} Helm releases rendered to ${path.relative(process.cwd(), path.join(outRoot, stack))} (${renderTime} s)\n` +
                `  schemas (Kubernetes ${kubernetesVersions.join(", ")}, CRDs): ${schemas.checked} checks, ${schemas.failed.length} failed (${schemaTime} s)\n` +
                `  checkov: ${scan.passed} passed, ${policies.failed.length} failed, ${policies.skipped.length} skipped by policy-skips.yaml (${scanTime} s)`,
        );
        for (const f of schemas.failed) {
            console.log(`  SCHEMA FAIL ${path.basename(f.file)} ${f.object} against ${f.against}: ${f.problem}`);
        }
        for (const f of policies.failed) {
            console.log(`  POLICY FAIL ${f.check} "${f.title}" on ${f.object} (${path.basename(f.file)})`);
        }
        problems += schemas.failed.length + policies.failed.length;
    }

    const toolchain = ensureToolchain();
    const dryRun = await dryRunStacks(toolchain, rendered, (line) => console.log(line));
    for (const f of dryRun.findings) {
        console.log(`  DRY RUN FAIL Kubernetes ${f.version}, ${f.stack}, ${f.where}: ${f.problem}`);
    }
    problems += dryRun.findings.length;

    if (stacks.length === shippedStacks.length) {
        for (const skip of skips.filter((s) => !used.has(s))) {
            console.log(`  STALE SKIP ${skip.check} for ${skip.objects.join(", ")}: no stack fails it any more; remove it from policy-skips.yaml`);
            problems += 1;
        }
    }
    console.log(problems === 0 ? "manifest checks passed" : `manifest checks failed: ${problems} problem(s)`);
    return problems === 0 ? 0 : 1;
}

main().then(
    (status) => process.exit(status),
    (error: Error) => {
        console.error(error.message);
        process.exit(1);
    },
);
