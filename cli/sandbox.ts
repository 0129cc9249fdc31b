import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "fs";
import * as path from "path";
import { parse, stringify } from "yaml";
import { stackSettings } from "./ops/workspace";
import { projectRoot, shippedStacks } from "../harness/stackConfig";
import { applyPlatformStandins, controlPlaneRunning, startControlPlane, stopControlPlane } from "../harness/engine/controlPlane";
import { describeChanges, EngineStack, localWithoutAddons } from "../harness/engine/engine";
import { ensureToolchain, toolchainCache } from "../harness/engine/toolchain";

/**
 * `npm run sandbox -- --stack <s> [--stack <t>]`: a control plane per stack (its own "cluster",
 * reached through the stack's own kubeContext) with the stack deployed by the real engine, left
 * running; `npm run sandbox:down` stops exactly what it started. A sandbox is no cluster: no
 * container runs (kwok only marks pods Running and Ready), no traffic flows, no Helm add-on is
 * installed (their CRDs are).
 */

const sandboxDir = process.env.HEALTHCARE_SANDBOX_DIR || path.join(path.dirname(toolchainCache()), "sandbox");


function usage(): never {
    console.error(`usage: npm run sandbox -- --stack <${shippedStacks.join("|")}> [--stack ...]   |   npm run sandbox:down`);
    process.exit(2);
}

function stacksFrom(argv: readonly string[]): string[] {
    const stacks: string[] = [];
    for (let i = 0; i < argv.length; i++) {
        const value = argv[i] === "--stack" ? argv[++i] : argv[i].startsWith("--stack=") ? argv[i].slice(8) : undefined;
        if (!value || !(shippedStacks as readonly string[]).includes(value)) {
            usage();
        }
        stacks.push(value);
    }
    return stacks.length > 0 ? stacks : usage();
}

function down(): void {
    if (!existsSync(sandboxDir)) {
        console.log(`sandbox: none in ${sandboxDir}`);
        return;
    }
    for (const entry of readdirSync(sandboxDir)) {
        const stopped = stopControlPlane(path.join(sandboxDir, entry, "control-plane"));
        if (stopped.length > 0) {
            console.log(`sandbox: stopped ${entry}'s ${stopped.join(", ")}`);
        }
    }
    rmSync(sandboxDir, { recursive: true, force: true });
    console.log(`sandbox: removed ${sandboxDir}`);
}

/** One kubeconfig with every sandbox stack's context, each pointing at its own control plane. */
function mergeKubeconfigs(files: readonly string[], into: string): void {
    const merged = { apiVersion: "v1", kind: "Config", clusters: [] as unknown[], users: [] as unknown[], contexts: [] as unknown[], "current-context": "" };
    for (const [i, file] of files.entries()) {
        const config = parse(readFileSync(file, "utf8"));
        const suffix = `-${i}`;
        const context = config.contexts.find((c: any) => c.name === config["current-context"]);
        merged.clusters.push(...config.clusters.filter((c: any) => c.name === context.context.cluster).map((c: any) => ({ ...c, name: c.name + suffix })));
        merged.users.push(...config.users.map((u: any) => ({ ...u, name: u.name + suffix })));
        merged.contexts.push({ name: context.name, context: { cluster: context.context.cluster + suffix, user: context.context.user + suffix } });
        merged["current-context"] ||= context.name;
    }
    writeFileSync(into, stringify(merged), { mode: 0o600 });
}

