import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { parse } from "yaml";
import { addonCharts } from "../components/clusterAddons";
import { main } from "../cli/ops/cli";
import { UsageError } from "../cli/ops/exec";
import { kindConfigFile } from "../cli/ops/local";
import { localConfigFile, stackConfigDir, standinImageTag } from "../cli/ops/workspace";
import { runStack } from "../harness/mockProgram";
import { projectRoot, readStackFile, shippedStacks, stackConfig } from "../harness/stackConfig";
import { createStandins, freshMachine, RecordedCall, Standins } from "./support/standins";

/**
 * A project folder for one test: the real app/ and cli/ops/kind-config.yaml, copies of Pulumi.yaml,
 * the stack files and .gitignore committed to a git repository of its own, and its own .pulumi-state/.
 */
function projectCopy(): string {
    const root = mkdtempSync(path.join(tmpdir(), "ops-project-"));
    symlinkSync(path.join(projectRoot, "app"), path.join(root, "app"));
    mkdirSync(path.join(root, "cli", "ops"), { recursive: true });
    symlinkSync(path.join(projectRoot, kindConfigFile), path.join(root, kindConfigFile));
    for (const file of [".gitignore", "Pulumi.yaml", ...shippedStacks.map((s) => `Pulumi.${s}.yaml`)]) {
        copyFileSync(path.join(projectRoot, file), path.join(root, file));
    }
    const git = (...args: string[]) => execFileSync("git", ["-c", "user.name=test", "-c", "user.email=test@example.com", ...args], { cwd: root, encoding: "utf8" });
    git("init", "--quiet");
    git("add", "--all");
    git("commit", "--quiet", "--message", "the project as shipped");
    return root;
}

/** `git status --porcelain` of a project copy: tracked files changed, and untracked files git does not ignore. */
const gitStatus = (root: string) => execFileSync("git", ["status", "--porcelain"], { cwd: root, encoding: "utf8" });

const line = (c: RecordedCall) => [c.tool, ...c.args].join(" ");

