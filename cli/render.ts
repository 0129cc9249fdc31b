/**
 * Renders every Kubernetes object a stack would apply, one YAML file per object in apply order,
 * from the real program on Pulumi's mocks: no cluster, no Pulumi CLI.
 *
 *   npm run render -- --stack <local|staging|production> --out <dir>
 *
 * What becomes a file:
 * - every custom resource whose type token is `kubernetes:<group>/<version>:<Kind>` (built-in kinds
 *   and `CustomResource`s alike): apiVersion and kind come from the token (`core/v1` -> `v1`);
 * - every `kubernetes:helm.sh/v3:Release`: its inputs (chart, repository, version, values) in
 *   `helm-releases/`, since the chart itself renders in the cluster, not here;
 * - not providers, components, reads of existing objects (`Resource.get`), or resources of other
 *   packages (random passwords).
 * Secret values never appear: every value the program marks secret, and every value in a Secret's
 * `data`/`stringData`, is written as `<secret>`. Annotations are written as the program sets them,
 * `pulumi.com/*` included: the provider sends them to the API server like any other annotation.
 */
import * as pulumi from "@pulumi/pulumi";
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "fs";
import * as path from "path";
import { stringify } from "yaml";
import { CapturedResource, isSecretValue, runStack } from "../harness/mockProgram";
import { projectRoot, shippedStacks, stackConfig } from "../harness/stackConfig";

/** What a secret value renders as. */
export const secretPlaceholder = "<secret>";

/** The type token of Pulumi's Helm release resource. */
export const helmReleaseType = "kubernetes:helm.sh/v3:Release";

/**
 * Helm's install order by kind (helm.sh/helm/v3 pkg/releaseutil/kind_sorter.go, `InstallOrder`),
 * with Pulumi's Helm releases (cluster add-ons that may bring CRDs) right after namespaces.
 * Kinds not listed, custom resources among them, come after every listed kind.
 */
export const installOrder: readonly string[] = [
    "PriorityClass",
    "Namespace",
    "Release",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/** The Pulumi resource a rendered item comes from. */
export interface ResourceSource {
    type: string;
    name: string;
    /** `<type>::<name>` of every resource it waits for (`dependsOn` and the outputs its inputs use). */
    dependsOn: string[];
}

/** `<type>::<name>`: how rendered items refer to resources. */
export const resourceKey = (type: string, name: string) => `${type}::${name}`;

/** One Kubernetes object, as it would be applied. */
export interface RenderedObject {
    apiVersion: string;
    kind: string;
    name: string;
    namespace?: string;
    /** The object, secrets replaced by the placeholder. */
    manifest: Record<string, unknown>;
    /** The Pulumi resource it comes from. */
    source: ResourceSource;
}

/** The inputs of one Helm release (the chart is fetched and rendered in the cluster). */
export interface RenderedRelease {
    name: string;
    namespace?: string;
    chart: string;
    repository?: string;
    version?: string;
    values: Record<string, unknown>;
    source: ResourceSource;
}

/** Everything a stack applies, in apply order. */
export interface Rendering {
    /** Objects and releases interleaved in apply order. */
    items: Array<{ object: RenderedObject } | { release: RenderedRelease }>;
    objects: RenderedObject[];
    releases: RenderedRelease[];
}

/** `kubernetes:apps/v1:Deployment` -> `apps/v1`, `Deployment`; `kubernetes:core/v1:Secret` -> `v1`, `Secret`. */
export function objectTypeOf(type: string): { apiVersion: string; kind: string } {
    const parts = type.split(":");
    if (parts.length !== 3 || parts[0] !== "kubernetes" || !parts[1].includes("/") || !/^[A-Z][A-Za-z0-9]*$/.test(parts[2])) {
        throw new Error(`cannot render ${type}: expected a type token kubernetes:<group>/<version>:<Kind>`);
    }
    const [group, version] = [parts[1].slice(0, parts[1].lastIndexOf("/")), parts[1].slice(parts[1].lastIndexOf("/") + 1)];
    return { apiVersion: group === "core" ? version : `${group}/${version}`, kind: parts[2] };
}

/** A value with every leaf replaced by the placeholder, keeping the shape (maps stay maps). */
function placeholderFor(value: unknown): unknown {
    if (Array.isArray(value)) {
        return value.map(placeholderFor);
    }
    if (typeof value === "object" && value !== null) {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, placeholderFor(v)]));
    }
    return secretPlaceholder;
}

/** A copy of captured inputs with secrets replaced; fails on any other Pulumi special value. */
export function redactSecrets(value: unknown): unknown {
    if (isSecretValue(value)) {
        return placeholderFor(value.value);
    }
    if (Array.isArray(value)) {
        return value.map(redactSecrets);
    }
    if (typeof value === "object" && value !== null) {
        const signature = (value as Record<string, unknown>)[pulumi.runtime.specialSigKey];
        if (signature !== undefined) {
            throw new Error(`cannot render a Pulumi special value (signature ${String(signature)})`);
        }
        return Object.fromEntries(
            Object.entries(value)
                .filter(([, v]) => v !== undefined)
                .map(([k, v]) => [k, redactSecrets(v)]),
        );
    }
    return value;
}

