/**
 * The check against the stack's last deployment (components/dataChangeGuard.ts): the rules, and the
 * program on Pulumi's mocks with the last deployment's outputs as the engine serves them to the
 * stack's own read. The real engine reads them the same way (tests/e2e: production refuses a downgrade).
 */
import * as assert from "assert";
import { DataChangeError, dataChangeProblems, DataFacts, lastOutputReads } from "../components/dataChangeGuard";
import { runProgram, runStack } from "../harness/mockProgram";
import { stackConfig } from "../harness/stackConfig";

const statefulSet17: DataFacts = { postgresEngine: "statefulset", postgresMajorVersion: 17, postgresBackupVolume: false };
const cnpg17: DataFacts = { postgresEngine: "cloudnative-pg", postgresMajorVersion: 17, postgresBackupVolume: false };
/** Production as this version deploys it: Redis over TLS with ACL users, six nodes. */
const production17: DataFacts = { ...cnpg17, postgresCluster: "postgres", postgresClusters: ["postgres"], redisTransport: "tls-acl", redisNodes: 6 };
const open = { protectData: false, releaseBackupVolume: false };
const guarded = { protectData: true, releaseBackupVolume: false };

describe("data change guard: what the stack's last deployment holds", () => {
    describe("the rules", () => {
        it("lets a new stack, and a change that keeps engine and major version, go on", () => {
            assert.deepStrictEqual(dataChangeProblems(undefined, cnpg17, guarded), []);
            assert.deepStrictEqual(dataChangeProblems(statefulSet17, statefulSet17, guarded), []);
            assert.deepStrictEqual(dataChangeProblems(cnpg17, { ...cnpg17, postgresMajorVersion: 18 }, guarded), [], "CloudNativePG upgrades a major in place");
        });

        it("refuses a major-version change on the statefulset engine, naming the upgrade path", () => {
            const [problem, ...rest] = dataChangeProblems(statefulSet17, { ...statefulSet17, postgresMajorVersion: 18 }, open);
            assert.deepStrictEqual(rest, []);
            assert.match(problem, /postgresVersion is PostgreSQL 18, a major-version change from 17 on the statefulset engine/);
            assert.match(problem, /docs\/postgres\.md#major-version-upgrades/);
            assert.match(problem, /set postgresUpgradeFromMajor: 17/);
            // The runbook says the data is carried over, to the new major and back.
            assert.deepStrictEqual(dataChangeProblems(statefulSet17, { ...statefulSet17, postgresMajorVersion: 18 }, { ...open, upgradeFromMajor: 17 }), []);
            assert.deepStrictEqual(dataChangeProblems({ ...statefulSet17, postgresMajorVersion: 18 }, statefulSet17, { ...open, upgradeFromMajor: 17 }), []);
            assert.equal(dataChangeProblems(statefulSet17, { ...statefulSet17, postgresMajorVersion: 18 }, { ...open, upgradeFromMajor: 16 }).length, 1, "from another major: refused");
        });

        it("refuses what CloudNativePG cannot do: a downgrade, an upgrade to a major below 16", () => {
            assert.match(dataChangeProblems(cnpg17, { ...cnpg17, postgresMajorVersion: 16 }, guarded).join(), /a downgrade from 17/);
            assert.match(dataChangeProblems({ ...cnpg17, postgresMajorVersion: 14 }, { ...cnpg17, postgresMajorVersion: 15 }, guarded).join(), /16 or later only/);
        });

        it("refuses an engine switch either way: the new engine would start empty", () => {
            assert.match(dataChangeProblems(statefulSet17, cnpg17, open).join(), /postgresEngine = "cloudnative-pg", but this stack's database is on the statefulset engine/);
            assert.match(dataChangeProblems(cnpg17, statefulSet17, open).join(), /postgresEngine = "statefulset", but this stack's database is on the cloudnative-pg engine/);
        });

        it("refuses a change of how the Redis nodes talk (TLS, ACL users) outside its maintenance window, and a node-count change inside it", () => {
            const tls = { ...cnpg17, redisTransport: "tls-acl" as const, redisNodes: 6 };
            const plain = { ...tls, redisTransport: "plain-acl" as const };
            assert.deepStrictEqual(dataChangeProblems(tls, tls, guarded), []);
            assert.match(dataChangeProblems(tls, plain, guarded).join(), /talks TLS with ACL users, this deployment plain text with ACL users \(redisTls = false\): a rolling restart would split the cluster/);
            assert.match(dataChangeProblems(plain, tls, guarded).join(), /set redisTransportSwitch: true for that deployment.*docs\/redis\.md#switching-a-running-cluster/);
            // A deployment recorded before the facts had Redis: one password over plain text.
            assert.match(dataChangeProblems(cnpg17, tls, guarded).join(), /plain text with one password \(before ACL users\)/);
            assert.deepStrictEqual(dataChangeProblems(cnpg17, tls, { ...guarded, redisTransportSwitch: true }), []);
            assert.deepStrictEqual(dataChangeProblems(plain, tls, { ...guarded, redisTransportSwitch: true }), []);
            assert.match(dataChangeProblems(plain, { ...tls, redisNodes: 8 }, { ...guarded, redisTransportSwitch: true }).join(), /redisNodes = 8, but the deployed Redis Cluster has 6 nodes and redisTransportSwitch is on/);
        });

        it("refuses to drop a protected backup volume unless released, and says how", () => {
            const withVolume = { ...statefulSet17, postgresBackupVolume: true };
            const [problem] = dataChangeProblems(withVolume, statefulSet17, guarded);
            assert.match(problem, /the backup volume postgres-backups .* is protected/);
            assert.match(problem, /pulumi state unprotect/);
            assert.match(problem, /postgresBackupVolumeRelease: true/);
            assert.deepStrictEqual(dataChangeProblems(withVolume, statefulSet17, { protectData: true, releaseBackupVolume: true }), []);
            assert.deepStrictEqual(dataChangeProblems(withVolume, statefulSet17, open), [], "unprotected data goes as the config says");
        });
    });

    describe("the program", function () {
        this.timeout(120_000);

        it("records what its data is in as the stack output dataFacts", async () => {
            const local = await runStack(stackConfig("local"), "local");
            assert.deepStrictEqual(local.outputs.dataFacts, { postgresEngine: "statefulset", postgresMajorVersion: 17, postgresBackupVolume: false, redisTransport: "tls-acl", redisNodes: 1 });
            const production = await runStack(stackConfig("production"), "production");
            assert.deepStrictEqual(production.outputs.dataFacts, production17);
        });

        it("reads its own last outputs and, on a refused change, registers no Kubernetes object", async () => {
            const config = stackConfig("production", { postgresVersion: "16.10" });
            const outcome = await runProgram(config, "production", undefined, { lastOutputs: { dataFacts: production17 } });
            // The program's own copy of the class (each run loads the program afresh): compared by name.
            assert.strictEqual(outcome.error?.name, new DataChangeError("x", ["y"]).name, `expected a DataChangeError, got ${outcome.error}`);
            assert.match(outcome.error!.message, /Stack "production" refuses a change to its data; nothing was deployed:\n {2}- postgresVersion is PostgreSQL 16, a downgrade from 17/);
            assert.deepStrictEqual(outcome.stackOutputReads, ["organization/healthcare-backend/production"], "the stack reads itself, once");
            const kubernetes = outcome.resources.filter((r) => r.type.startsWith("kubernetes:") && r.type !== "pulumi:providers:kubernetes");
            assert.deepStrictEqual(kubernetes.map((r) => `${r.type} ${r.name}`), []);
        });

        it("tries the read of its last outputs again when it fails (the file backend while the engine rewrites the checkpoint), and still refuses", async () => {
            const config = stackConfig("production", { postgresVersion: "16.10" });
            const outcome = await runProgram(config, "production", undefined, { lastOutputs: { dataFacts: production17 }, failingOutputReads: 2 });
            assert.strictEqual(outcome.stackOutputReads.length, 3, "two failed tries, then the read");
            assert.strictEqual(outcome.error?.name, "DataChangeError", `expected a DataChangeError, got ${outcome.error}`);
            assert.match(outcome.error!.message, /- postgresVersion is PostgreSQL 16, a downgrade from 17/);
        });

        it("gives up after its tries with an error naming the stack and the failure, and registers no Kubernetes object", async () => {
            const outcome = await runProgram(stackConfig("production"), "production", undefined, { lastOutputs: { dataFacts: production17 }, failingOutputReads: lastOutputReads.attempts });
            assert.strictEqual(outcome.stackOutputReads.length, lastOutputReads.attempts);
            assert.match(
                outcome.error?.message ?? "",
                /^Stack "organization\/healthcare-backend\/production": its last deployment's outputs could not be read \(5 tries: invocation of pulumi:pulumi:readStackOutputs returned an error: failed to load checkpoint: EOF\); nothing was deployed/,
            );
            const kubernetes = outcome.resources.filter((r) => r.type.startsWith("kubernetes:") && r.type !== "pulumi:providers:kubernetes");
            assert.deepStrictEqual(kubernetes.map((r) => `${r.type} ${r.name}`), []);
        });

        it("runs beside the cluster check: a run both refuse names the data change and the missing API in one error, and registers no Kubernetes object", async () => {
            const config = stackConfig("production", { postgresVersion: "16.10" });
            const outcome = await runProgram(config, "production", undefined, { lastOutputs: { dataFacts: production17 }, cluster: { unserved: ["autoscaling.k8s.io/v1/VerticalPodAutoscaler"] } });
            assert.strictEqual(outcome.error?.name, "DataChangeError", `expected a DataChangeError, got ${outcome.error}`);
            assert.match(outcome.error!.message, /- postgresVersion is PostgreSQL 16, a downgrade from 17/);
            assert.match(outcome.error!.message, /\nThe cluster \(kube context "healthcare-production"\) lacks what this stack needs; nothing was created:\n {2}- CRD verticalpodautoscalers\.autoscaling\.k8s\.io, needed by vpaEnabled: not served/);
            const created = outcome.resources.filter((r) => r.custom && !r.read && r.type.startsWith("kubernetes:"));
            assert.deepStrictEqual(created.map((r) => `${r.type} ${r.name}`), []);
        });

        it("deploys as before when the last deployment holds the same engine and major", async () => {
            const run = await runStack(stackConfig("production"), "production", undefined, { lastOutputs: { dataFacts: production17 } });
            assert.ok(run.ofType("kubernetes:postgresql.cnpg.io/v1:Cluster").length === 1);
        });

        it("refuses this version over a Redis Cluster deployed before ACL users, unless the deployment is the switch's window; that window restarts no node on its own and runs no scale-in", async () => {
            const before = { ...production17, redisTransport: undefined, redisNodes: undefined };
            const refused = await runProgram(stackConfig("production"), "production", undefined, { lastOutputs: { dataFacts: before } });
            assert.strictEqual(refused.error?.name, "DataChangeError", `expected a DataChangeError, got ${refused.error}`);
            assert.match(refused.error!.message, /the deployed Redis Cluster talks plain text with one password \(before ACL users\), this deployment TLS with ACL users \(redisTls = true\)/);
            assert.deepStrictEqual(refused.resources.filter((r) => r.type.startsWith("kubernetes:")).map((r) => r.name), []);

            const window = await runStack(stackConfig("production", { redisTransportSwitch: true }), "production", undefined, { lastOutputs: { dataFacts: before } });
            const statefulSet = window.get("kubernetes:apps/v1:StatefulSet", "redis-cluster");
            assert.deepStrictEqual(statefulSet.inputs.spec.updateStrategy, { type: "OnDelete" });
            assert.deepStrictEqual(window.ofType("kubernetes:batch/v1:Job").map((j) => j.name), ["redis-cluster-reconcile"], "the reconcile Job only: it waits for the restarted nodes");

            const normal = await runStack(stackConfig("production"), "production", undefined, { lastOutputs: { dataFacts: production17 } });
            assert.deepStrictEqual(normal.get("kubernetes:apps/v1:StatefulSet", "redis-cluster").inputs.spec.updateStrategy, { type: "RollingUpdate" });
            assert.deepStrictEqual(normal.ofType("kubernetes:batch/v1:Job").map((j) => j.name).sort(), ["redis-cluster-reconcile", "redis-cluster-scale-in"]);
        });
    });
});
