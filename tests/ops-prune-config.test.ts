import * as assert from "assert";
import { mkdtempSync, rmSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { main } from "../cli/ops/cli";
import { configMapsNamedBy, Generation, generationsToDelete } from "../cli/ops/configGenerations";
import { UsageError } from "../cli/ops/exec";
import { runStack } from "../harness/mockProgram";
import { stackConfig } from "../harness/stackConfig";
import { names } from "../lib/names";
import { createStandins, freshMachine, RecordedCall, Standins } from "./support/standins";

/** A generation name of `base`, made of one repeated hex digit. */
const generation = (base: string, digit: string) => `${base}-${digit.repeat(10)}`;
const config = (digit: string) => generation(names.redis.configMap, digit);
const scripts = (digit: string) => generation(names.redis.jobScriptsConfigMap, digit);
const at = (minute: number) => `2026-12-0${1 + Math.floor(minute / 60)}T00:${String(minute % 60).padStart(2, "0")}:00Z`;

describe("prune-config: the Redis ConfigMap generations a change leaves behind", function () {
    this.timeout(120000);

    describe("which generations go", () => {
        it("keeps the two newest of each kind and any in use; deletes the older ones", () => {
            const generations: Generation[] = [
                { name: config("a"), created: at(1) },
                { name: config("b"), created: at(2) },
                { name: config("c"), created: at(3) },
                { name: config("d"), created: at(4) },
                { name: scripts("a"), created: at(1) },
                { name: scripts("b"), created: at(2) },
                { name: scripts("c"), created: at(3) },
            ];
            // config-b is the revision a pod still runs (a roll in progress, or a stuck pod).
            const doomed = generationsToDelete(generations, new Set([config("b")]));
            assert.deepStrictEqual(
                doomed.map((g) => g.name),
                [config("a"), scripts("a")],
            );
        });

        it("never touches a ConfigMap that is not a generation of the Redis bases", () => {
            const others: Generation[] = [
                { name: "redis-cluster-config", created: at(1) },
                { name: `${names.redis.configMap}-${"a".repeat(9)}`, created: at(1) },
                { name: `${names.redis.configMap}-${"g".repeat(10)}`, created: at(1) },
                { name: generation(names.api.configMap, "a"), created: at(1) },
                { name: generation(names.api.configMap, "b"), created: at(2) },
                { name: generation(names.api.configMap, "c"), created: at(3) },
            ];
            assert.deepStrictEqual(generationsToDelete(others, new Set()), []);
        });

        it("orders generations created in the same second by name, so two runs decide alike", () => {
            const same = ["c", "a", "b"].map((d) => ({ name: config(d), created: at(5) }));
            assert.deepStrictEqual(generationsToDelete(same, new Set()).map((g) => g.name), [config("c")]);
            assert.deepStrictEqual(generationsToDelete([...same].reverse(), new Set()).map((g) => g.name), [config("c")]);
        });

        it("finds the names the program's own StatefulSet and CronJob mount", async () => {
            const run = await runStack(stackConfig("production"), "production");
            const podConfig = run.get("kubernetes:core/v1:ConfigMap", names.redis.configMap).inputs.metadata.name;
            const jobScripts = run.get("kubernetes:core/v1:ConfigMap", names.redis.jobScriptsConfigMap).inputs.metadata.name;
            const statefulSet = run.get("kubernetes:apps/v1:StatefulSet", names.redis.statefulSet).inputs;
            const cronJob = run.get("kubernetes:batch/v1:CronJob", names.redis.reconcileCronJob).inputs;
            assert.ok(configMapsNamedBy(statefulSet.spec).has(podConfig), `the StatefulSet mounts ${podConfig}`);
            assert.ok(configMapsNamedBy(cronJob.spec).has(jobScripts), `the CronJob mounts ${jobScripts}`);
            assert.deepStrictEqual(
                [...configMapsNamedBy({ containers: [{ envFrom: [{ configMapRef: { name: "x" } }], env: [{ valueFrom: { configMapKeyRef: { name: "y", key: "k" } } }] }], volumes: [{ projected: { sources: [{ configMap: { name: "z" } }] } }] })].sort(),
                ["x", "y", "z"],
            );
        });
    });

    describe("the command (stand-in kubectl)", () => {
        let standins: Standins;
        let root: string;
        let output: string[];
        const list = (items: unknown[]) => JSON.stringify({ apiVersion: "v1", kind: "List", items });
        const configMaps = list(
            [config("a"), config("b"), config("c"), scripts("a"), scripts("b")].map((name, i) => ({ metadata: { name, creationTimestamp: at(i % 3) } })),
        );
        // The StatefulSet still names config-a (say, a rollback the user made with kubectl): it stays.
        const users = list([{ kind: "StatefulSet", spec: { template: { spec: { volumes: [{ name: "config", configMap: { name: config("a") } }] } } } }]);
        /** A machine whose kubectl lists `configMaps` and answers the users' listing with `usersReply`. */
        const machine = (usersReply: { stdout?: string; stderr?: string; status?: number }) =>
            createStandins({
                ...freshMachine(),
                kubeContexts: ["kind-healthcare", "healthcare-production"],
                kubectlReplies: [
                    { match: "get configmaps -l app.kubernetes.io/name=redis-cluster -o json", stdout: configMaps },
                    { match: "get pods,statefulsets,jobs,cronjobs -o json", ...usersReply },
                ],
            });
        const run = (ask: string | null, ...argv: string[]) => main(argv, { env: { PATH: standins.bin }, say: (l) => output.push(l), root, ask: ask === null ? null : () => ask });
        const deletes = () => standins.calls().filter((c: RecordedCall) => c.args.includes("delete")).map((c) => c.args.join(" "));

        beforeEach(() => {
            root = mkdtempSync(path.join(tmpdir(), "ops-prune-"));
            output = [];
            standins = machine({ stdout: users });
        });
        afterEach(() => {
            standins.remove();
            rmSync(root, { recursive: true, force: true });
        });

        it("local: keeps a generation a StatefulSet still names, even beyond the two newest", () => {
            run(null, "prune-config");
            // config: c and b are the newest (created at minutes 2 and 1), a is in use; scripts: two only.
            assert.deepStrictEqual(deletes(), []);
            assert.match(output.join("\n"), /nothing to prune: 5 Redis ConfigMap generation\(s\)/);
        });

        it("production: lists them, then deletes only after a typed yes", () => {
            standins.remove();
            standins = machine({ stdout: list([]) });
            assert.throws(() => run(null, "prune-config", "--stack", "production"), (e: unknown) => e instanceof UsageError && /no terminal to ask on.*Nothing was deleted/s.test(e.message));
            assert.throws(() => run("no", "prune-config", "--stack", "production"), /not pruned: production was not confirmed; nothing was deleted/);
            assert.deepStrictEqual(deletes(), []);
            assert.match(output.join("\n"), new RegExp(`${config("a")} \\(created ${at(0)}\\)`));
            run("yes", "prune-config", "--stack", "production");
            assert.deepStrictEqual(deletes(), [`--context healthcare-production --namespace healthcare-backend delete configmap --ignore-not-found ${config("a")}`]);
            run(null, "prune-config", "--stack", "production", "--yes");
            assert.strictEqual(deletes().length, 2, "--yes deletes without asking");
        });

        it("a kubectl failure stops it before anything is deleted", () => {
            standins.remove();
            standins = machine({ stderr: "Error from server (Forbidden): pods is forbidden", status: 1 });
            assert.throws(() => run(null, "prune-config"), /kubectl get pods,statefulsets,jobs,cronjobs -o json failed: Error from server \(Forbidden\)/);
            assert.deepStrictEqual(deletes(), []);
        });
    });
});
