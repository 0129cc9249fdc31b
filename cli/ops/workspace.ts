import { createHash } from "crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "fs";
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
import { parse, stringify } from "yaml";
import { parseSettings, Settings, SettingsError } from "../../config";
import { readProject, stackConfig } from "../../harness/stackConfig";
import { readStackFileValue } from "../promote/stackFile";
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
    /** --yes: deploy a staging or production stack without showing its preview and asking (never implied, in CI neither). */
    readonly yes?: boolean;
    /** Asks on the terminal; undefined when there is none (no question can be answered). */
    readonly ask?: (question: string) => string | undefined;
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

// --- The config a local stack runs with -------------------------------------------------------

/*
 * A local stack's config lives outside the tracked files: the CLI gets `--config-file` with a file in
 * the gitignored .pulumi-state/stack-config/ that is Pulumi.<stack>.yaml's config with this machine's
 * own values over it (the stand-in's image tag, a scale floor) and the secrets-provider lines Pulumi
 * writes there (the passphrase's salt). So `npm run local` leaves every tracked file as it was, and no
 * salt made on a laptop can reach a shipped stack file.
 */

/** Whether the local command keeps the stack's config outside the repository (local stacks); staging and production use their tracked file. */
export function configOutsideRepository(ctx: Pick<OpsContext, "settings">): boolean {
    return ctx.settings.environment === "local";
}

/** Folder of the config files of local stacks (gitignored, beside the file backend's state). */
export function stackConfigDir(root: string): string {
    return path.join(fileBackendDir(root), "stack-config");
}

/** The config file the CLI reads for a local stack. */
export function localConfigFile(root: string, stack: string): string {
    return path.join(stackConfigDir(root), `Pulumi.${stack}.yaml`);
}

/** This machine's own values of a local stack (keys without the project prefix; null: unset what the tracked file sets). */
export function localValues(root: string, stack: string): Record<string, string | null> {
    const file = path.join(stackConfigDir(root), `${stack}.values.json`);
    return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as Record<string, string | null>) : {};
}

function writeLocalValues(root: string, stack: string, values: Record<string, string | null>): void {
    mkdirSync(stackConfigDir(root), { recursive: true });
    writeFileSync(path.join(stackConfigDir(root), `${stack}.values.json`), `${JSON.stringify(values, null, 2)}\n`);
}

/** The lines of a stack file that say how its secrets are encrypted. */
const secretsProviderKeys = ["secretsprovider", "encryptedkey", "encryptionsalt"] as const;

/** The tracked stack file's text, or undefined when the stack has none. */
function trackedStackFile(ctx: Pick<OpsContext, "root" | "stack">): string | undefined {
    const file = path.join(ctx.root, `Pulumi.${ctx.stack}.yaml`);
    return existsSync(file) ? readFileSync(file, "utf8") : undefined;
}

/**
 * Writes the local stack's config file from the tracked file and this machine's values, keeping the
 * secrets-provider lines Pulumi wrote into it (taken once from the tracked file when a salt was made
 * there before this file existed); returns its path.
 */
export function writeLocalConfig(ctx: Pick<OpsContext, "root" | "stack" | "project">): string {
    const file = localConfigFile(ctx.root, ctx.stack);
    const tracked = (parse(trackedStackFile(ctx) ?? "") ?? {}) as Record<string, any>;
    const previous = (existsSync(file) ? parse(readFileSync(file, "utf8")) : undefined) ?? {};
    const document: Record<string, unknown> = {};
    for (const key of secretsProviderKeys) {
        const value = previous[key] ?? tracked[key];
        if (value !== undefined) {
            document[key] = value;
        }
    }
    const config: Record<string, unknown> = { ...(tracked.config ?? {}) };
    for (const [key, value] of Object.entries(localValues(ctx.root, ctx.stack))) {
        if (value === null) {
            delete config[`${ctx.project}:${key}`];
        } else {
            config[`${ctx.project}:${key}`] = value;
        }
    }
    document.config = config;
    mkdirSync(path.dirname(file), { recursive: true });
    const header = `# Written by the local command (cli/ops/workspace.ts) from Pulumi.${ctx.stack}.yaml and ${ctx.stack}.values.json: edit those, not this file.\n`;
    writeFileSync(file, header + stringify(document, { lineWidth: 0 }));
    return file;
}

