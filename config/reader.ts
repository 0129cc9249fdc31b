import * as pulumi from "@pulumi/pulumi";
import { bytesExpectation, bytesHint, cpuExpectation, parseBytes, parseCpu } from "../lib/quantity";
import { ComputeResources, StorageSettings } from "./common";
import { ObjectKey, ScalarKey, scalarSettings } from "./declarations";

/** The raw config, read key by key: every problem is collected, none stops the reading. */

/** Where settings come from: `pulumi.Config` in a real run, a plain map in unit tests. */
export interface ConfigSource {
    readonly project: string;
    readonly stack: string;
    /** The raw string value of `<project>:<key>`, or undefined when unset. */
    get(key: string): string | undefined;
    /** Every `<project>:<key>` key the stack sets, without the project prefix. */
    keys(): string[];
}

/** Thrown when the stack's settings are invalid; lists every problem at once. */
export class SettingsError extends pulumi.RunError {
    constructor(
        readonly stack: string,
        readonly problems: readonly string[],
    ) {
        super(
            `Stack "${stack}" has ${problems.length} configuration problem${problems.length === 1 ? "" : "s"}; ` +
                `nothing was deployed:\n${problems.map((p) => `  - ${p}`).join("\n")}`,
        );
        this.name = "SettingsError";
    }
}

export const dnsLabel = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
export const dnsSubdomain = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export const imageRepository = /^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-]{1,2}[a-z0-9]+)*)*$/;
export const imageTag = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
export const imageDigest = /^sha256:[a-f0-9]{64}$/;
/** A semantic version as an image tag (1.4.2, v1.4.2, 1.4.2-rc.1): an immutable release, unlike main or latest. */
export const semverTag = /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/;
export const sqlIdentifier = /^[a-z_][a-z0-9_]{0,62}$/;

/** Reads raw values and collects every problem instead of stopping at the first. */
export class Reader {
    readonly problems: string[] = [];

    constructor(private readonly source: ConfigSource) {}

    /** Records a problem: the full key, the bad value and what is expected. */
    problem(key: string, value: unknown, expected: string, verdict = "is invalid"): void {
        const shown = value === undefined ? "" : ` = ${JSON.stringify(value) ?? String(value)}`;
        this.problems.push(`${this.source.project}:${key}${shown} ${verdict}; expected ${expected}`);
    }

    private raw(key: ScalarKey): string {
        const value = this.source.get(key);
        return value === undefined ? String(scalarSettings[key].default) : value;
    }

    string(key: ScalarKey): string {
        return this.raw(key).trim();
    }

    matching(key: ScalarKey, pattern: RegExp, expected: string): string | undefined {
        const value = this.string(key);
        if (!pattern.test(value)) {
            this.problem(key, value, expected);
            return undefined;
        }
        return value;
    }

    oneOf<T extends string>(key: ScalarKey, allowed: readonly T[]): T | undefined {
        const value = this.string(key);
        if (!(allowed as readonly string[]).includes(value)) {
            this.problem(key, value, `one of ${allowed.join(", ")}`);
            return undefined;
        }
        return value as T;
    }

    boolean(key: ScalarKey): boolean | undefined {
        const value = this.string(key);
        if (value !== "true" && value !== "false") {
            this.problem(key, value, "true or false");
            return undefined;
        }
        return value === "true";
    }

    integer(key: ScalarKey, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
        const value = this.string(key);
        const n = Number(value);
        if (!/^-?\d+$/.test(value) || n < min || n > max) {
            const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
            this.problem(key, value, `a whole number ${range}`);
            return undefined;
        }
        return n;
    }

    port(key: ScalarKey): number | undefined {
        // Ports below 1024 need NET_BIND_SERVICE, which the restricted containers drop.
        return this.integer(key, 1024, 65535);
    }


