import { EngineEvent, LocalWorkspace, OpMap, OpType, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "fs";
import * as os from "os";
import * as path from "path";
import * as ts from "typescript";
import { defaultProgramModule, inlineProgram } from "../mockProgram";
import { projectRoot, readProject } from "../stackConfig";
import { Toolchain } from "./toolchain";

/**
 * The real Pulumi engine for the e2e and the sandbox: the CLI from the toolchain runs the project's
 * own program (index.ts) as an Automation API inline program, so no Node.js language host is
 * needed. Everything lives in a private folder: the stack files (copies: config changes made here
 * never touch the repository's), a file state backend, and a PULUMI_HOME whose plugins are the
 * toolchain's kubernetes provider and the e2e's stand-in random provider.
 */

export interface EngineOptions {
    readonly toolchain: Toolchain;
    /** Private folder for the work dir, the state and PULUMI_HOME. */
    readonly dir: string;
    /** KUBECONFIG for the provider (the control plane's: its contexts carry the stacks' names). */
    readonly kubeconfig: string;
    /** The program to run; default the project's index.ts. */
    readonly programModule?: string;
    /** Folder of the file state backend, when stacks share one (the sandbox); default a private one. */
    readonly stateDir?: string;
}

/** One resource step the engine planned or took. */
export interface Step {
    readonly op: OpType;
    readonly urn: string;
    readonly type: string;
    /** Properties whose change forces a replacement, for replace steps. */
    readonly keys?: readonly string[];
    /** When the step started, on the operation's event counter (for ordering checks). */
    readonly started: number;
    /** When the step finished (outputs or failure), on the same counter. */
    finished?: number;
    /** Seconds from the operation's start until this process received the step's start event. */
    readonly startedAt: number;
    /** Seconds from the operation's start until the step's finish event arrived. */
    finishedAt?: number;
}

export interface OperationResult {
    /** Seconds from the operation's start until its `pulumi` process exited (EngineStack.timed). */
    readonly seconds: number;
    /** Counts per operation (`same`, `create`, `update`, `replace`, ...). */
    readonly changes: OpMap;
    /** Every resource step, in the order the engine started them. */
    readonly steps: readonly Step[];
}

/** The changes (not `same`, not reads), as `create 12, update 1`; `none` when nothing changes. */
export function describeChanges(changes: OpMap): string {
    const entries = Object.entries(changes).filter(([op, n]) => op !== "same" && op !== "read" && (n ?? 0) > 0);
    return entries.length === 0 ? "none" : entries.map(([op, n]) => `${op} ${n}`).join(", ");
}

/** Steps that replace a Deployment or a StatefulSet: each one is an outage of that workload. */
export function workloadReplacements(steps: readonly Step[]): Step[] {
    // The data stores' workloads include CloudNativePG's Cluster: replacing it is replacing the database.
    const workload = /^kubernetes:(apps\/v1:(Deployment|StatefulSet)|postgresql\.cnpg\.io\/v1:Cluster)$/;
    return steps.filter((s) => workload.test(s.type) && ["replace", "create-replacement", "delete-replaced"].includes(s.op));
}

/**
 * The local stack without its Helm add-ons: charts cannot be fetched here, so the e2e and the
 * sandbox apply the CRDs the add-ons would bring instead.
 */
export const localWithoutAddons = {
    installMetricsServer: false,
    installVpa: false,
    installPrometheusStack: false,
    installEnvoyGateway: false,
    installCertManager: false,
    selfSignedClusterIssuer: "",
} as const;

/** Passphrase of the e2e's throwaway state (its own backend in a temporary folder). */
const e2ePassphrase = "e2e-throwaway-state";

/** Installs the toolchain's provider and the stand-in random provider as the versions the npm SDKs ask for. */
function installPlugins(pulumiHome: string, toolchain: Toolchain): void {
    const plugins = path.join(pulumiHome, "plugins");
    const kubernetes = path.join(plugins, `resource-kubernetes-v${toolchain.kubernetesProviderVersion}`);
    mkdirSync(kubernetes, { recursive: true });
    symlinkSync(toolchain.kubernetesProvider, path.join(kubernetes, "pulumi-resource-kubernetes"));
    const randomVersion = require("@pulumi/random/package.json").version as string;
    const random = path.join(plugins, `resource-random-v${randomVersion}`);
    mkdirSync(random, { recursive: true });
    const launcher = path.join(random, "pulumi-resource-random");
    // The e2e's STAND-IN random provider (harness/engine/standinRandomProvider.ts), never installed elsewhere.
    // Transpiled once here, not through ts-node at each start: the engine starts it in every
    // operation, and ts-node's start (about 0.3 s of CPU, on the cores the deploy shares) would be
    // charged to the program; the real pulumi-random is a Go binary that starts at once.
    const standin = path.join(random, "standinRandomProvider.js");
    const source = readFileSync(path.join(__dirname, "standinRandomProvider.ts"), "utf8");
    writeFileSync(standin, ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true } }).outputText);
    // Its imports (@pulumi/pulumi/provider, @pulumi/random's package.json) resolve from the project's node_modules.
    writeFileSync(launcher, `#!/bin/sh\nNODE_PATH="${path.join(projectRoot, "node_modules")}" exec "${process.execPath}" "${standin}" "$@"\n`);
    chmodSync(launcher, 0o755);
}

