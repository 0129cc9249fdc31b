import { existsSync, readFileSync } from "fs";
import * as path from "path";
import { parse } from "yaml";

/**
 * The project's root folder: the nearest folder above this module that holds Pulumi.yaml, so the
 * tooling finds the project files both from source (harness/) and compiled (bin/harness/).
 */
export const projectRoot = findProjectRoot(__dirname);

function findProjectRoot(from: string): string {
    for (let dir = from; ; dir = path.dirname(dir)) {
        if (existsSync(path.join(dir, "Pulumi.yaml"))) {
            return dir;
        }
        if (path.dirname(dir) === dir) {
            throw new Error(`no Pulumi.yaml in ${from} or any folder above it`);
        }
    }
}

/** The stacks shipped with the project. */
export const shippedStacks = ["local", "staging", "production"] as const;
export type ShippedStack = (typeof shippedStacks)[number];

/** A config map as the Pulumi CLI hands it to the program: `<project>:<key>` to a string. */
export type ConfigMap = Record<string, string>;

interface ProjectFile {
    name: string;
    config?: Record<string, { type: string; description?: string; default?: unknown; secret?: boolean }>;
}

/** Pulumi.yaml, parsed. */
export function readProject(): ProjectFile {
    return parse(readFileSync(path.join(projectRoot, "Pulumi.yaml"), "utf8")) as ProjectFile;
}

/** Pulumi.<stack>.yaml's `config:` block, parsed. */
export function readStackFile(stack: string): Record<string, unknown> {
    const file = parse(readFileSync(path.join(projectRoot, `Pulumi.${stack}.yaml`), "utf8")) as { config?: Record<string, unknown> };
    return file.config ?? {};
}

/**
 * Overrides that run a shipped stack's PostgreSQL on the statefulset engine instead of CloudNativePG:
 * one server, no pooler, no WAL volume, its VPA sizing it at pod creation. Production's 100 API pods
 * then need `apiDatabasePoolSize` 9 or fewer (a server without a pooler serves at most 1,000 connections).
 */
export const onStatefulSetEngine = {
    postgresEngine: "statefulset",
    postgresInstances: 1,
    postgresPoolerInstances: 0,
    postgresWalStorageSize: "",
    vpaPostgresMode: "Initial",
} as const;

/** Config values travel as strings; objects as JSON, as `pulumi` passes them. */
function asConfigString(value: unknown): string {
    return typeof value === "string" ? value : JSON.stringify(value);
}

/**
 * The config a `pulumi up --stack <stack>` gives the program: Pulumi.yaml's declared defaults,
 * overlaid by the stack file, overlaid by `overrides` (keys without the project prefix; `undefined` unsets).
 */
export function stackConfig(stack: string, overrides: Record<string, unknown> = {}): ConfigMap {
    const project = readProject();
    const config: ConfigMap = {};
    for (const [key, declaration] of Object.entries(project.config ?? {})) {
        if (declaration.default !== undefined) {
            config[`${project.name}:${key}`] = asConfigString(declaration.default);
        }
    }
    for (const [key, value] of Object.entries(readStackFile(stack))) {
        config[key] = asConfigString(value);
    }
    for (const [key, value] of Object.entries(overrides)) {
        const fullKey = `${project.name}:${key}`;
        if (value === undefined) {
            delete config[fullKey];
        } else {
            config[fullKey] = asConfigString(value);
        }
    }
    return config;
}
