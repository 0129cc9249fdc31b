import { createHash } from "crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "fs";
import * as path from "path";
import {
    addonCharts,
    clusterAddonsName,
    clusterAddonsType,
    envoyGatewayClassResourceName,
    envoyProxyResourceName,
    plannedCharts,
    selfSignedIssuerResourceName,
} from "../../components/clusterAddons";
import { parseSettings, Settings, SettingsError } from "../../config";
import { readProject, stackConfig } from "../../harness/stackConfig";
import { Runner, UsageError } from "./exec";

/** Everything an operation needs: the project, the stack's settings and the tools' environment. */
export interface OpsContext {
    readonly root: string;
    readonly project: string;
    readonly stack: string;
    /** The stack's settings, validated by the program's own rules (Pulumi.yaml + Pulumi.<stack>.yaml). */
    readonly settings: Settings;
    readonly runner: Runner;
    /** Progress messages for the user. */
    readonly say: (line: string) => void;
}

/** The settings of `stack` as its files define them, with `overrides` (keys without the project prefix). */
export function stackSettings(stack: string, overrides: Record<string, unknown> = {}): Settings {
    const project = readProject().name;
    const config = stackConfig(stack, overrides);
    const prefix = `${project}:`;
    return parseSettings({
        project,
        stack,
        get: (key) => config[`${prefix}${key}`],
        keys: () => Object.keys(config).filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length)),
    });
}

/** The kube context the stack deploys to; the tools get it explicitly, never the current one. */
export function kubeContext(ctx: OpsContext): string {
    const context = ctx.settings.cluster.context;
    if (!context) {
        throw new UsageError(`stack ${ctx.stack} sets no kubeContext: set one with \`pulumi config set kubeContext <context> --stack ${ctx.stack}\``);
    }
    return context;
}

/** `kubectl` arguments that pin the stack's context and namespace. */
export function kubectlTarget(ctx: OpsContext): string[] {
    return ["--context", kubeContext(ctx), "--namespace", ctx.settings.namespace];
}

/** The kind cluster behind a `kind-<name>` context, or undefined for other clusters. */
export function kindCluster(context: string): string | undefined {
    return context.startsWith("kind-") ? context.slice("kind-".length) : undefined;
}

// --- State backend ---------------------------------------------------------------------------

/** Passphrase of the local stack's secrets on the project's file backend: local data only, never a real secret. */
export const localPassphrase = "local";

export interface Backend {
    /** What the Pulumi CLI gets: PULUMI_BACKEND_URL / PULUMI_CONFIG_PASSPHRASE when chosen here. */
    env: Record<string, string>;
    /** One line for the user: where the state lives and why. */
    description: string;
    /** The project's own file backend (secrets use a passphrase). */
    file: boolean;
}

/** The file backend inside the project (gitignored). */
export function fileBackendDir(root: string): string {
    return path.join(root, ".pulumi-state");
}

/**
 * Where the stack's state lives: PULUMI_BACKEND_URL when the user set it; the project's
 * `.pulumi-state/` when it already holds this project's stacks (so a later `pulumi login` elsewhere
 * does not strand them); the backend the user is logged in to; otherwise a new `.pulumi-state/`.
 */
export function chooseBackend(runner: Runner, root: string, project: string, stack: string): Backend {
    const env = runner.env;
    const fileUrl = `file://${fileBackendDir(root)}`;
    const passphrase = (): Record<string, string> => {
        if (env.PULUMI_CONFIG_PASSPHRASE !== undefined || env.PULUMI_CONFIG_PASSPHRASE_FILE !== undefined) {
            return {};
        }
        if (stack !== "local") {
            throw new UsageError(`stack ${stack} keeps its state in ${fileUrl}: set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE) to its passphrase`);
        }
        return { PULUMI_CONFIG_PASSPHRASE: localPassphrase };
    };
    if (env.PULUMI_BACKEND_URL) {
        const file = env.PULUMI_BACKEND_URL.startsWith("file://");
        return { env: file ? passphrase() : {}, description: `state in ${env.PULUMI_BACKEND_URL} (PULUMI_BACKEND_URL)`, file };
    }
    const projectStacks = path.join(fileBackendDir(root), ".pulumi", "stacks", project);
    if (existsSync(projectStacks) && readdirSync(projectStacks).length > 0) {
        return { env: { PULUMI_BACKEND_URL: fileUrl, ...passphrase() }, description: `state in ${fileUrl} (the project's file backend)`, file: true };
    }
    if (runner.capture("pulumi", ["whoami", "--non-interactive"]).status === 0) {
        return { env: {}, description: "state in the backend you are logged in to (pulumi whoami)", file: false };
    }
    mkdirSync(fileBackendDir(root), { recursive: true });
    return {
        env: { PULUMI_BACKEND_URL: fileUrl, ...passphrase() },
        description: `state in ${fileUrl}: you are not logged in to a Pulumi backend, so the project keeps it`,
        file: true,
    };
}

// --- Pulumi CLI helpers ----------------------------------------------------------------------

/** Selects the stack, creating it when it does not exist yet; says which. */
export function selectOrCreateStack(ctx: OpsContext, backend: Backend): void {
    if (ctx.runner.capture("pulumi", ["stack", "select", ctx.stack, "--non-interactive"]).status === 0) {
        ctx.say(`stack ${ctx.stack}: selected`);
        return;
    }
    ctx.runner.run("pulumi", ["stack", "init", ctx.stack, "--non-interactive", ...(backend.file ? ["--secrets-provider", "passphrase"] : [])]);
    ctx.say(`stack ${ctx.stack}: created`);
}