/** `--config-file <file>` for a command that reads a local stack's config; nothing for a stack whose tracked file is its config. */
export function configFileArgs(ctx: OpsContext): string[] {
    return configOutsideRepository(ctx) ? ["--config-file", writeLocalConfig(ctx)] : [];
}

// --- Pulumi CLI helpers ----------------------------------------------------------------------

/**
 * Selects the stack, creating it when it does not exist yet; says which. A local stack is created from
 * its config folder, so the salt a passphrase stack gets is written there, not into Pulumi.<stack>.yaml.
 */
export function selectOrCreateStack(ctx: OpsContext, backend: Backend): void {
    if (ctx.runner.capture("pulumi", ["stack", "select", ctx.stack, "--non-interactive"]).status === 0) {
        ctx.say(`stack ${ctx.stack}: selected`);
        return;
    }
    const where: string[] = [];
    if (configOutsideRepository(ctx)) {
        writeLocalConfig(ctx);
        // `pulumi stack init` has no --config-file: it saves into Pulumi.<stack>.yaml beside the Pulumi.yaml of its folder.
        writeFileSync(path.join(stackConfigDir(ctx.root), "Pulumi.yaml"), `name: ${ctx.project}\nruntime: nodejs\n`);
        where.push("--cwd", stackConfigDir(ctx.root));
    }
    ctx.runner.run("pulumi", ["stack", "init", ctx.stack, "--non-interactive", ...(backend.file ? ["--secrets-provider", "passphrase"] : []), ...where]);
    ctx.say(`stack ${ctx.stack}: created`);
}

/** A config value of the stack as the CLI holds it, or undefined when unset. */
export function configGet(ctx: OpsContext, key: string): string | undefined {
    if (configOutsideRepository(ctx)) {
        const own = localValues(ctx.root, ctx.stack);
        if (key in own) {
            return own[key] ?? undefined;
        }
        const tracked = trackedStackFile(ctx);
        return tracked === undefined ? undefined : readStackFileValue(tracked, ctx.project, key);
    }
    const result = ctx.runner.capture("pulumi", ["config", "get", key, "--stack", ctx.stack]);
    return result.status === 0 ? result.stdout.replace(/\n$/, "") : undefined;
}

/**
 * Sets config values that differ from what the stack holds; returns the keys it changed. A local
 * stack's go to this machine's values (never the tracked file); other stacks' to Pulumi.<stack>.yaml.
 */