describe("the local command (npm run local) with stand-in docker, kind, pulumi and kubectl", () => {
    let standins: Standins;
    let root: string;
    let output: string[];
    const tag = standinImageTag(projectRoot);
    const run = (...argv: string[]) => main(argv, { env: { PATH: standins.bin }, say: (l) => output.push(l), root });

    beforeEach(() => {
        root = projectCopy();
        output = [];
    });
    afterEach(() => {
        standins?.remove();
        rmSync(root, { recursive: true, force: true });
    });

    it("on a fresh machine: creates the cluster, a file backend, the stack, builds, loads, installs add-ons first, deploys", () => {
        standins = createStandins(freshMachine());
        run("up");
        const calls = standins.calls();
        const image = `healthcare-api-local:${tag}`;
        const releaseTargets = (c: RecordedCall) => c.args.filter((_, i) => c.args[i - 1] === "--target");
        const sequence = calls.map(line);

        assert.ok(sequence.includes(`kind create cluster --name healthcare --config ${path.join(root, kindConfigFile)} --wait 120s`), sequence.join("\n"));
        // Created from the config folder: the passphrase's salt lands there, not in Pulumi.local.yaml.
        assert.ok(sequence.includes(`pulumi stack init local --non-interactive --secrets-provider passphrase --cwd ${stackConfigDir(root)}`), sequence.join("\n"));
        assert.ok(sequence.includes(`docker build --tag ${image} ${path.join(root, "app")}`));
        assert.ok(sequence.includes(`kind load docker-image ${image} --name healthcare`));
        // The stand-in's tag goes into the config file the CLI reads, never through `pulumi config set`.
        assert.ok(!sequence.some((l) => l.startsWith("pulumi config")), sequence.join("\n"));
        const configFile = localConfigFile(root, "local");
        const config = parse(readFileSync(configFile, "utf8"));
        assert.strictEqual(config.config["healthcare-backend:apiImageTag"], tag);
        assert.strictEqual(config.encryptionsalt, "v1:standin-salt");
        assert.deepStrictEqual({ ...config.config, "healthcare-backend:apiImageTag": "dev" }, readStackFile("local"), "otherwise the tracked file's config");

        // Two passes: the add-on releases alone, then everything.
        const ups = calls.filter((c) => c.tool === "pulumi" && c.args[0] === "up");
        assert.strictEqual(ups.length, 2);
        assert.deepStrictEqual(
            releaseTargets(ups[0]).map((u) => u.slice(u.lastIndexOf("::") + 2)),
            ["cluster-addons", "envoy-gateway", "cert-manager", "metrics-server", "vpa", "kube-prometheus-stack", "prometheus-adapter"],
        );
        assert.deepStrictEqual(ups[1].args, ["up", "--stack", "local", "--yes", "--config-file", configFile]);
        assert.ok(ups.every((u) => u.args.includes("--config-file")));

        // Order: cluster before build, build before load, load before deploy.
        const at = (text: string) => sequence.findIndex((l) => l.startsWith(text));
        assert.ok(at("kind create") < at("docker build") && at("docker build") < at("kind load") && at("kind load") < at("pulumi up"));

        // Every Pulumi call after the backend choice uses the project's file backend and the local passphrase.
        const afterWhoami = calls.slice(calls.findIndex((c) => c.tool === "pulumi" && c.args[0] === "whoami") + 1).filter((c) => c.tool === "pulumi");
        assert.ok(afterWhoami.length >= 5, afterWhoami.map(line).join("\n"));
        for (const call of afterWhoami) {
            assert.strictEqual(call.backendUrl, `file://${path.join(root, ".pulumi-state")}`, line(call));
            assert.strictEqual(call.passphrase, "local", line(call));
        }
        assert.ok(output.some((l) => l.includes("http://localhost:8088")), output.join("\n"));
    });

    it("leaves every tracked file as it was: the salt, the stand-in's tag and later changes live in the gitignored .pulumi-state/", () => {
        standins = createStandins(freshMachine());
        run("up");
        run("up");
        run("scale", "2");
        run("image", "--tag", "1.2.3");
        run("stop");
        run("down");
        // The stand-in pulumi writes where the real one would (a salt on stack init and on a file backend's up, config set into the stack file).
        assert.strictEqual(gitStatus(root), "");
        const config = parse(readFileSync(localConfigFile(root, "local"), "utf8"));
        assert.strictEqual(config.encryptionsalt, "v1:standin-salt");
        assert.strictEqual(config.config["healthcare-backend:apiMinReplicas"], "2");
        assert.strictEqual(config.config["healthcare-backend:apiImageTag"], "1.2.3");
    });

    it("takes over a salt an older local command left in Pulumi.local.yaml, so the stack's secrets still decrypt", () => {
        standins = createStandins(freshMachine());
        const tracked = path.join(root, "Pulumi.local.yaml");
        writeFileSync(tracked, `encryptionsalt: v1:older-salt\n${readFileSync(tracked, "utf8")}`);
        run("up");
        assert.strictEqual(parse(readFileSync(localConfigFile(root, "local"), "utf8")).encryptionsalt, "v1:older-salt");
        assert.strictEqual(gitStatus(root), " M Pulumi.local.yaml\n", "only the edit made before the run");
    });

    it("a second run changes nothing: no cluster, stack, config or add-on pass; the same idempotent pulumi up", () => {
        standins = createStandins(freshMachine());
        run("up");
        const firstCount = standins.calls().length;
        run("up");
        const second = standins.calls().slice(firstCount).map(line);
        for (const mutation of ["kind create", "pulumi stack init", "pulumi config set", "pulumi config rm", "--target"]) {
            assert.ok(!second.some((l) => l.includes(mutation)), `second run ran ${mutation}:\n${second.join("\n")}`);
        }
        assert.deepStrictEqual(second.filter((l) => l.startsWith("pulumi up")), [`pulumi up --stack local --yes --config-file ${localConfigFile(root, "local")}`]);
        assert.ok(output.some((l) => l === "kind cluster healthcare: exists"));
        assert.ok(output.some((l) => l === "stack local: selected"));
    });

    it("with a missing tool: names it and how to install it, and runs nothing", () => {
        standins = createStandins(freshMachine(), ["docker", "pulumi", "kubectl"]);
        assert.throws(() => run("up"), (error: Error) => {
            assert.ok(error instanceof UsageError);
            assert.match(error.message, /^missing tool: kind\. Install it and run again:\n {2}- kind: kind 0\.33 or later \(its release publishes the pinned node image\): https:\/\/kind\.sigs\.k8s\.io/);
            return true;
        });
        assert.deepStrictEqual(standins.calls(), []);
    });

    it("names every missing tool at once, from the CLI with exit status 1", () => {
        standins = createStandins(freshMachine(), ["docker"]);
        const cli = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", path.join(projectRoot, "cli/ops/cli.ts"), "up"], {
            env: { PATH: standins.bin },
            cwd: projectRoot,
            encoding: "utf8",
        });
        assert.strictEqual(cli.status, 1);
        assert.match(cli.stderr, /error: missing tools: kind, pulumi, kubectl\./);
        assert.match(cli.stderr, /- pulumi: the Pulumi CLI/);
        assert.deepStrictEqual(standins.calls(), []);
    });

    it("says when Docker is installed but its daemon is down, before it creates anything: no cluster, backend, stack or build", () => {
        standins = createStandins({ ...freshMachine(), dockerDaemon: false });
        assert.throws(() => run("up"), /docker is installed but its daemon does not answer/);
        const calls = standins.calls().map(line);
        // The tools are looked up, then `docker info`: nothing after it.
        assert.deepStrictEqual(
            calls.filter((c) => !c.startsWith("docker info")),
            [],
            "no kind, pulumi or kubectl call and no docker build",
        );
        assert.ok(!existsSync(path.join(root, ".pulumi-state")), "no file backend");
    });

    it("checks Docker's daemon first on a fresh machine, before the cluster", () => {
        standins = createStandins(freshMachine());
        run("up");
        const calls = standins.calls().map(line);
        assert.ok(calls[0].startsWith("docker info"), `first call: ${calls[0]}`);
        assert.ok(calls.findIndex((c) => c.startsWith("kind create")) > 0);
    });

    it("uses the backend the user is logged in to, without a passphrase", () => {
        standins = createStandins({ ...freshMachine(), pulumiLoggedIn: true });
        run("up");
        const init = standins.calls().find((c) => c.args[0] === "stack" && c.args[1] === "init")!;
        assert.deepStrictEqual(init.args, ["stack", "init", "local", "--non-interactive", "--cwd", stackConfigDir(root)]);
        assert.strictEqual(init.backendUrl, undefined);
        assert.strictEqual(init.passphrase, undefined);
    });

    it("keeps PULUMI_BACKEND_URL and PULUMI_CONFIG_PASSPHRASE when the user set them", () => {
        standins = createStandins(freshMachine());
        main(["up"], { env: { PATH: standins.bin, PULUMI_BACKEND_URL: "s3://team-state", PULUMI_CONFIG_PASSPHRASE: "team" }, say: () => undefined, root });
        const pulumi = standins.calls().filter((c) => c.tool === "pulumi");
        assert.ok(!pulumi.some((c) => c.args[0] === "whoami"));
        assert.ok(pulumi.every((c) => c.backendUrl === "s3://team-state" && c.passphrase === "team"));
    });

    it("on Docker Desktop: no kind, no image load (same engine), the context must exist", () => {
        standins = createStandins({ ...freshMachine(), kubeContexts: ["docker-desktop"] }, ["docker", "pulumi", "kubectl"]);
        // The documented switch (docs/local-stack.md): pulumi config set kubeContext docker-desktop --stack local.
        main(["up"], { env: { PATH: standins.bin }, say: (l) => output.push(l), root, overrides: { kubeContext: "docker-desktop" } });
        const sequence = standins.calls().map(line);
        assert.ok(!sequence.some((l) => l.startsWith("kind ")));
        assert.ok(sequence.includes("kubectl config get-contexts -o name"));
        assert.ok(sequence.some((l) => l.startsWith("docker build")));
        assert.ok(sequence.includes(`pulumi up --stack local --yes --config-file ${localConfigFile(root, "local")}`), sequence.join("\n"));
    });

    it("down destroys the stack and deletes the kind cluster", () => {
        standins = createStandins(freshMachine());
        run("up");
        run("down");
        const sequence = standins.calls().map(line);
        assert.ok(sequence.includes(`pulumi destroy --stack local --yes --config-file ${localConfigFile(root, "local")}`), sequence.join("\n"));
        assert.ok(sequence.includes("kind delete cluster --name healthcare"));
        assert.deepStrictEqual(standins.state().kindClusters, []);
    });
});