/** The manifest of a captured Kubernetes resource: apiVersion, kind, metadata first; secrets redacted. */
function toObject(resource: CapturedResource, source: ResourceSource): RenderedObject {
    const { apiVersion, kind } = objectTypeOf(resource.type);
    if (kind.endsWith("Patch")) {
        throw new Error(`cannot render ${resource.type} "${resource.name}": patch resources change objects the program does not own`);
    }
    const inputs = redactSecrets(resource.inputs) as Record<string, any>;
    for (const [field, derived] of [
        ["apiVersion", apiVersion],
        ["kind", kind],
    ]) {
        if (inputs[field] !== undefined && inputs[field] !== derived) {
            throw new Error(`${resource.type} "${resource.name}" has ${field} ${inputs[field]}; its type token says ${derived}`);
        }
    }
    const { apiVersion: _a, kind: _k, metadata = {}, ...rest } = inputs;
    if (kind === "Secret") {
        // Every value of a Secret is secret, whether or not the program marked it.
        for (const field of ["data", "stringData"]) {
            if (rest[field] !== undefined) {
                rest[field] = placeholderFor(rest[field]);
            }
        }
    }
    // Without a name Pulumi auto-names the object: the resource name plus a random suffix.
    const name: string = metadata.name ?? resource.name;
    const manifest = { apiVersion, kind, metadata: { ...metadata, name }, ...rest };
    return { apiVersion, kind, name, namespace: metadata.namespace, manifest, source };
}

function toRelease(resource: CapturedResource, source: ResourceSource): RenderedRelease {
    const inputs = redactSecrets(resource.inputs) as Record<string, any>;
    if (typeof inputs.chart !== "string" || inputs.chart === "") {
        throw new Error(`${resource.type} "${resource.name}" has no chart`);
    }
    return {
        name: inputs.name ?? resource.name,
        namespace: inputs.namespace,
        chart: inputs.chart,
        repository: inputs.repositoryOpts?.repo,
        version: inputs.version,
        values: inputs.values ?? {},
        source,
    };
}

/** `urn:pulumi:<stack>::<project>::<parent$...$type>::<name>` -> `<type>::<name>`. */
function keyOfUrn(urn: string): string {
    const [, , qualifiedType, ...name] = urn.split("::");
    return resourceKey(qualifiedType.split("$").pop()!, name.join("::"));
}

const kindRank = (kind: string) => {
    const rank = installOrder.indexOf(kind);
    return rank < 0 ? installOrder.length : rank;
};

/**
 * Orders resources for applying: a stable topological sort of their dependencies (explicit
 * `dependsOn` and the outputs their inputs use) that otherwise prefers Helm's kind order, then the
 * order the program registered them.
 */
function applyOrder<T>(entries: Array<{ key: string; kind: string; dependsOn: string[]; value: T }>): T[] {
    const keys = new Set(entries.map((e) => e.key));
    const waitingOn = new Map(entries.map((e) => [e.key, new Set(e.dependsOn.filter((d) => keys.has(d) && d !== e.key))]));
    const pending = entries.map((e, index) => ({ ...e, index }));
    const ordered: T[] = [];
    while (pending.length > 0) {
        const ready = pending.filter((e) => waitingOn.get(e.key)!.size === 0);
        if (ready.length === 0) {
            throw new Error(`dependency cycle among ${pending.map((e) => e.key).join(", ")}`);
        }
        ready.sort((a, b) => kindRank(a.kind) - kindRank(b.kind) || a.index - b.index);
        const next = ready[0];
        ordered.push(next.value);
        pending.splice(pending.indexOf(next), 1);
        for (const deps of waitingOn.values()) {
            deps.delete(next.key);
        }
    }
    return ordered;
}

/** Renders captured resources (from `runStack`) into objects and releases in apply order. */
export function renderResources(resources: readonly CapturedResource[]): Rendering {
    const entries: Array<{ key: string; kind: string; dependsOn: string[]; value: Rendering["items"][number] }> = [];
    for (const resource of resources) {
        // Reads (`Resource.get`) are objects the program checks for, not objects it applies.
        if (!resource.custom || resource.read !== undefined || !resource.type.startsWith("kubernetes:") || resource.type.startsWith("pulumi:providers:")) {
            continue;
        }
        const key = resourceKey(resource.type, resource.name);
        const dependsOn = resource.options.dependsOn.map(keyOfUrn);
        const source = { type: resource.type, name: resource.name, dependsOn };
        if (resource.type === helmReleaseType) {
            entries.push({ key, kind: "Release", dependsOn, value: { release: toRelease(resource, source) } });
        } else {
            const object = toObject(resource, source);
            entries.push({ key, kind: object.kind, dependsOn, value: { object } });
        }
    }
    const items = applyOrder(entries);
    return {
        items,
        objects: items.flatMap((i) => ("object" in i ? [i.object] : [])),
        releases: items.flatMap((i) => ("release" in i ? [i.release] : [])),
    };
}