export function configSet(ctx: OpsContext, values: Record<string, string | undefined>): string[] {
    const changed: string[] = [];
    const outside = configOutsideRepository(ctx);
    const own = outside ? localValues(ctx.root, ctx.stack) : {};
    const tracked = outside ? trackedStackFile(ctx) : undefined;
    for (const [key, value] of Object.entries(values)) {
        const current = configGet(ctx, key);
        const unset = value === undefined || value === "";
        if (unset ? current === undefined || current === "" : current === value) {
            continue;
        }
        changed.push(key);
        if (outside) {
            const trackedValue = tracked === undefined ? undefined : readStackFileValue(tracked, ctx.project, key);
            if ((unset && trackedValue === undefined) || trackedValue === value) {
                delete own[key];
            } else {
                own[key] = unset ? null : value!;
            }
        } else if (unset) {
            ctx.runner.run("pulumi", ["config", "rm", key, "--stack", ctx.stack]);
        } else {
            ctx.runner.run("pulumi", ["config", "set", key, value!, "--stack", ctx.stack]);
        }
    }
    if (outside && changed.length > 0) {
        writeLocalValues(ctx.root, ctx.stack, own);
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

/** Stacks whose deploys the operator sees previewed and confirms first. */
export function reviewedStack(ctx: Pick<OpsContext, "settings">): boolean {
    return ctx.settings.environment === "staging" || ctx.settings.environment === "production";
}

/**
 * Stops, before anything changes, a deploy of staging or production that nobody can confirm: no
 * terminal to ask on and no explicit --yes.
 */
export function requireConfirmation(ctx: OpsContext, what: string): void {
    if (reviewedStack(ctx) && !ctx.yes && !ctx.ask) {
        throw new UsageError(
            `${what} on stack ${ctx.stack} (${ctx.settings.environment}) deploys only after you see its preview and confirm it, and there is no terminal to ask on. ` +
                `Run it in a terminal, or add --yes to deploy without the preview (nothing passes --yes for you, CI included). Nothing was changed`,
        );
    }
}

/**
 * Deploys the stack, confirmed first as `confirmPreview` asks (unless the caller has `confirmed` it). A CRD and objects
 * of its kind cannot be previewed in one run (pulumi-kubernetes #3176): while any add-on release is
 * missing from the state, a first `pulumi up --target` installs only the releases; the full `pulumi up` follows.
 */
export function deployStack(ctx: OpsContext, restore: Record<string, string | undefined> = {}, confirmed = false): void {
    if (!confirmed) {
        confirmPreview(ctx, restore);
    }
    const config = configFileArgs(ctx);
    const { component, releases } = addonUrns(ctx);
    const deployed = stateUrns(ctx);
    const missing = releases.filter((urn) => !deployed.has(urn));
    if (missing.length > 0) {
        ctx.say(`installing cluster add-ons first (${missing.map((u) => u.slice(u.lastIndexOf("::") + 2)).join(", ")}): their CRDs must exist before the objects that use them`);
        ctx.runner.run("pulumi", ["up", "--stack", ctx.stack, "--yes", ...config, "--target", component, ...releases.flatMap((urn) => ["--target", urn])]);
    }
    ctx.runner.run("pulumi", ["up", "--stack", ctx.stack, "--yes", ...config]);
    if (reviewedStack(ctx) && Object.keys(restore).length > 0) {
        ctx.say(`Pulumi.${ctx.stack}.yaml changed: commit it through a pull request, or the next deploy from main puts the old values back`);
    }
}

/**
 * On staging and production without --yes: shows `pulumi preview` and asks; a "no" restores `restore`
 * (the config values before the change) and stops. Nothing to do on other stacks or with --yes.
 */
export function confirmPreview(ctx: OpsContext, restore: Record<string, string | undefined> = {}): void {
    if (!reviewedStack(ctx) || ctx.yes) {
        return;
    }
    ctx.runner.run("pulumi", ["preview", "--stack", ctx.stack, "--diff", ...configFileArgs(ctx)]);
    const answer = ctx.ask?.(`Deploy these changes to ${ctx.stack} (${ctx.settings.environment})? Type yes to deploy: `);
    if (answer?.trim().toLowerCase() !== "yes") {
        configSet(ctx, restore);
        throw new UsageError(`not deployed: ${ctx.stack} was not confirmed${Object.keys(restore).length > 0 ? ` (config restored: ${Object.keys(restore).join(", ")})` : ""}`);
    }
}

/** The current values of config keys (to restore them when a change is not confirmed). */
export function configValues(ctx: OpsContext, keys: readonly string[]): Record<string, string | undefined> {
    return Object.fromEntries(keys.map((key) => [key, configGet(ctx, key)]));
}

/**
 * Deploys a change that removes protected resources: unprotects them, previews and asks (staging and
 * production) and runs `afterConfirm`, protects them again if either stops, then deploys.
 */
export function deployReleasing(ctx: OpsContext, urns: readonly string[], restore: Record<string, string | undefined>, afterConfirm: () => void = () => {}): void {
    const protectAll = (verb: "protect" | "unprotect") => urns.forEach((urn) => ctx.runner.run("pulumi", ["state", verb, urn, "--stack", ctx.stack, "--yes"]));
    protectAll("unprotect");
    try {
        confirmPreview(ctx, restore);
        afterConfirm();
    } catch (error) {
        protectAll("protect");
        throw error;
    }
    deployStack(ctx, restore, true);
}

/** Changes config values and deploys them (confirmed as `deployStack` asks); the values before the change come back on a "no". */
export function changeAndDeploy(ctx: OpsContext, what: string, values: Record<string, string>): void {
    requireConfirmation(ctx, what);
    const before = configValues(ctx, Object.keys(values));
    configSet(ctx, values);
    deployStack(ctx, before);
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