describe("local stack files", () => {
    it("kind-config.yaml creates the cluster Pulumi.local.yaml targets and maps host ports 8088 and 8443 to the local Gateway's node ports", () => {
        const kind = parse(readFileSync(path.join(projectRoot, kindConfigFile), "utf8"));
        assert.strictEqual(`kind-${kind.name}`, readStackFile("local")["healthcare-backend:kubeContext"]);
        // The node runs a supported Kubernetes (1.35 or later), pinned by digest.
        const image = /^kindest\/node:v1\.(\d+)\.\d+@sha256:[0-9a-f]{64}$/.exec(kind.nodes[0].image);
        assert.ok(image && Number(image[1]) >= 35, `kind node image ${kind.nodes[0].image}`);
        const mappings = kind.nodes[0].extraPortMappings;
        assert.deepStrictEqual(
            mappings.map((m: any) => [m.hostPort, m.containerPort]),
            [
                [8088, 30088],
                [8443, 30443],
            ],
        );
        const { localGatewayPorts } = require("../components/clusterAddons") as typeof import("../components/clusterAddons");
        assert.deepStrictEqual(
            mappings.map((m: any) => [m.hostPort, m.containerPort]),
            [localGatewayPorts.http, localGatewayPorts.https].map((p) => [p.port, p.nodePort]),
            "the host port is the Gateway's listener port, so http://localhost:8088 is the same on kind and on Docker Desktop",
        );
    });

    it("the stand-in image runs as the uid the Deployment expects, with node as PID 1", () => {
        const dockerfile = readFileSync(path.join(projectRoot, "app", "Dockerfile"), "utf8");
        const { apiUid } = require("../components/api") as typeof import("../components/api");
        assert.match(dockerfile, new RegExp(`^USER ${apiUid}:${apiUid}$`, "m"));
        assert.match(dockerfile, /^CMD \["node", "dist\/src\/main.js"\]$/m);
    });

    it("the add-on URNs the local command targets are the URNs the program registers", async () => {
        const { addonUrns, stackSettings } = require("../cli/ops/workspace") as typeof import("../cli/ops/workspace");
        // The shipped local stack (statefulset engine), and the production engine on a laptop as
        // Pulumi.local.yaml describes it (the operator and its Barman Cloud plugin as add-ons too).
        const cloudNativePg = { postgresEngine: "cloudnative-pg", postgresInstances: 1, postgresPoolerInstances: 1, installCloudNativePg: true, vpaPostgresMode: "Off" };
        const operatorCharts: string[] = [addonCharts.cloudNativePg.release, addonCharts.barmanCloudPlugin.release];
        for (const [overrides, charts] of [
            [{}, Object.values(addonCharts).filter((c) => !operatorCharts.includes(c.release))],
            [cloudNativePg, Object.values(addonCharts)],
        ] as const) {
            const run = await runStack(stackConfig("local", overrides), "local");
            const registered = new Set(run.resources.map((r) => r.urn));
            const urns = addonUrns({ project: "healthcare-backend", stack: "local", settings: stackSettings("local", overrides) });
            assert.strictEqual(urns.gatewayObjects.length, 2);
            for (const urn of [urns.component, ...urns.releases, urns.issuer!, ...urns.gatewayObjects]) {
                assert.ok(registered.has(urn), `${urn} is registered; registered add-ons: ${[...registered].filter((u) => u?.includes("ClusterAddons")).join(", ")}`);
            }
            assert.deepStrictEqual(
                urns.releases.map((u) => u.slice(u.lastIndexOf("::") + 2)).sort(),
                charts.map((c) => c.resourceName).sort(),
                JSON.stringify(overrides),
            );
        }
    });
});
