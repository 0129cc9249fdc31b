import * as assert from "assert";
import { readdirSync, readFileSync } from "fs";
import * as path from "path";
import { parse } from "yaml";
import { projectRoot } from "../harness/stackConfig";

/** The gates of the delivery path (docs/delivery.md), read from the workflows themselves. */

const dir = path.join(projectRoot, ".github", "workflows");
const workflow = (name: string) => parse(readFileSync(path.join(dir, name), "utf8"));
/** Every `secrets.X` a job names. */
const secretsOf = (job: unknown) => [...new Set([...JSON.stringify(job).matchAll(/secrets\.([A-Z0-9_]+)/g)].map((m) => m[1]))].sort();
const jobs = () =>
    readdirSync(dir)
        .filter((f) => f.endsWith(".yml"))
        .flatMap((file) => Object.entries(workflow(file).jobs as Record<string, any>).map(([id, job]) => ({ file, id, job })));

describe("delivery workflows", () => {
    it("pull requests preview behind an approval environment, with the read-only previewer's credentials only", () => {
        const pr = workflow("pull-request.yml");
        assert.deepStrictEqual(Object.keys(pr.on), ["pull_request"]);
        assert.deepStrictEqual(secretsOf(pr.jobs.test), [], "the tests run without any credential");
        const preview = pr.jobs.preview;
        assert.strictEqual(preview.environment, "preview-${{ matrix.stack }}");
        assert.deepStrictEqual(preview.strategy.matrix.stack, ["staging", "production"]);
        assert.deepStrictEqual(secretsOf(preview), ["GITHUB_TOKEN", "KUBECONFIG_PREVIEWER", "PULUMI_ACCESS_TOKEN", "PULUMI_CONFIG_PASSPHRASE"]);
        const action = preview.steps.find((s: any) => String(s.uses).startsWith("pulumi/actions@"));
        assert.strictEqual(action.with.command, "preview");
    });

    it("every job that names a credential runs in an environment, and deploy credentials only in the deploy environments", () => {
        for (const { file, id, job } of jobs()) {
            const secrets = secretsOf(job).filter((s) => s !== "GITHUB_TOKEN");
            if (secrets.length > 0) {
                assert.ok(job.environment, `${file} ${id} names ${secrets.join(", ")} without an environment`);
            }
            const deploys = JSON.stringify(job.steps).includes('"command":"up"');
            assert.strictEqual(deploys, ["staging", "production"].includes(job.environment), `${file} ${id}: deploys only in staging or production`);
            if (!deploys) {
                // The deployer's kubeconfig is KUBECONFIG in the staging and production environments; nothing else names it.
                assert.ok(!secrets.includes("KUBECONFIG"), `${file} ${id} names the deployer's kubeconfig`);
            }
        }
    });

    it("promotion opens a pull request and never deploys", () => {
        const promote = workflow("promote.yml");
        assert.deepStrictEqual(Object.keys(promote.on), ["workflow_dispatch"]);
        const text = JSON.stringify(promote);
        assert.ok(!/--yes|"command":"up"|pulumi up/.test(text), "no deploy");
        const steps = promote.jobs.promote.steps.map((s: any) => String(s.run ?? ""));
        assert.ok(steps.some((r: string) => r.includes("npm run promote -- --from staging --to production")));
        assert.ok(steps.some((r: string) => r.includes("gh pr create --base main")));
        assert.deepStrictEqual(secretsOf(promote.jobs.promote), ["GITHUB_TOKEN", "KUBECONFIG_PRODUCTION_PREVIEWER", "KUBECONFIG_STAGING_PREVIEWER", "PULUMI_ACCESS_TOKEN", "PULUMI_CONFIG_PASSPHRASE"]);
    });

    it("production deploys from main when Pulumi.production.yaml changes, behind the production environment", () => {
        const deploy = workflow("deploy-production.yml");
        assert.deepStrictEqual(deploy.on.push, { branches: ["main"], paths: ["Pulumi.production.yaml"] });
        assert.strictEqual(deploy.jobs.deploy.environment, "production");
        const action = deploy.jobs.deploy.steps.find((s: any) => String(s.uses).startsWith("pulumi/actions@"));
        assert.deepStrictEqual([action.with.command, action.with["stack-name"]], ["up", "production"]);
    });
});