    /** An image reference with an exact tag or digest (repository:tag, repository@sha256:... or both), never latest. */
    pinnedImage(key: ScalarKey): string | undefined {
        const value = this.string(key);
        const at = value.indexOf("@");
        const digest = at < 0 ? undefined : value.slice(at + 1);
        if (digest !== undefined && !imageDigest.test(digest)) {
            this.problem(key, value, `a digest after @ of the form sha256:<64 hex digits>, e.g. ${value.slice(0, at)}@sha256:<digest of that image>`);
            return undefined;
        }
        const match = /^(.+?)(?::([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?$/.exec(at < 0 ? value : value.slice(0, at));
        const [repository, tag] = match ? [match[1], match[2]] : [];
        if (!repository || !imageRepository.test(repository) || (!tag && !digest) || tag === "latest") {
            this.problem(key, value, "an image pinned to an exact version: repository:tag (not latest), repository@sha256:<digest> or repository:tag@sha256:<digest>");
            return undefined;
        }
        return value;
    }

    /** An optional image digest: empty (the tag alone) or sha256:<64 hex>. */
    digest(key: ScalarKey): string | undefined {
        const value = this.string(key);
        if (value !== "" && !imageDigest.test(value)) {
            this.problem(key, value, "a digest of the form sha256:<64 hex digits>, or empty to pull by tag");
            return undefined;
        }
        return value || undefined;
    }

    path(key: ScalarKey): string | undefined {
        return this.matching(key, /^\/[A-Za-z0-9._~/-]*$/, "an HTTP path starting with /");
    }

    storage(sizeKey: ScalarKey, classKey: ScalarKey): StorageSettings {
        const size = this.string(sizeKey);
        if (parseBytes(size) === undefined) {
            this.problem(sizeKey, size, bytesExpectation + bytesHint(size));
        }
        const className = this.string(classKey) || undefined;
        if (className !== undefined && !dnsSubdomain.test(className)) {
            this.problem(classKey, className, "a StorageClass name, or empty for the cluster's default class");
        }
        return { size, className };
    }

    /** `{requests: {cpu, memory}, limits: {cpu, memory}}`, strict about unknown keys and requests above limits. */
    resources(key: ObjectKey): ComputeResources {
        const expected = "{ requests: { cpu, memory }, limits: { cpu, memory } }";
        const text = this.source.get(key);
        if (text === undefined) {
            this.problem(key, undefined, `${expected} in Pulumi.${this.source.stack}.yaml`, "is not set");
            return undefined as never;
        }
        let value: unknown;
        try {
            value = JSON.parse(text);
        } catch {
            value = text;
        }
        if (!isRecord(value)) {
            this.problem(key, value, expected);
            return undefined as never;
        }
        this.unknownKeys(key, value, ["requests", "limits"]);
        const sides: Record<string, { cpu?: number; memory?: number }> = {};
        for (const side of ["requests", "limits"] as const) {
            const part = value[side];
            if (!isRecord(part)) {
                this.problem(`${key}.${side}`, part, "{ cpu, memory }", part === undefined ? "is missing" : "is invalid");
                continue;
            }
            this.unknownKeys(`${key}.${side}`, part, ["cpu", "memory"]);
            const cpu = parseCpu(String(part.cpu ?? ""));
            if (cpu === undefined) {
                this.problem(`${key}.${side}.cpu`, part.cpu, cpuExpectation, part.cpu === undefined ? "is missing" : "is invalid");
            }
            const memory = parseBytes(String(part.memory ?? ""));
            if (memory === undefined) {
                const hint = bytesHint(String(part.memory ?? ""));
                this.problem(`${key}.${side}.memory`, part.memory, bytesExpectation + hint, part.memory === undefined ? "is missing" : "is invalid");
            }
            sides[side] = { cpu, memory };
        }
        const { requests, limits } = sides;
        for (const dimension of ["cpu", "memory"] as const) {
            const request = requests?.[dimension];
            const limit = limits?.[dimension];
            if (request !== undefined && limit !== undefined && request > limit) {
                const shown = (value.requests as Record<string, unknown>)[dimension];
                this.problem(`${key}.requests.${dimension}`, shown, `at most limits.${dimension} (${(value.limits as Record<string, unknown>)[dimension]})`);
            }
        }
        return value as unknown as ComputeResources;
    }

    private unknownKeys(key: string, value: Record<string, unknown>, known: readonly string[]): void {
        for (const k of Object.keys(value)) {
            if (!known.includes(k)) {
                this.problem(`${key}.${k}`, value[k], `one of ${known.join(", ")}${suggestion(k, known)}`, "is not a known key");
            }
        }
    }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** " (did you mean X?)" for the closest known name within two edits, or "". */
export function suggestion(name: string, known: readonly string[]): string {
    let best: string | undefined;
    let bestDistance = 3;
    for (const candidate of known) {
        const d = editDistance(name.toLowerCase(), candidate.toLowerCase());
        if (d < bestDistance) {
            best = candidate;
            bestDistance = d;
        }
    }
    return best ? ` (did you mean ${best}?)` : "";
}

function editDistance(a: string, b: string): number {
    let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
        const current = [i];
        for (let j = 1; j <= b.length; j++) {
            current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
        }
        previous = current;
    }
    return previous[b.length];
}

export function deepFreeze<T>(value: T): T {
    if (isRecord(value) && !pulumi.Output.isInstance(value)) {
        for (const child of Object.values(value)) {
            deepFreeze(child);
        }
        Object.freeze(value);
    }
    return value;
}
