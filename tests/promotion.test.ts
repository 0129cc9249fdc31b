import * as assert from "assert";
import { releaseConfig } from "../lib/release";
import { stackSettings } from "../tools/ops/workspace";
import { ChangeSummary, promote, PromotionRefused, PromotionStack, StackOperation } from "../tools/promotion";
import { readStackFile } from "../tools/stackConfig";

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
        // What the program exports for this config: the release settings it deployed.
        return { release: releaseConfig(stackSettings(this.name === "staging" ? "staging" : "production", this.config)) };
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
    async up() {
        this.calls.push("up");
        return { update: 2 };
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
    it("healthy staging promotes its digest and release settings, previews production, and does not deploy without --yes", async () => {
        const staging = healthyStaging();
        const production = new FakeStack("production", "production");
        const result = await promote(staging, production, { deploy: false });

        assert.strictEqual(production.config.apiImageDigest, digest);
        assert.strictEqual(production.config.apiImageTag, "1.4.0");
        assert.strictEqual(production.config.postgresVersion, "17.7");
        assert.deepStrictEqual(Object.keys(result.changed).sort(), ["apiImageDigest", "apiImageTag", "postgresVersion"]);
        assert.deepStrictEqual(result.changed.apiImageDigest, { from: "", to: digest });
        assert.deepStrictEqual(production.calls, ["config set apiImageTag", "config set apiImageDigest", "config set postgresVersion", "preview"]);
        assert.deepStrictEqual(staging.calls, ["history", "preview --refresh", "outputs"]);
        assert.strictEqual(result.deployed, false);
        // The promoted config passes production's own rules.
        assert.strictEqual(stackSettings("production", production.config).api.image.ref, `registry.example.com/healthcare/healthcare-api:1.4.0@${digest}`);
    });

    it("deploys production when told to", async () => {
        const production = new FakeStack("production", "production");
        const result = await promote(healthyStaging(), production, { deploy: true });
        assert.strictEqual(result.deployed, true);
        assert.deepStrictEqual(production.calls.slice(-2), ["preview", "up"]);
    });

    it("never carries production-only settings: replica ranges, sizes, storage, hosts, TLS, context, add-ons", async () => {
        const staging = healthyStaging();
        const production = new FakeStack("production", "production");
        const before = { ...production.config };
        await promote(staging, production, { deploy: true });
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
        await refused(promote(staging, production, { deploy: true }), /^staging's last update \(2030-01-02T08:00:00.000Z\) failed: fix staging and deploy it successfully before promoting$/);
        assert.deepStrictEqual(production.calls, []);
    });

    it("refuses when staging has drifted, naming what the refreshed preview would change", async () => {
        const staging = healthyStaging();
        staging.refreshedPreview = { same: 40, update: 1, create: 1 };
        const production = new FakeStack("production", "production");
        await refused(promote(staging, production, { deploy: true }), /^staging has drifted: a refreshed preview plans 1 to update, 1 to create\./);
        assert.deepStrictEqual(production.calls, []);
    });

    it("refuses when staging was never deployed, or was last destroyed", async () => {
        const never = healthyStaging();
        never.operations = [];
        await refused(promote(never, new FakeStack("production", "production"), { deploy: false }), /staging has never been deployed/);
        const destroyed = healthyStaging();
        destroyed.operations = [{ kind: "destroy", result: "succeeded", startTime: new Date() }];
        await refused(promote(destroyed, new FakeStack("production", "production"), { deploy: false }), /last operation was a destroy, not an update/);
    });

    it("refuses an image staging runs by tag only: production must get exactly the bytes staging tested", async () => {
        const staging = new FakeStack("staging", "staging");
        const production = new FakeStack("production", "production");
        await refused(promote(staging, production, { deploy: false }), /staging runs registry\.example\.com\/healthcare\/healthcare-api:1\.0\.0 without a digest/);
        assert.deepStrictEqual(production.calls, []);
    });

    it("changes nothing when production already runs staging's release", async () => {
        const production = new FakeStack("production", "production", { apiImageTag: "1.4.0", apiImageDigest: digest, postgresVersion: "17.7" });
        const result = await promote(healthyStaging(), production, { deploy: false });
        assert.deepStrictEqual(result.changed, {});
        assert.deepStrictEqual(production.calls, ["preview"]);
    });
});