/** A stack of the project on the real engine; config changes go to a private copy of its stack file. */
export class EngineStack {
    private constructor(
        readonly name: string,
        readonly stack: Stack,
        private readonly programModule: string,
        private readonly exits: Map<string, bigint>,
    ) {}

    static async create(stackName: string, options: EngineOptions): Promise<EngineStack> {
        const dir = mkdtempSync(path.join(options.dir, `${stackName}-`));
        const workDir = path.join(dir, "project");
        const pulumiHome = path.join(dir, "pulumi-home");
        const state = options.stateDir ?? path.join(dir, "state");
        for (const folder of [workDir, pulumiHome, state]) {
            mkdirSync(folder, { recursive: true });
        }
        copyFileSync(path.join(projectRoot, "Pulumi.yaml"), path.join(workDir, "Pulumi.yaml"));
        copyFileSync(path.join(projectRoot, `Pulumi.${stackName}.yaml`), path.join(workDir, `Pulumi.${stackName}.yaml`));
        installPlugins(pulumiHome, options.toolchain);

        const programModule = options.programModule ?? defaultProgramModule;
        // The inline program runs in this process, and the kubernetes SDK takes KUBECONFIG from its
        // environment into the provider's inputs: the same as the CLI's, or a later preview from a
        // shell with KUBECONFIG set (the sandbox's env.sh) would see the provider change.
        process.env.KUBECONFIG = options.kubeconfig;
        const command = await PulumiCommand.get({ root: path.dirname(path.dirname(options.toolchain.pulumi)), skipVersionCheck: false });
        const exits = recordExits(command);
        const workspace = await LocalWorkspace.create({
            workDir,
            pulumiHome,
            pulumiCommand: command,
            envVars: {
                PULUMI_BACKEND_URL: `file://${state}`,
                PULUMI_CONFIG_PASSPHRASE: e2ePassphrase,
                KUBECONFIG: options.kubeconfig,
                PULUMI_SKIP_UPDATE_CHECK: "true",
                PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
                PULUMI_IGNORE_AMBIENT_PLUGINS: "true",
                PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
            },
            program: inlineProgram(programModule),
        });
        const stack = await Stack.createOrSelect(stackName, workspace);
        return new EngineStack(stackName, stack, programModule, exits);
    }

    /** Sets config values (keys without the project prefix; objects as JSON) in the private stack file. */
    async setConfig(values: Record<string, string | number | boolean | object>): Promise<void> {
        const project = readProject().name;
        for (const [key, value] of Object.entries(values)) {
            const text = typeof value === "object" ? JSON.stringify(value) : String(value);
            await this.stack.setConfig(`${project}:${key}`, { value: text });
        }
    }

    async preview(): Promise<OperationResult> {
        return this.timed("preview", (onEvent) => this.stack.preview({ onEvent, diff: false }).then((r) => r.changeSummary));
    }

    async up(): Promise<OperationResult> {
        return this.timed("up", (onEvent) => this.stack.up({ onEvent }).then((r) => r.summary.resourceChanges ?? {}));
    }

    async destroy(): Promise<OperationResult> {
        return this.timed("destroy", (onEvent) => this.stack.destroy({ onEvent }).then((r) => r.summary.resourceChanges ?? {}));
    }

