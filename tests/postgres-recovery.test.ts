/**
 * Point-in-time recovery on the cloudnative-pg engine, the program's side (Pulumi's mocks): the
 * settings a recovery takes and their refusals, the Clusters each step renders, where the API, the
 * pooler, the scheduled backups and the CA point, and what the DataChangeGuard lets through from one
 * step to the next. The ops verb that drives the steps: ops-recovery.test.ts; the real engine: the e2e.
 */
import * as assert from "assert";
import { DataChangeError, dataChangeProblems, DataFacts } from "../components/dataChangeGuard";
import { parseSettings, SettingsError } from "../config";
import { runProgram, runStack } from "../harness/mockProgram";
import { stackConfig } from "../harness/stackConfig";
import { CLUSTER } from "./support/resourceTypes";

const recovered = "postgres-pitr-20250102t010000z";
const to = "2025-01-02T01:00:00Z";
const recovering = { postgresRecoveryCluster: recovered, postgresRecoverySource: "postgres", postgresRecoveryTargetTime: to };
const switched = { ...recovering, postgresCluster: recovered };
const released = { postgresCluster: recovered, postgresRelease: "postgres" };

/** The facts of each step as the program records them. */
const facts = (clusters: string[], serving: string, recovery?: { cluster: string; targetTime: string }): DataFacts => ({
    postgresEngine: "cloudnative-pg",
    postgresMajorVersion: 17,
    postgresBackupVolume: false,
    postgresCluster: serving,
    postgresClusters: clusters,
    ...(recovery ? { postgresRecovery: recovery } : {}),
    // Staging's Redis (6 nodes over TLS): the same in every step.
    redisTransport: "tls-acl",
    redisNodes: 6,
});
const before = facts(["postgres"], "postgres");
const during = facts(["postgres", recovered], "postgres", { cluster: recovered, targetTime: to });
const after = facts(["postgres", recovered], recovered, { cluster: recovered, targetTime: to });
const done = facts([recovered], recovered);
const guarded = { protectData: true, releaseBackupVolume: false };

function settingsProblems(stack: string, overrides: Record<string, unknown>): string[] {
    const config = stackConfig(stack, overrides);
    try {
        parseSettings({
            project: "healthcare-backend",
            stack,
            get: (k) => config[`healthcare-backend:${k}`],
            keys: () => Object.keys(config).map((k) => k.replace(/^healthcare-backend:/, "")),
        });
        return [];
    } catch (error) {
        assert.ok(error instanceof SettingsError, String(error));
        return (error as SettingsError).message.split("\n").slice(1);
    }
}

