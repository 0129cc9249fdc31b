import * as assert from "assert";
import { copyFileSync, mkdtempSync, readFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { parse } from "yaml";
import { releaseConfig } from "../config/release";
import { stackSettings } from "../cli/ops/workspace";
import { ChangeSummary, promote, PromotionRefused, PromotionStack, StackOperation } from "../cli/promote/promotion";
import { projectRoot, readStackFile } from "../harness/stackConfig";
import { removeStackFileValue, setStackFileValue, stackFileConfig } from "../cli/promote/stackFile";

const digest = `sha256:${"c".repeat(64)}`;

/** A stack held in memory: config from a shipped stack file, scripted history, outputs and previews. */
class FakeStack implements PromotionStack {
    readonly config: Record<string, string>;
    readonly calls: string[] = [];
    operations: StackOperation[] = [{ kind: "update", result: "succeeded", startTime: new Date("2030-01-01T10:00:00Z") }];
    refreshedPreview: ChangeSummary = { same: 42 };
    plannedPreview: ChangeSummary = { same: 40, update: 2 };

    constructor(
        readonly name: string,
        file: string,
        overrides: Record<string, string> = {},
    ) {
        const values = Object.entries(readStackFile(file)).map(([k, v]) => [k.replace(/^healthcare-backend:/, ""), typeof v === "string" ? v : JSON.stringify(v)]);
        this.config = { ...Object.fromEntries(values), ...overrides };
    }

    async history(limit: number) {
        this.calls.push("history");
        return this.operations.slice(0, limit);
    }
    async outputs() {
        this.calls.push("outputs");
        // What the program exports for this config: the release settings it deployed and its data facts.
        const settings = stackSettings(this.name === "staging" ? "staging" : "production", this.config);
        return { release: releaseConfig(settings), dataFacts: { postgresEngine: settings.postgres.engine } };
    }
    async preview({ refresh }: { refresh: boolean }) {
        this.calls.push(refresh ? "preview --refresh" : "preview");
        return refresh ? this.refreshedPreview : this.plannedPreview;
    }
    async getConfig(key: string) {
        return this.config[key];
    }
    async setConfig(key: string, value: string) {
        this.calls.push(`config set ${key}`);
        this.config[key] = value;
    }
    async removeConfig(key: string) {
        this.calls.push(`config rm ${key}`);
        delete this.config[key];
    }
}

/** Staging as CI leaves it: a new image pinned by digest, plus staging's own sizes, hosts and ranges. */
const healthyStaging = () => new FakeStack("staging", "staging", { apiImageTag: "1.4.0", apiImageDigest: digest, postgresVersion: "17.7" });

async function refused(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
    await assert.rejects(promise, (error: Error) => {
        assert.ok(error instanceof PromotionRefused, String(error));
        assert.match(error.message, pattern);
        return true;
    });
}

describe("promotion staging -> production", () => {
    it("healthy staging promotes its digest and release settings and previews production; it never deploys", async () => {
        const staging = healthyStaging();
        const production = new FakeStack("production", "production");
        const result = await promote(staging, production);

        assert.strictEqual(production.config.apiImageDigest, digest);
        assert.strictEqual(production.config.apiImageTag, "1.4.0");
        assert.strictEqual(production.config.postgresVersion, "17.7");
        assert.deepStrictEqual(Object.keys(result.changed).sort(), ["apiImageDigest", "apiImageTag", "postgresVersion"]);
        assert.deepStrictEqual(result.changed.apiImageDigest, { from: "", to: digest });
        assert.deepStrictEqual(production.calls, ["config set apiImageTag", "config set apiImageDigest", "config set postgresVersion", "preview"]);
        assert.deepStrictEqual(staging.calls, ["history", "preview --refresh", "outputs"]);
        // The promoted config passes production's own rules.
        assert.strictEqual(stackSettings("production", production.config).api.image.ref, `registry.example.com/healthcare/healthcare-api:1.4.0@${digest}`);
    });

    it("carries the data stores' digests with their versions, and says when staging runs one by tag only", async () => {
        const postgresDigest = `sha256:${"a".repeat(64)}`;
        const staging = new FakeStack("staging", "staging", { apiImageTag: "1.4.0", apiImageDigest: digest, postgresVersion: "17.7", postgresImageDigest: postgresDigest });
        const production = new FakeStack("production", "production");
        const said: string[] = [];
        const result = await promote(staging, production, { say: (l) => said.push(l) });
        assert.deepStrictEqual(result.changed.postgresImageDigest, { from: "", to: postgresDigest });
        assert.strictEqual(result.changed.redisImageDigest, undefined, "unset on both sides");
        assert.strictEqual(stackSettings("production", production.config).postgres.image, `ghcr.io/cloudnative-pg/postgresql:17.7-standard-trixie@${postgresDigest}`);
        assert.ok(said.some((l) => /staging runs Redis 8\.2\.3 by tag only/.test(l) && l.includes("redisImageDigest")), said.join("\n"));
        assert.ok(!said.some((l) => l.includes("runs PostgreSQL")), said.join("\n"));
        // A digest production had and staging no longer pins goes with it: the tag alone is what staging ran.
        const unpinned = new FakeStack("production", "production", { redisImageDigest: `sha256:${"b".repeat(64)}` });
        await promote(healthyStaging(), unpinned);
        assert.strictEqual(unpinned.config.redisImageDigest, undefined);
        assert.ok(unpinned.calls.includes("config rm redisImageDigest"));
    });

    it("refuses to carry a PostgreSQL digest to a stack on another engine (another image)", async () => {
        const staging = new FakeStack("staging", "staging", { apiImageTag: "1.4.0", apiImageDigest: digest, postgresImageDigest: `sha256:${"a".repeat(64)}` });
        const production = new FakeStack("production", "production", { postgresEngine: "statefulset", postgresInstances: "1", postgresPoolerInstances: "0", postgresWalStorageSize: "", postgresBackupInClusterOnly: "true" });
        await refused(promote(staging, production), /staging pins postgresImageDigest for its cloudnative-pg engine's image, but production runs postgresEngine statefulset/);
        assert.deepStrictEqual(production.calls, []);
    });

    it("never carries production-only settings: replica ranges, sizes, storage, hosts, TLS, context, add-ons", async () => {
        const staging = healthyStaging();
        const production = new FakeStack("production", "production");
        const before = { ...production.config };
        await promote(staging, production);
        const environmentKeys = Object.keys(before).filter((k) => !["apiImageTag", "apiImageDigest", "postgresVersion"].includes(k));
        for (const key of environmentKeys) {
            assert.strictEqual(production.config[key], before[key], key);
        }
        // They do differ in staging: carrying them would have changed production.
        for (const key of ["apiMinReplicas", "apiMaxReplicas", "apiResources", "postgresStorageSize", "ingressHost", "kubeContext", "redisResources"]) {
            assert.notStrictEqual(staging.config[key], production.config[key], key);
        }
    });

    it("refuses when staging's last update failed, and leaves production untouched", async () => {
        const staging = healthyStaging();
        staging.operations = [{ kind: "update", result: "failed", startTime: new Date("2030-01-02T08:00:00Z") }];
        const production = new FakeStack("production", "production");
        await refused(promote(staging, production), /^staging's last update \(2030-01-02T08:00:00.000Z\) failed: fix staging and deploy it successfully before promoting$/);
        assert.deepStrictEqual(production.calls, []);
    });

    it("refuses when staging has drifted, naming what the refreshed preview would change", async () => {
        const staging = healthyStaging();
        staging.refreshedPreview = { same: 40, update: 1, create: 1 };
        const production = new FakeStack("production", "production");
        await refused(promote(staging, production), /^staging has drifted: a refreshed preview plans 1 to update, 1 to create\./);
        assert.deepStrictEqual(production.calls, []);
    });

    it("refuses when staging was never deployed, or was last destroyed", async () => {
        const never = healthyStaging();
        never.operations = [];
        await refused(promote(never, new FakeStack("production", "production")), /staging has never been deployed/);
        const destroyed = healthyStaging();
        destroyed.operations = [{ kind: "destroy", result: "succeeded", startTime: new Date() }];
        await refused(promote(destroyed, new FakeStack("production", "production")), /last operation was a destroy, not an update/);
    });

    it("refuses an image staging runs by tag only: production must get exactly the bytes staging tested", async () => {
        const staging = new FakeStack("staging", "staging");
        const production = new FakeStack("production", "production");
        await refused(promote(staging, production), /staging runs registry\.example\.com\/healthcare\/healthcare-api:1\.0\.0 without a digest/);
        assert.deepStrictEqual(production.calls, []);
    });

    it("changes nothing when production already runs staging's release", async () => {
        const production = new FakeStack("production", "production", { apiImageTag: "1.4.0", apiImageDigest: digest, postgresVersion: "17.7" });
        const result = await promote(healthyStaging(), production);
        assert.deepStrictEqual(result.changed, {});
        assert.deepStrictEqual(production.calls, ["preview"]);
    });
});

/** The lines only `before` has and the lines only `after` has (a longest-common-subsequence line diff). */
function lineDiff(before: string, after: string): { removed: string[]; added: string[] } {
    const a = before.split("\n");
    const b = after.split("\n");
    const common = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
    for (let i = a.length - 1; i >= 0; i--) {
        for (let j = b.length - 1; j >= 0; j--) {
            common[i][j] = a[i] === b[j] ? common[i + 1][j + 1] + 1 : Math.max(common[i + 1][j], common[i][j + 1]);
        }
    }
    const removed: string[] = [];
    const added: string[] = [];
    let i = 0;
    let j = 0;
    while (i < a.length || j < b.length) {
        if (i < a.length && j < b.length && a[i] === b[j]) {
            i++;
            j++;
        } else if (j < b.length && (i === a.length || common[i][j + 1] >= common[i + 1][j])) {
            added.push(b[j++]);
        } else {
            removed.push(a[i++]);
        }
    }
    return { removed, added };
}

describe("promotion edits the target's stack file in place", () => {
    /** Production as a file: a copy of the shipped Pulumi.production.yaml, edited the way cli/promote/promote.ts edits it. */
    function productionFile(): { file: string; stack: FakeStack } {
        const file = path.join(mkdtempSync(path.join(tmpdir(), "promotion-")), "Pulumi.production.yaml");
        copyFileSync(path.join(projectRoot, "Pulumi.production.yaml"), file);
        const stack = new FakeStack("production", "production");
        Object.assign(stack, stackFileConfig(file, "healthcare-backend"));
        return { file, stack };
    }
    const shipped = () => readFileSync(path.join(projectRoot, "Pulumi.production.yaml"), "utf8");

    it("promoting two keys changes exactly their two lines; every other line, comments and flow maps included, stays", async () => {
        const { file, stack } = productionFile();
        const staging = new FakeStack("staging", "staging", { apiImageTag: "1.4.0", apiImageDigest: digest });
        const result = await promote(staging, stack);
        assert.deepStrictEqual(Object.keys(result.changed), ["apiImageTag", "apiImageDigest"]);
        const after = readFileSync(file, "utf8");
        assert.deepStrictEqual(lineDiff(shipped(), after), {
            removed: ["  healthcare-backend:apiImageTag: 1.0.0"],
            added: ["  healthcare-backend:apiImageTag: 1.4.0", `  healthcare-backend:apiImageDigest: ${digest}`],
        });
        // The digest sits with the other image settings, and the file reads back as the promoted config.
        assert.match(after, new RegExp(`apiImageTag: 1\\.4\\.0\\n  healthcare-backend:apiImageDigest: ${digest}\\n`));
        const config = parse(after).config;
        assert.strictEqual(config["healthcare-backend:apiImageDigest"], digest);
        assert.deepStrictEqual(config["healthcare-backend:apiResources"], readStackFile("production")["healthcare-backend:apiResources"]);
        assert.strictEqual(stackSettings("production", { apiImageTag: "1.4.0", apiImageDigest: digest }).api.image.ref, `registry.example.com/healthcare/healthcare-api:1.4.0@${digest}`);
    });

    it("writes integers plain, quotes a string that YAML would read as a number, and removes an emptied key's line only", () => {
        const text = shipped();
        const port = lineDiff(text, setStackFileValue(text, "healthcare-backend", "apiPort", "8000"));
        assert.deepStrictEqual(port, { removed: [], added: ["  healthcare-backend:apiPort: 8000"] });
        const tagged = setStackFileValue(text, "healthcare-backend", "apiImageTag", "1.10");
        assert.deepStrictEqual(lineDiff(text, tagged), { removed: ["  healthcare-backend:apiImageTag: 1.0.0"], added: ['  healthcare-backend:apiImageTag: "1.10"'] });
        assert.strictEqual(parse(tagged).config["healthcare-backend:apiImageTag"], "1.10", "read back as the string 1.10, not the number 1.1");
        const withDigest = setStackFileValue(text, "healthcare-backend", "apiImageDigest", digest);
        assert.strictEqual(removeStackFileValue(withDigest, "healthcare-backend", "apiImageDigest"), text, "set then removed: the shipped file again");
        assert.strictEqual(removeStackFileValue(text, "healthcare-backend", "apiImageDigest"), text, "removing an unset key changes nothing");
    });

    it("reads values as the program receives them: strings, integers and booleans as strings, unset as undefined", async () => {
        const { stack } = productionFile();
        assert.strictEqual(await stack.getConfig("apiImageTag"), "1.0.0");
        assert.strictEqual(await stack.getConfig("redisNodes"), "6");
        assert.strictEqual(await stack.getConfig("protectData"), "true");
        assert.strictEqual(await stack.getConfig("apiImageDigest"), undefined);
    });
});