    /** Clears `protect` on every resource, as `pulumi state unprotect --all` does; returns how many were protected. */
    async unprotectAll(): Promise<number> {
        return this.unprotect(() => true);
    }

    /** Clears `protect` on the resources whose URN `select` picks, as `pulumi state unprotect <urn>` does. */
    async unprotect(select: (urn: string) => boolean): Promise<number> {
        const deployment = await this.stack.exportStack();
        const resources = (deployment.deployment?.resources ?? []) as Array<{ urn: string; protect?: boolean }>;
        const unprotected = resources.filter((r) => r.protect && select(r.urn));
        for (const resource of unprotected) {
            delete resource.protect;
        }
        await this.stack.importStack(deployment);
        return unprotected.length;
    }

    /** Whether the resource with this URN suffix (`::<name>` of its type) is protected in the state. */
    async isProtected(type: string, name: string): Promise<boolean> {
        const deployment = await this.stack.exportStack();
        const resources = (deployment.deployment?.resources ?? []) as Array<{ urn: string; type: string; protect?: boolean }>;
        return resources.some((r) => r.type === type && r.urn.endsWith(`::${name}`) && r.protect === true);
    }

    /** URNs in the stack's state. */
    async stateUrns(): Promise<string[]> {
        const deployment = await this.stack.exportStack();
        return ((deployment.deployment?.resources ?? []) as Array<{ urn: string }>).map((r) => r.urn);
    }

    async outputs(): Promise<Record<string, unknown>> {
        const outputs = await this.stack.outputs();
        return Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, v.value]));
    }

    get program(): string {
        return this.programModule;
    }

    /** The private work dir (Pulumi.yaml and the stack file), PULUMI_HOME and the environment the CLI gets. */
    get workspace(): LocalWorkspace {
        return this.stack.workspace as LocalWorkspace;
    }

    /**
     * Runs one operation and times it as a user's `pulumi <verb>` takes: from its start until the
     * `pulumi` process exits. After that process, the Automation API reads the stack's outputs and
     * history with more `pulumi` processes (three after an `up`, about 1.3 s here; one after a
     * destroy) that the CLI a user runs never starts; they are left out.
     */
    private async timed(verb: string, operation: (onEvent: (event: EngineEvent) => void) => Promise<OpMap>): Promise<OperationResult> {
        const steps: Step[] = [];
        const byUrn = new Map<string, Step>();
        let sequence = 0;
        const started = process.hrtime.bigint();
        const now = () => Number(process.hrtime.bigint() - started) / 1e9;
        const onEvent = (event: EngineEvent) => {
            const pre = event.resourcePreEvent?.metadata;
            if (pre) {
                const step: Step = { op: pre.op, urn: pre.urn, type: pre.type, keys: pre.keys, started: ++sequence, startedAt: now() };
                steps.push(step);
                byUrn.set(`${pre.op}:${pre.urn}`, step);
            }
            const done = event.resOutputsEvent?.metadata ?? event.resOpFailedEvent?.metadata;
            if (done) {
                const step = byUrn.get(`${done.op}:${done.urn}`);
                if (step) {
                    step.finished = ++sequence;
                    step.finishedAt = now();
                }
            }
        };
        this.exits.delete(verb);
        const changes = await operation(onEvent);
        const exited = this.exits.get(verb);
        return { seconds: exited === undefined ? now() : Number(exited - started) / 1e9, changes, steps };
    }
}

/**
 * Records, by verb, when each `pulumi` process this command starts exits. `run` is the Automation
 * API's own entry to the CLI (every Stack and Workspace call goes through it); it is internal to
 * @pulumi/pulumi (pinned to 3.248.x), hence the cast.
 */
function recordExits(command: PulumiCommand): Map<string, bigint> {
    const exits = new Map<string, bigint>();
    const cli = command as unknown as { run: (args: string[], ...rest: unknown[]) => Promise<unknown> };
    const run = cli.run.bind(command);
    cli.run = async (args: string[], ...rest: unknown[]) => {
        try {
            return await run(args, ...rest);
        } finally {
            exits.set(args[0], process.hrtime.bigint());
        }
    };
    return exits;
}

/** A private folder for one e2e or sandbox run. */
export function engineFolder(prefix: string): string {
    return mkdtempSync(path.join(os.tmpdir(), `healthcare-${prefix}-`));
}