describe("point-in-time recovery (cloudnative-pg), the program's side", function () {
    this.timeout(120000);

    describe("settings", () => {
        it("accepts the three steps on the shipped staging and production stacks", () => {
            for (const stack of ["staging", "production"]) {
                for (const step of [recovering, switched, released]) {
                    assert.deepStrictEqual(settingsProblems(stack, step), [], `${stack} ${JSON.stringify(step)}`);
                }
            }
        });

        it("refuses a partial, malformed or inconsistent recovery in one message naming each setting", () => {
            const problems = settingsProblems("staging", { postgresRecoveryCluster: "Postgres_2", postgresRecoveryTargetTime: "2025-01-02 01:00", postgresCluster: "other" });
            assert.deepStrictEqual(problems, [
                '  - healthcare-backend:postgresRecoverySource = "" is invalid; expected set together with postgresRecoveryCluster and postgresRecoveryTargetTime (npm run ops -- restore --to <time> sets all three)',
                "  - healthcare-backend:postgresRecoveryCluster = \"Postgres_2\" is invalid; expected a Cluster name: lower-case letters, digits and '-', starting with a letter, at most 50 characters, not ending in -pooler",
                '  - healthcare-backend:postgresRecoveryTargetTime = "2025-01-02 01:00" is invalid; expected a moment in RFC 3339 with a zone, e.g. 2026-12-03T10:15:00Z',
            ]);
            assert.deepStrictEqual(settingsProblems("staging", { ...recovering, postgresRecoverySource: recovered }), [
                `  - healthcare-backend:postgresRecoveryCluster = "${recovered}" is invalid; expected a new Cluster name, not the source's (${recovered}): the recovered Cluster archives its own WAL beside the source's`,
                `  - healthcare-backend:postgresCluster = "postgres" is invalid; expected ${recovered} (the recovery's source, until it is switched) or ${recovered} (the recovered Cluster, once switched)`,
            ]);
            assert.deepStrictEqual(settingsProblems("staging", { ...recovering, postgresCluster: "elsewhere" }), [
                `  - healthcare-backend:postgresCluster = "elsewhere" is invalid; expected postgres (the recovery's source, until it is switched) or ${recovered} (the recovered Cluster, once switched)`,
            ]);
        });

        it("refuses a recovery without object storage, on the statefulset engine, and an unknown release", () => {
            assert.match(
                settingsProblems("staging", { ...recovering, postgresBackupSchedule: "", postgresBackupS3Bucket: "", postgresBackupS3Endpoint: "", postgresBackupS3CredentialsSecret: "", postgresBackupS3Egress: "", postgresBackupInClusterOnly: true }).join("\n"),
                /postgresRecoveryCluster = "postgres-pitr-20250102t010000z" is invalid; expected empty on a stack without backups in object storage \(postgresBackupS3Bucket\)/,
            );
            assert.match(settingsProblems("local", recovering).join("\n"), /postgresRecoveryCluster = .* expected empty with postgresEngine statefulset \(point-in-time recovery is cloudnative-pg's/);
            assert.match(settingsProblems("local", { postgresCluster: "db" }).join("\n"), /postgresCluster = "db" is invalid; expected postgres \(the default\) with postgresEngine statefulset/);
            assert.match(settingsProblems("staging", { postgresRelease: "Everything!" }).join("\n"), /postgresRelease = "Everything!" is invalid; expected empty, statefulset \(the migrated StatefulSet\), or the name of a Cluster/);
        });
    });

    describe("what each step renders", () => {
        it("recovering: a second Cluster bootstrapped from the serving one's archive at the moment; everything else stays on postgres", async () => {
            const run = await runStack(stackConfig("staging", recovering), "staging");
            const clusters = run.ofType(CLUSTER);
            assert.deepStrictEqual(clusters.map((c) => c.name).sort(), ["postgres", recovered]);
            const original = run.get(CLUSTER, "postgres");
            const recovery = run.get(CLUSTER, recovered);
            assert.deepStrictEqual(original.inputs.spec.bootstrap, { initdb: { database: "healthcare", owner: "healthcare", secret: { name: "postgres-app-credentials" } } });
            assert.deepStrictEqual(recovery.inputs.spec.bootstrap, {
                recovery: {
                    source: "recovery-source",
                    database: "healthcare",
                    owner: "healthcare",
                    secret: { name: "postgres-app-credentials" },
                    recoveryTarget: { targetTime: to },
                },
            });
            assert.deepStrictEqual(recovery.inputs.spec.externalClusters, [
                { name: "recovery-source", plugin: { name: "barman-cloud.cloudnative-pg.io", parameters: { barmanObjectName: "postgres-backups", serverName: "postgres" } } },
            ]);
            // Its own WAL goes under its own name (the plugin's default serverName): the source's archive stays as it is.
            assert.deepStrictEqual(recovery.inputs.spec.plugins, [{ name: "barman-cloud.cloudnative-pg.io", isWALArchiver: true, parameters: { barmanObjectName: "postgres-backups" } }]);
            const { bootstrap: _a, externalClusters: _b, topologySpreadConstraints: spreadA, certificates: tlsA, ...restRecovered } = recovery.inputs.spec;
            const { bootstrap: _c, topologySpreadConstraints: spreadB, certificates: tlsB, ...restOriginal } = original.inputs.spec;
            assert.deepStrictEqual(restRecovered, restOriginal, "the same instances, storage, resources and archive");
            // Each server certificate names its own Cluster's Pooler, the host the API verifies once it is switched.
            assert.deepStrictEqual(tlsA.serverAltDNSNames[0], `${recovered}-pooler`);
            assert.deepStrictEqual(tlsB.serverAltDNSNames[3], "postgres-pooler.healthcare-backend.svc.cluster.local");
            assert.strictEqual(spreadA[0].labelSelector.matchLabels["cnpg.io/cluster"], recovered);
            assert.strictEqual(spreadB[0].labelSelector.matchLabels["cnpg.io/cluster"], "postgres");
            for (const c of clusters) {
                assert.deepStrictEqual([c.options.protect, c.options.retainOnDelete], [true, true], `${c.name} protected and kept`);
                assert.deepStrictEqual([...c.options.ignoreChanges].sort(), ["spec.bootstrap", "spec.externalClusters"], `${c.name}: the bootstrap matters at creation only`);
            }
            assert.deepStrictEqual(run.ofType("kubernetes:postgresql.cnpg.io/v1:Pooler").map((p) => [p.name, p.inputs.spec.cluster.name]), [["postgres-pooler", "postgres"]], "only the serving Cluster's");
            assert.strictEqual(run.get("kubernetes:postgresql.cnpg.io/v1:ScheduledBackup", "postgres-backup").inputs.spec.cluster.name, "postgres");
            assert.deepStrictEqual(run.outputs.dataFacts, during);
        });

        it("switched: a Pooler and a ScheduledBackup of the recovered Cluster (their cluster is immutable), and the API on that Pooler with its CA; the old Cluster stays", async () => {
            const run = await runStack(stackConfig("staging", switched), "staging");
            assert.deepStrictEqual(run.ofType(CLUSTER).map((c) => c.name).sort(), ["postgres", recovered]);
            assert.deepStrictEqual(run.ofType("kubernetes:postgresql.cnpg.io/v1:Pooler").map((p) => [p.name, p.inputs.metadata.name, p.inputs.spec.cluster.name]), [[`${recovered}-pooler`, `${recovered}-pooler`, recovered]]);
            assert.deepStrictEqual(run.ofType("kubernetes:postgresql.cnpg.io/v1:ScheduledBackup").map((b) => [b.name, b.inputs.spec.cluster.name]), [[`${recovered}-backup`, recovered]]);
            assert.strictEqual(run.outputs.postgresHost, `${recovered}-pooler.healthcare-backend.svc.cluster.local`);
            const api = run.get("kubernetes:apps/v1:Deployment", "healthcare-api");
            const pod = api.inputs.spec.template.spec;
            const caVolumes = (pod.volumes ?? []).filter((v: any) => v.secret?.secretName?.endsWith("-ca"));
            assert.deepStrictEqual(caVolumes.map((v: any) => v.secret.secretName), [`${recovered}-ca`], "the API verifies the recovered Cluster's CA");
            assert.deepStrictEqual(run.outputs.dataFacts, after);
        });

        it("released: only the recovered Cluster, rendered as the stack's Cluster (its bootstrap left to ignoreChanges)", async () => {
            const run = await runStack(stackConfig("staging", released), "staging");
            assert.deepStrictEqual(run.ofType(CLUSTER).map((c) => c.name), [recovered]);
            assert.deepStrictEqual(run.outputs.dataFacts, done);
        });

        it("every Cluster's instances and Job pods are under the database's NetworkPolicies; the Jobs reach the object store only during a recovery", async () => {
            const jobsEgress = (r: Awaited<ReturnType<typeof runStack>>) =>
                r.ofType("kubernetes:networking.k8s.io/v1:NetworkPolicy").filter((p) => p.name.startsWith("allow-postgres-jobs")).flatMap((p) => p.inputs.spec.egress ?? []).flatMap((e: any) => e.to ?? []).filter((t: any) => t.ipBlock).map((t: any) => t.ipBlock.cidr);
            assert.deepStrictEqual(jobsEgress(await runStack(stackConfig("staging"), "staging")).filter((c: string) => c === "198.51.100.0/24"), [], "no object store for the Jobs normally");
            const run = await runStack(stackConfig("staging", recovering), "staging");
            assert.ok(jobsEgress(run).includes("198.51.100.0/24"), "the recovery Job reads the base backup");
            const policies = run.ofType("kubernetes:networking.k8s.io/v1:NetworkPolicy").map((p) => p.inputs.spec.podSelector);
            assert.ok(policies.some((s) => JSON.stringify(s.matchLabels) === JSON.stringify({ "cnpg.io/podRole": "instance" })), "instances of any Cluster");
            assert.ok(
                policies.some((s) => (s.matchExpressions ?? []).map((e: any) => `${e.key} ${e.operator}`).join() === "cnpg.io/cluster Exists,cnpg.io/jobRole Exists"),
                "the operator's Job pods of any Cluster (a recovery runs one: full-recovery)",
            );
        });
    });

    describe("from one step to the next (DataChangeGuard)", () => {
        it("lets the steps through in order", () => {
            assert.deepStrictEqual(dataChangeProblems(before, during, guarded), []);
            assert.deepStrictEqual(dataChangeProblems(during, during, guarded), [], "a re-run of the recovering step");
            assert.deepStrictEqual(dataChangeProblems(during, after, guarded), []);
            assert.deepStrictEqual(dataChangeProblems(after, done, { ...guarded, release: "postgres" }), []);
            assert.deepStrictEqual(dataChangeProblems(during, before, { ...guarded, release: recovered }), [], "cancelled");
            assert.deepStrictEqual(dataChangeProblems({ ...before, postgresCluster: undefined, postgresClusters: undefined }, during, guarded), [], "a deployment recorded before recoveries existed held postgres");
        });

        it("refuses removing a Cluster unreleased, recovering into a Cluster that exists, and switching to one not yet recovered", () => {
            const [gone] = dataChangeProblems(after, done, guarded);
            assert.match(gone, /^the Cluster postgres holds a database and this change would remove it from the stack\. .*npm run ops -- restore --finish .*postgresRelease: postgres/);
            assert.deepStrictEqual(dataChangeProblems(after, done, { ...guarded, protectData: false }), [], "an unprotected stack may drop it");
            assert.match(
                dataChangeProblems(done, facts([recovered], recovered, { cluster: recovered, targetTime: "2025-01-02T02:00:00Z" }), guarded).join(),
                /postgresRecoveryCluster = "postgres-pitr-20250102t010000z" names a Cluster this stack already has: it would stay as it is, not be recovered to 2025-01-02T02:00:00Z/,
            );
            assert.match(dataChangeProblems(before, after, guarded).join(), /postgresCluster = "postgres-pitr-20250102t010000z": the API would switch to a Cluster that does not exist yet/);
        });

        it("on the mocks: a refused step registers no Kubernetes object", async () => {
            const outcome = await runProgram(stackConfig("staging", switched), "staging", undefined, { lastOutputs: { dataFacts: before } });
            assert.strictEqual(outcome.error?.name, new DataChangeError("x", ["y"]).name, String(outcome.error));
            assert.deepStrictEqual(outcome.resources.filter((r) => r.type.startsWith("kubernetes:")), []);
            const allowed = await runStack(stackConfig("staging", switched), "staging", undefined, { lastOutputs: { dataFacts: during } });
            assert.strictEqual(allowed.ofType(CLUSTER).length, 2);
        });
    });
});
