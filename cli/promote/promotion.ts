import { scalarSettings } from "../../config";
import { ReleaseKey, releaseKeys } from "../../config/release";

/**
 * Promotion of what staging runs to production, as decisions over a small workspace interface so
 * the rules are testable without the Pulumi CLI (cli/promote/promote.ts binds it to the Automation API).
 */

/** One past operation on a stack (newest first), as `stack.history()` reports it. */
export interface StackOperation {
    kind: string;
    result: string;
    startTime: Date;
}

/** Counts of planned operations by kind (`same`, `update`, `create`, ...), as a preview reports them. */
export type ChangeSummary = Record<string, number>;

/** The stack operations promotion needs. */
export interface PromotionStack {
    readonly name: string;
    /** Past operations, newest first. */
    history(limit: number): Promise<StackOperation[]>;
    /** Stack outputs as plain values (secrets are never read here). */
    outputs(): Promise<Record<string, unknown>>;
    /** Preview (with a refresh first when asked); the planned change counts. */
    preview(options: { refresh: boolean }): Promise<ChangeSummary>;
    /** Config values (keys without the project prefix). */
    getConfig(key: string): Promise<string | undefined>;
    setConfig(key: string, value: string): Promise<void>;
    removeConfig(key: string): Promise<void>;
}

/** Promotion stopped before changing production; the message says why and what to do. */
export class PromotionRefused extends Error {
    constructor(message: string) {
        super(message);
        this.name = "PromotionRefused";
    }
}

export interface PromotionResult {
    /** Release settings written to production's stack file (only those that differed). */
    changed: Partial<Record<ReleaseKey, { from: string; to: string }>>;
    /** Production's preview after the change. */
    preview: ChangeSummary;
}

/** Operations that change nothing. */
const unchanged = new Set(["same", "read"]);

function changes(summary: ChangeSummary): string[] {
    return Object.entries(summary)
        .filter(([op, n]) => !unchanged.has(op) && n > 0)
        .map(([op, n]) => `${n} to ${op}`);
}

/**
 * Checks that `source` is healthy and undrifted and returns its release settings: its last
 * operation succeeded, it was an update, a refreshed preview plans no change, and its image is
 * pinned by digest.
 */
export async function readRelease(source: PromotionStack): Promise<{ values: Record<ReleaseKey, string>; postgresEngine?: string }> {
    const [last] = await source.history(1);
    if (!last) {
        throw new PromotionRefused(`${source.name} has never been deployed: nothing to promote`);
    }
    if (last.result !== "succeeded") {
        throw new PromotionRefused(
            `${source.name}'s last ${last.kind} (${last.startTime.toISOString()}) ${last.result}: fix ${source.name} and deploy it successfully before promoting`,
        );
    }
    if (last.kind !== "update") {
        throw new PromotionRefused(`${source.name}'s last operation was a ${last.kind}, not an update: deploy ${source.name} before promoting`);
    }
    const drift = changes(await source.preview({ refresh: true }));
    if (drift.length > 0) {
        throw new PromotionRefused(
            `${source.name} has drifted: a refreshed preview plans ${drift.join(", ")}. What runs is not what its last update deployed, ` +
                `or the program/config changed since; deploy ${source.name} (or revert the change) before promoting`,
        );
    }
    const outputs = await source.outputs();
    const release = outputs.release as Record<string, unknown> | undefined;
    const missing = releaseKeys.filter((k) => typeof release?.[k] !== "string");
    if (!release || missing.length > 0) {
        throw new PromotionRefused(`${source.name}'s outputs lack the release settings (${missing.join(", ")}): deploy ${source.name} with this program version first`);
    }
    const values = release as Record<ReleaseKey, string>;
    const engine = (outputs.dataFacts as { postgresEngine?: unknown } | undefined)?.postgresEngine;
    if (!/^sha256:[a-f0-9]{64}$/.test(values.apiImageDigest)) {
        throw new PromotionRefused(
            `${source.name} runs ${values.apiImageRepository}:${values.apiImageTag} without a digest: pin the image it runs with ` +
                `\`pulumi config set apiImageDigest sha256:... --stack ${source.name}\` and deploy it, so production gets exactly the bytes ${source.name} tested`,
        );
    }
    return { values, postgresEngine: typeof engine === "string" ? engine : undefined };
}

/**
 * Promotes `source`'s release to `target`: writes the release settings (nothing else) into the
 * target's config and previews the target. It never deploys: the change is reviewed as a pull
 * request, and the target deploys from main once it is merged (.github/workflows/deploy-production.yml).
 */
export async function promote(source: PromotionStack, target: PromotionStack, options: { say?: (line: string) => void } = {}): Promise<PromotionResult> {
    const say = options.say ?? (() => undefined);
    const { values: release, postgresEngine } = await readRelease(source);
    say(`${source.name} is healthy and runs ${release.apiImageRepository}@${release.apiImageDigest}`);

    // postgresImageDigest names the image of the source's engine; on another engine it names the wrong image.
    const targetEngine = (await target.getConfig("postgresEngine")) ?? String(scalarSettings.postgresEngine.default);
    if (release.postgresImageDigest !== "" && postgresEngine !== undefined && postgresEngine !== targetEngine) {
        throw new PromotionRefused(
            `${source.name} pins postgresImageDigest for its ${postgresEngine} engine's image, but ${target.name} runs postgresEngine ${targetEngine} (another image): ` +
                `promote between stacks on the same engine, or unset postgresImageDigest in ${source.name}`,
        );
    }
    for (const [store, version, digest] of [
        ["PostgreSQL", "postgresVersion", "postgresImageDigest"],
        ["Redis", "redisVersion", "redisImageDigest"],
    ] as const) {
        if (release[digest] === "") {
            say(`note: ${source.name} runs ${store} ${release[version]} by tag only; ${target.name} may pull another build of that tag. Pin ${digest} in ${source.name} (docs/delivery.md#pinning-the-data-store-images)`);
        }
    }

    const changed: PromotionResult["changed"] = {};
    for (const key of releaseKeys) {
        // An unset key has the project's declared default (Pulumi.yaml), which config/declarations.ts mirrors.
        const from = (await target.getConfig(key)) ?? String(scalarSettings[key].default);
        const to = release[key];
        if (from === to) {
            continue;
        }
        if (to === "") {
            await target.removeConfig(key);
        } else {
            await target.setConfig(key, to);
        }
        changed[key] = { from, to };
        say(`${target.name}: ${key} ${from || "(unset)"} -> ${to || "(unset)"}`);
    }
    const preview = await target.preview({ refresh: false });
    say(`${target.name} preview: ${changes(preview).join(", ") || "no changes"}`);
    say(`not deployed: ${target.name} deploys from main once the change to its stack file is reviewed and merged`);
    return { changed, preview };
}