/** Runs the program for a shipped stack on the mocks, with its stack file, and renders it. */
export async function renderStack(stack: string): Promise<Rendering> {
    if (!(shippedStacks as readonly string[]).includes(stack)) {
        throw new Error(`unknown stack "${stack}"; expected one of ${shippedStacks.join(", ")}`);
    }
    const run = await runStack(stackConfig(stack), stack);
    return renderResources(run.resources);
}

/** Folder, inside the output folder, that holds the Helm releases' inputs. */
export const releasesFolder = "helm-releases";

const fileSafe = (text: string) => text.toLowerCase().replace(/[^a-z0-9.-]+/g, "-");
/** The name of a file a render writes. */
const renderedFile = /^\d{2,}-[a-z0-9.-]+\.yaml$/;

/**
 * Writes one YAML file per object (`<order>-<kind>-<name>.yaml`) and per Helm release
 * (`helm-releases/<order>-<name>.yaml`) into `outDir`, after removing the files a previous render
 * left there (and nothing else). Returns the files, objects in apply order.
 */
/**
 * YAML as kubectl and most Kubernetes tooling read it: YAML 1.1, where a bare `Off`, `on` or `yes` is
 * a boolean, so such strings (a VPA's `updateMode: "Off"`) must be quoted.
 */
export function toYaml(value: unknown): string {
    return stringify(value, { lineWidth: 0, version: "1.1" });
}

export function writeRendering(rendering: Rendering, outDir: string, stack: string): { objectFiles: string[]; releaseFiles: string[] } {
    mkdirSync(outDir, { recursive: true });
    // Only what a render writes: `--out .` must never touch the project's own YAML files.
    for (const file of readdirSync(outDir)) {
        if (renderedFile.test(file)) {
            rmSync(path.join(outDir, file));
        }
    }
    rmSync(path.join(outDir, releasesFolder), { recursive: true, force: true });
    const width = Math.max(2, String(rendering.items.length).length);
    const objectFiles: string[] = [];
    const releaseFiles: string[] = [];
    rendering.items.forEach((item, index) => {
        const order = String(index + 1).padStart(width, "0");
        if ("object" in item) {
            const o = item.object;
            const file = path.join(outDir, `${order}-${fileSafe(o.kind)}-${fileSafe(o.name)}.yaml`);
            const where = o.namespace ? `${o.namespace}/${o.name}` : o.name;
            const header = `# Stack ${stack}, applied ${index + 1} of ${rendering.items.length}: ${o.kind} ${where} (Pulumi ${o.source.type} "${o.source.name}")\n`;
            writeFileSync(file, header + toYaml(o.manifest));
            objectFiles.push(file);
        } else {
            const r = item.release;
            mkdirSync(path.join(outDir, releasesFolder), { recursive: true });
            const file = path.join(outDir, releasesFolder, `${order}-${fileSafe(r.name)}.yaml`);
            const header =
                `# Stack ${stack}, applied ${index + 1} of ${rendering.items.length}: the inputs of Helm release ${r.name} ` +
                `(Pulumi ${r.source.type} "${r.source.name}"). Not a Kubernetes object: the chart renders in the cluster.\n`;
            const { source: _s, ...release } = r;
            writeFileSync(file, header + toYaml(release));
            releaseFiles.push(file);
        }
    });
    return { objectFiles, releaseFiles };
}

/** `--name value` pairs from argv. */
export function parseOptions(argv: readonly string[], known: readonly string[]): Record<string, string> {
    const options: Record<string, string> = {};
    for (let i = 0; i < argv.length; i += 2) {
        const flag = argv[i];
        const value = argv[i + 1];
        if (!flag.startsWith("--") || !known.includes(flag.slice(2)) || value === undefined || value.startsWith("--")) {
            throw new Error(`unexpected argument ${flag}${value === undefined ? "" : ` ${value}`}; expected ${known.map((k) => `--${k} <value>`).join(" ")}`);
        }
        options[flag.slice(2)] = value;
    }
    return options;
}

async function main(): Promise<void> {
    const options = parseOptions(process.argv.slice(2), ["stack", "out"]);
    if (!options.stack || !options.out) {
        throw new Error(`usage: npm run render -- --stack <${shippedStacks.join("|")}> --out <dir>`);
    }
    const outDir = path.resolve(process.cwd(), options.out);
    if (!existsSync(path.join(projectRoot, `Pulumi.${options.stack}.yaml`))) {
        throw new Error(`no stack file Pulumi.${options.stack}.yaml`);
    }
    const rendering = await renderStack(options.stack);
    const { objectFiles, releaseFiles } = writeRendering(rendering, outDir, options.stack);
    console.log(`Stack ${options.stack}: ${objectFiles.length} objects and ${releaseFiles.length} Helm releases written to ${path.relative(process.cwd(), outDir) || "."}`);
}

if (require.main === module) {
    main().catch((error: Error) => {
        console.error(error.message);
        process.exit(1);
    });
}
