import * as assert from "assert";
import { mkdtempSync, rmSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { main } from "../cli/ops/cli";
import { previousImage } from "../cli/ops/commands";
import { addonUrns, stackSettings } from "../cli/ops/workspace";
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

    it("scale sets the HPA's floor within its range and deploys", () => {
        run("scale", "3");
        const changes = standins.calls().map(line).filter((l) => l.startsWith("pulumi config set") || l.startsWith("pulumi up"));
        assert.deepStrictEqual(changes, ["pulumi config set apiMinReplicas 3 --stack local", "pulumi up --stack local --yes"]);
    });

    it("scale refuses a count outside the HPA range and changes nothing", () => {
        assert.throws(() => run("scale", "4"), /scale 4: expected a whole number from 1 to 3 \(apiMaxReplicas of stack local/);
        assert.throws(() => run("scale", "0"), /expected a whole number from 1 to 3/);
        assert.deepStrictEqual(standins.calls(), []);
    });

    it("image changes the config (dropping a stale digest) and deploys; a bad digest is refused first", () => {
        assert.throws(() => run("image", "--digest", "sha256:nothex"), /apiImageDigest = "sha256:nothex" is invalid/);
        assert.deepStrictEqual(standins.calls(), []);
        run("image", "--tag", "1.2.3");
        const sequence = standins.calls().map(line);
        assert.ok(sequence.includes("pulumi config set apiImageTag 1.2.3 --stack local"));
        assert.ok(sequence.includes("pulumi up --stack local --yes"));
        assert.ok(!sequence.some((l) => l.startsWith("kubectl")), "no kubectl set image");
    });

    it("rollback returns to the newest succeeded update with another image", () => {
        // Pulumi.local.yaml runs tag dev (the newest update); the failed one is skipped.
        run("rollback");
        const sequence = standins.calls().map(line);
        assert.ok(sequence.includes("pulumi stack history --json --stack local"));
        assert.ok(sequence.includes("pulumi config set apiImageTag src-000000000000 --stack local"), sequence.join("\n"));
        assert.ok(sequence.includes("pulumi up --stack local --yes"));
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