/** A config value of the stack as the CLI holds it, or undefined when unset. */
export function configGet(ctx: OpsContext, key: string): string | undefined {
    const result = ctx.runner.capture("pulumi", ["config", "get", key, "--stack", ctx.stack]);
    return result.status === 0 ? result.stdout.replace(/\n$/, "") : undefined;
}

/** Sets config values that differ from what the stack holds; returns the keys it changed. */
export function configSet(ctx: OpsContext, values: Record<string, string | undefined>): string[] {
    const changed: string[] = [];
    for (const [key, value] of Object.entries(values)) {
        const current = configGet(ctx, key);
        if (value === undefined || value === "") {
            if (current !== undefined && current !== "") {
                ctx.runner.run("pulumi", ["config", "rm", key, "--stack", ctx.stack]);
                changed.push(key);
            }
        } else if (current !== value) {
            ctx.runner.run("pulumi", ["config", "set", key, value, "--stack", ctx.stack]);
            changed.push(key);
        }
    }
    return changed;
}

/** URNs in the stack's state. */
export function stateUrns(ctx: OpsContext): Set<string> {
    const exported = ctx.runner.capture("pulumi", ["stack", "export", "--stack", ctx.stack]);
    if (exported.status !== 0) {
        return new Set();
    }
    const resources = (JSON.parse(exported.stdout || "{}").deployment?.resources ?? []) as Array<{ urn: string }>;
    return new Set(resources.map((r) => r.urn));
}

// --- Cluster add-ons -------------------------------------------------------------------------

/** URNs of the stack's add-ons: the component, its Helm releases, the self-signed issuer, and Envoy Gateway's GatewayClass (and local EnvoyProxy). */
export function addonUrns(ctx: Pick<OpsContext, "project" | "stack" | "settings">): { component: string; releases: string[]; issuer?: string; gatewayObjects: string[] } {
    const base = `urn:pulumi:${ctx.stack}::${ctx.project}::`;
    const child = (type: string, name: string) => `${base}${clusterAddonsType}$${type}::${name}`;
    const addons = ctx.settings.addons;
    return {
        component: `${base}${clusterAddonsType}::${clusterAddonsName}`,
        releases: plannedCharts(addons).map((c) => child("kubernetes:helm.sh/v3:Release", c.resourceName)),
        issuer: addons.selfSignedIssuer ? child("kubernetes:cert-manager.io/v1:ClusterIssuer", selfSignedIssuerResourceName) : undefined,
        gatewayObjects: addons.envoyGateway
            ? [
                  ...(ctx.settings.environment === "local" ? [child("kubernetes:gateway.envoyproxy.io/v1alpha1:EnvoyProxy", envoyProxyResourceName)] : []),
                  child("kubernetes:gateway.networking.k8s.io/v1:GatewayClass", envoyGatewayClassResourceName),
              ]
            : [],
    };
}

/**
 * Deploys the stack. A CRD and objects of its kind cannot be previewed in one run
 * (pulumi-kubernetes #3176): while any add-on release is missing from the state, a first
 * `pulumi up --target` installs only the releases; the full `pulumi up` follows.
 */
export function deployStack(ctx: OpsContext): void {
    const { component, releases } = addonUrns(ctx);
    const deployed = stateUrns(ctx);
    const missing = releases.filter((urn) => !deployed.has(urn));
    if (missing.length > 0) {
        ctx.say(`installing cluster add-ons first (${missing.map((u) => u.slice(u.lastIndexOf("::") + 2)).join(", ")}): their CRDs must exist before the objects that use them`);
        ctx.runner.run("pulumi", ["up", "--stack", ctx.stack, "--yes", "--target", component, ...releases.flatMap((urn) => ["--target", urn])]);
    }
    ctx.runner.run("pulumi", ["up", "--stack", ctx.stack, "--yes"]);
}

// --- Stand-in image --------------------------------------------------------------------------

/** Folder of the stand-in API image. */
export function standinDir(root: string): string {
    return path.join(root, "app");
}

/** The files of the stand-in's Docker build context that shape the image. */
function imageInputs(dir: string, relative = ""): string[] {
    const skip = new Set(["node_modules", "dist", "test"]);
    return readdirSync(path.join(dir, relative), { withFileTypes: true })
        .filter((e) => !skip.has(e.name))
        .flatMap((e) => (e.isDirectory() ? imageInputs(dir, path.join(relative, e.name)) : [path.join(relative, e.name)]))
        .sort();
}

/**
 * The stand-in image's tag: a hash of its sources. A changed app/ gets a new tag, so `apiImageTag`
 * changes and the Deployment rolls; unchanged sources keep the tag, so a second run changes nothing.
 */
export function standinImageTag(root: string): string {
    const dir = standinDir(root);
    const hash = createHash("sha256");
    for (const file of imageInputs(dir)) {
        hash.update(file.split(path.sep).join("/")).update("\0").update(readFileSync(path.join(dir, file))).update("\0");
    }
    return `src-${hash.digest("hex").slice(0, 12)}`;
}

/** Rejects settings the program would reject, with the program's own message; nothing changes. */
export function validated(stack: string, overrides: Record<string, unknown>): Settings {
    try {
        return stackSettings(stack, overrides);
    } catch (error) {
        if (error instanceof SettingsError) {
            throw new UsageError(error.message);
        }
        throw error;
    }
}

/** The chart pins, for messages. */
export const chartList = Object.values(addonCharts)
    .map((c) => `${c.chart} ${c.version}`)
    .join(", ");
