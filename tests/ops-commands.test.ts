import * as assert from "assert";
import { mkdtempSync, readFileSync, rmSync } from "fs";
import { parse } from "yaml";
import { tmpdir } from "os";
import * as path from "path";
import { main } from "../cli/ops/cli";
import { previousImage } from "../cli/ops/commands";
import { addonUrns, localConfigFile, stackSettings } from "../cli/ops/workspace";
import { createStandins, freshMachine, RecordedCall, Standins } from "./support/standins";

const line = (c: RecordedCall) => [c.tool, ...c.args].join(" ");

describe("everyday commands (stand-in pulumi and kubectl)", () => {
    let standins: Standins;
    let root: string;
    let output: string[];
    const run = (...argv: string[]) => main(argv, { env: { PATH: standins.bin }, say: (l) => output.push(l), root });
    const addons = addonUrns({ project: "healthcare-backend", stack: "local", settings: stackSettings("local") });

    beforeEach(() => {
        root = mkdtempSync(path.join(tmpdir(), "ops-"));
        output = [];
        // A deployed local stack: add-ons and app in the state, the stack file's config.
        standins = createStandins({
            ...freshMachine(),
            kindClusters: ["healthcare"],
            kubeContexts: ["kind-healthcare"],
            stacks: {
                local: {
                    config: { apiImageRepository: "healthcare-api-local", apiImageTag: "src-aaaaaaaaaaaa", apiMinReplicas: "1", apiMaxReplicas: "3" },
                    urns: [addons.component, ...addons.releases, addons.issuer!, ...addons.gatewayObjects, "(everything)"],
                    history: [
                        { kind: "update", result: "succeeded", config: { "healthcare-backend:apiImageRepository": { value: "healthcare-api-local" }, "healthcare-backend:apiImageTag": { value: "dev" } } },
                        { kind: "update", result: "failed", config: { "healthcare-backend:apiImageRepository": { value: "healthcare-api-local" }, "healthcare-backend:apiImageTag": { value: "broken" } } },
                        { kind: "update", result: "succeeded", config: { "healthcare-backend:apiImageRepository": { value: "healthcare-api-local" }, "healthcare-backend:apiImageTag": { value: "src-000000000000" } } },
                    ],
                },
            },
        });
    });
    afterEach(() => {
        standins.remove();
        rmSync(root, { recursive: true, force: true });
    });

    it("status, logs, shell and restart pin the stack's context and namespace", () => {
        run("status");
        run("logs");
        run("shell");
        run("restart");
        const target = "kubectl --context kind-healthcare --namespace healthcare-backend";
        assert.deepStrictEqual(standins.calls().map(line), [
            `${target} get pods,hpa,pdb -o wide`,
            `${target} get vpa`,
            `${target} logs --follow --prefix --tail 100 --max-log-requests 20 -l app.kubernetes.io/name=healthcare-api,app.kubernetes.io/instance=local,app.kubernetes.io/component=api -c api`,
            `${target} exec -it deployment/healthcare-api -c api -- sh`,
            `${target} rollout restart deployment/healthcare-api`,
            `${target} rollout status deployment/healthcare-api --timeout 5m`,
        ]);
    });

    /** This machine's config file of the local stack, as the CLI got it. */
    const localConfig = () => parse(readFileSync(localConfigFile(root, "local"), "utf8")).config as Record<string, unknown>;

    it("scale sets the HPA's floor within its range and deploys, in the local stack's own config file", () => {
        run("scale", "3");
        const changes = standins.calls().map(line).filter((l) => l.startsWith("pulumi config") || l.startsWith("pulumi up") || l.startsWith("pulumi preview"));
        assert.deepStrictEqual(changes, [`pulumi up --stack local --yes --config-file ${localConfigFile(root, "local")}`]);
        assert.strictEqual(localConfig()["healthcare-backend:apiMinReplicas"], "3");
    });

    it("scale refuses a count outside the HPA range and changes nothing", () => {
        assert.throws(() => run("scale", "4"), /scale 4: expected a whole number from 1 to 3 \(apiMaxReplicas of stack local/);
        assert.throws(() => run("scale", "0"), /expected a whole number from 1 to 3/);
        assert.deepStrictEqual(standins.calls(), []);
    });

    it("image changes the config (dropping a stale digest) and deploys; a bad digest is refused first", () => {
        assert.throws(() => run("image", "--digest", "sha256:nothex"), /apiImageDigest = "sha256:nothex" is invalid/);
        assert.deepStrictEqual(standins.calls(), []);
        run("image", "--tag", "1.2.3", "--digest", `sha256:${"d".repeat(64)}`);
        run("image", "--tag", "1.2.4");
        assert.strictEqual(localConfig()["healthcare-backend:apiImageTag"], "1.2.4");
        assert.strictEqual(localConfig()["healthcare-backend:apiImageDigest"], undefined, "a new tag drops the old digest");
        const sequence = standins.calls().map(line);
        assert.strictEqual(sequence.filter((l) => l.startsWith("pulumi up --stack local --yes")).length, 2);
        assert.ok(!sequence.some((l) => l.startsWith("kubectl")), "no kubectl set image");
    });

    it("rollback returns to the newest succeeded update with another image", () => {
        // Pulumi.local.yaml runs tag dev (the newest update); the failed one is skipped.
        run("rollback");
        const sequence = standins.calls().map(line);
        assert.ok(sequence.includes("pulumi stack history --json --stack local"));
        assert.strictEqual(localConfig()["healthcare-backend:apiImageTag"], "src-000000000000");
        assert.ok(sequence.includes(`pulumi up --stack local --yes --config-file ${localConfigFile(root, "local")}`), sequence.join("\n"));
    });

    it("stop destroys the application and keeps the cluster add-ons", () => {
        run("stop");
        const destroy = standins.calls().find((c) => c.args[0] === "destroy")!;
        const kept = destroy.args.filter((_, i) => destroy.args[i - 1] === "--exclude");
        // Envoy Gateway's GatewayClass and EnvoyProxy stay with it; the stack's own Gateway goes with the application.
        assert.deepStrictEqual(kept, [addons.component, ...addons.releases, addons.issuer, ...addons.gatewayObjects]);
        assert.deepStrictEqual(standins.state().stacks.local.urns, kept);
    });
});

describe("everyday commands on staging and production: a preview, then a confirmation", () => {
    let standins: Standins;
    let root: string;
    let output: string[];
    const digest = `sha256:${"e".repeat(64)}`;
    /** Runs a command; `ask` answers the question (null: no terminal), and records each question asked. */
    const run = (ask: string | null, ...argv: string[]) => {
        const asked: string[] = [];
        main(argv, { env: { PATH: standins.bin, CI: "true" }, say: (l) => output.push(l), root, ask: ask === null ? null : (q) => (asked.push(q), ask) });
        return asked;
    };
    const changes = () => standins.calls().map(line).filter((l) => /^pulumi (config set|config rm|up|preview)/.test(l));

    beforeEach(() => {
        root = mkdtempSync(path.join(tmpdir(), "ops-"));
        output = [];
        const release = { apiImageRepository: "registry.example.com/healthcare/healthcare-api", apiImageTag: "1.0.0" };
        const history = (tag: string) => ({ kind: "update", result: "succeeded", config: { "healthcare-backend:apiImageRepository": { value: release.apiImageRepository }, "healthcare-backend:apiImageTag": { value: tag } } });
        standins = createStandins({
            ...freshMachine(),
            pulumiLoggedIn: true,
            stacks: {
                staging: { config: { ...release, apiMinReplicas: "3" }, urns: ["(everything)"], history: [history("1.0.0"), history("0.9.0")] },
                production: { config: { ...release, apiMinReplicas: "10" }, urns: ["(everything)"], history: [history("1.0.0"), history("0.9.0")] },
            },
        });
    });
    afterEach(() => {
        standins.remove();
        rmSync(root, { recursive: true, force: true });
    });

    it("image on production shows pulumi preview and deploys once the operator types yes", () => {
        const asked = run("yes", "image", "--tag", "1.1.0", "--digest", digest, "--stack", "production");
        assert.deepStrictEqual(changes(), [
            "pulumi config set apiImageTag 1.1.0 --stack production",
            `pulumi config set apiImageDigest ${digest} --stack production`,
            "pulumi preview --stack production --diff",
            "pulumi up --stack production --yes",
        ]);
        assert.deepStrictEqual(asked, ["Deploy these changes to production (production)? Type yes to deploy: "]);
        assert.ok(output.some((l) => l.includes("Pulumi.production.yaml changed: commit it through a pull request")), output.join("\n"));
    });

    it("any answer but yes deploys nothing and puts the config back", () => {
        assert.throws(() => run("y", "scale", "5", "--stack", "staging"), /not deployed: staging was not confirmed \(config restored: apiMinReplicas\)/);
        assert.deepStrictEqual(changes(), ["pulumi config set apiMinReplicas 5 --stack staging", "pulumi preview --stack staging --diff", "pulumi config set apiMinReplicas 3 --stack staging"]);
        assert.strictEqual(standins.state().stacks.staging.config.apiMinReplicas, "3");
    });

    it("without a terminal and without --yes, stops before changing anything, and CI=true is no --yes", () => {
        for (const argv of [["image", "--tag", "1.1.0"], ["scale", "5"], ["rollback"]]) {
            for (const stack of ["staging", "production"]) {
                assert.throws(
                    () => run(null, ...argv, "--stack", stack),
                    new RegExp(`^UsageError: ${argv[0]} on stack ${stack} \\(${stack}\\) deploys only after you see its preview and confirm it, and there is no terminal to ask on\\. .*add --yes .*Nothing was changed$`),
                );
            }
        }
        assert.deepStrictEqual(changes(), []);
    });

    it("an explicit --yes deploys without the preview or a question, terminal or not", () => {
        run(null, "rollback", "--stack", "staging", "--yes");
        assert.deepStrictEqual(changes(), ["pulumi config set apiImageTag 0.9.0 --stack staging", "pulumi up --stack staging --yes"]);
    });

    it("deploy, up, down and stop refuse staging and production: they are for a laptop's stack", () => {
        for (const command of ["deploy", "up", "down", "stop"]) {
            assert.throws(() => run("yes", command, "--stack", "production", "--yes"), new RegExp(`^UsageError: ${command} is for local stacks only, and stack production is production\\. .*Nothing was changed$`));
        }
        assert.deepStrictEqual(standins.calls(), []);
    });
});

describe("previousImage", () => {
    const entry = (result: string, tag: string, digest = "") => ({
        kind: "update",
        result,
        config: { "p:apiImageRepository": { value: "r" }, "p:apiImageTag": { value: tag }, ...(digest ? { "p:apiImageDigest": { value: digest } } : {}) },
    });
    it("skips failed updates and updates with the current image", () => {
        const history = [entry("succeeded", "2"), entry("failed", "x"), entry("succeeded", "2"), entry("succeeded", "1")];
        assert.deepStrictEqual(previousImage(history, "p", { repository: "r", tag: "2", digest: "" }), { repository: "r", tag: "1", digest: "" });
    });
    it("has nothing to offer when every update ran the current image", () => {
        assert.strictEqual(previousImage([entry("succeeded", "2")], "p", { repository: "r", tag: "2", digest: "" }), undefined);
    });
});