async function up(stacks: readonly string[]): Promise<void> {
    if (existsSync(sandboxDir) && readdirSync(sandboxDir).some((e) => controlPlaneRunning(path.join(sandboxDir, e, "control-plane")))) {
        console.error(`sandbox: one already runs from ${sandboxDir}; \`npm run sandbox:down\` first`);
        process.exit(1);
    }
    const toolchain = ensureToolchain();
    rmSync(sandboxDir, { recursive: true, force: true });
    mkdirSync(sandboxDir, { recursive: true });
    const crds = path.join(projectRoot, ".tools", "crds");
    if (!existsSync(crds)) {
        throw new Error(`no CRDs in ${crds}: run \`npm run setup:checks\` first`);
    }
    // Every control plane first: the stacks deploy with the one kubeconfig users get, so a later
    // preview from env.sh sees the same provider inputs (KUBECONFIG is one of them).
    const clusters = [];
    for (const stackName of stacks) {
        const context = stackSettings(stackName).cluster.context ?? "sandbox";
        const cluster = await startControlPlane({
            dir: path.join(sandboxDir, stackName, "control-plane"),
            toolchain,
            version: toolchain.e2eKubernetes,
            mode: "full",
            contexts: [context],
            say: (line) => console.log(`sandbox: ${stackName}: ${line}`),
        });
        cluster.kubectl(["apply", "--server-side", "-f", crds]);
        cluster.kubectl(["wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"]);
        // The custom-metrics API and the ClusterIssuer staging and production need (stand-ins).
        await applyPlatformStandins(cluster);
        clusters.push(cluster);
    }
    const kubeconfig = path.join(sandboxDir, "kubeconfig");
    mergeKubeconfigs(
        clusters.map((c) => c.kubeconfig),
        kubeconfig,
    );
    let pulumiHome = "";
    let state = "";
    const workDirs: Record<string, string> = {};
    for (const stackName of stacks) {
        // One state backend for all the sandbox's stacks: promotion reads staging's outputs.
        const stack = await EngineStack.create(stackName, { toolchain, dir: path.join(sandboxDir, stackName), kubeconfig, stateDir: path.join(sandboxDir, "state") });
        if (stackName === "local") {
            await stack.setConfig(localWithoutAddons);
        }
        console.log(`sandbox: ${stackName}: pulumi up (the project's program, the real engine and kubernetes provider)`);
        const result = await stack.up();
        console.log(`sandbox: ${stackName}: deployed in ${result.seconds.toFixed(0)} s (${describeChanges(result.changes)})`);
        pulumiHome = stack.workspace.pulumiHome ?? "";
        state = stack.workspace.envVars.PULUMI_BACKEND_URL;
        workDirs[stackName] = stack.workspace.workDir;
    }
    const env = path.join(sandboxDir, "env.sh");
    writeFileSync(
        env,
        [
            "# Source this to use the sandbox: kubectl, the everyday commands that read the cluster, pulumi stack output.",
            `export KUBECONFIG="${kubeconfig}"`,
            `export PATH="${path.dirname(toolchain.pulumi)}:${path.join(toolchain.kubernetesBin, `k8s-${toolchain.e2eKubernetes}`)}:$PATH"`,
            `export PULUMI_HOME="${pulumiHome}"`,
            `export PULUMI_BACKEND_URL="${state}"`,
            `export PULUMI_CONFIG_PASSPHRASE="e2e-throwaway-state"`,
            "export PULUMI_SKIP_UPDATE_CHECK=true",
            "# The provider comes from PULUMI_HOME's plugins, not from the toolchain folder on PATH.",
            "export PULUMI_IGNORE_AMBIENT_PLUGINS=true",
            "",
        ].join("\n"),
    );
    const contexts = stacks.map((s) => stackSettings(s).cluster.context).join(", ");
    console.log(
        [
            "",
            `sandbox: running. kubeconfig ${kubeconfig} (contexts ${contexts})`,
            `  source ${env}`,
            `  kubectl --context ${stackSettings(stacks[0]).cluster.context} -n healthcare-backend get all,hpa,pdb,networkpolicies,vpa`,
            `  npm run ops -- status --stack ${stacks[0]}`,
            `  pulumi stack output --stack ${stacks[0]} --cwd ${workDirs[stacks[0]]}`,
            "  npm run sandbox:down      stops it and removes it",
            "A sandbox is not a cluster: no container runs (pods are marked Running and Ready), no traffic flows, no Helm add-on is installed.",
        ].join("\n"),
    );
}

async function main(): Promise<void> {
    const [command, ...rest] = process.argv.slice(2);
    if (command === "down") {
        down();
    } else if (command === "up") {
        await up(stacksFrom(rest));
    } else {
        usage();
    }
}

main().catch((error: Error) => {
    console.error(`sandbox: ${error.message}`);
    process.exit(1);
});
