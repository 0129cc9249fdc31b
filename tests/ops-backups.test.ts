/**
 * npm run ops -- backup | backups | restore against stand-in kubectl: the Jobs they create come from
 * the CronJob the real program registers (run on Pulumi's mocks), and the output they read back is
 * what the scripts print (tests/data/postgres-backup-scripts.test.ts runs those for real).
 */
import * as assert from "assert";
import { mkdtempSync, rmSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { main } from "../cli/ops/cli";
import { UsageError } from "../cli/ops/exec";
import { runStack } from "../harness/mockProgram";
import { restrictedViolations } from "../analysis/podSecurity";
import { stackConfig, onStatefulSetEngine } from "../harness/stackConfig";
import { createStandins, freshMachine, RecordedCall, Standins } from "./support/standins";

/**
 * The backup commands drive the statefulset engine's CronJob (CloudNativePG backs up through its own
 * ScheduledBackup): staging and production as stacks still on that engine, with a bucket. Production's
 * 100 API pods then open 9 connections each, under the 1000 a server without a pooler serves.
 */
const objectStore = {
    ...onStatefulSetEngine,
    apiDatabasePoolSize: 9,
    postgresBackupS3Endpoint: "https://s3.eu-central-1.amazonaws.com",
    postgresBackupS3Bucket: "clinic-backups",
    postgresBackupS3Prefix: "healthcare/staging",
    postgresBackupS3CredentialsSecret: "backup-s3-credentials",
    postgresBackupS3Egress: "52.219.0.0/16:443",
};
/**
 * Staging and production run CloudNativePG; the CronJob's commands need the StatefulSet engine (and,
 * without a pooler, an API that opens fewer than 1,000 connections: production's ceiling lowered).
 */
const statefulSetEngine = { ...objectStore, apiMaxReplicas: 20 };

const now = new Date("2025-01-02T03:04:05Z");
const complete = JSON.stringify({ status: { conditions: [{ type: "Complete", status: "True" }] } });
const failed = JSON.stringify({ status: { conditions: [{ type: "Failed", status: "True" }] } });
const listing = [
    "2025-01-02T03:04:06Z list: (nothing to report)",
    "local 20241231T020000Z 1610612736",
    "remote 20241230T020000Z 1600000000",
    "local 20250101T020000Z 1620000000",
    "remote 20241231T020000Z 1610612736",
    "remote 20250101T020000Z 1620000000",
].join("\n");

describe("backup commands (stand-in kubectl, the program's own CronJob)", function () {
    this.timeout(120000);
    let cronJobs: Record<"staging" | "production", string>;
    let standins: Standins;
    let root: string;
    let output: string[];
    let answers: string[];

    before(async () => {
        const cronJobOf = async (stack: "staging" | "production") => {
            const run = await runStack(stackConfig(stack, statefulSetEngine), stack);
            return JSON.stringify({ apiVersion: "batch/v1", kind: "CronJob", ...run.get("kubernetes:batch/v1:CronJob", "postgres-backup").inputs });
        };
        cronJobs = { staging: await cronJobOf("staging"), production: await cronJobOf("production") };
    });

    const machine = (stack: "staging" | "production", replies: { match: string; stdout?: string; stderr?: string; status?: number }[]) =>
        createStandins({
            ...freshMachine(),
            kubeContexts: ["healthcare-staging", "healthcare-production"],
            kubectlReplies: [{ match: "get cronjob postgres-backup -o json", stdout: cronJobs[stack] }, ...replies],
        });
    const run = (...argv: string[]) =>
        main(argv, {
            env: { PATH: standins.bin },
            say: (l) => output.push(l),
            root,
            overrides: statefulSetEngine,
            backup: { now: () => now, pollMs: 0, ask: () => answers.shift() },
        });
    const kubectl = (c: RecordedCall) => c.args.join(" ");
    const created = () => standins.calls().filter((c) => c.args.includes("create"));
    const createdJob = (prefix: string) => {
        const call = created().find((c) => c.stdin && JSON.parse(c.stdin).metadata.name.startsWith(prefix));
        assert.ok(call, `a Job ${prefix}* was created: ${created().map(kubectl).join("\n")}`);
        return JSON.parse(call.stdin!);
    };

    beforeEach(() => {
        root = mkdtempSync(path.join(tmpdir(), "ops-backups-"));
        output = [];
        answers = [];
    });
    afterEach(() => {
        standins?.remove();
        rmSync(root, { recursive: true, force: true });
    });

    it("backup runs the CronJob's pod now and prints where the backup went", () => {
        standins = machine("staging", [
            { match: "get job postgres-backup-manual-20250102030405", stdout: complete },
            {
                match: "logs job/postgres-backup-manual-20250102030405",
                stdout: [
                    "2025-01-02T03:04:06Z backup: stored 20250102T030406Z: 1073741824 bytes in 95 s",
                    "stored 20250102T030406Z /backups/20250102T030406Z 1073741824",
                    "deleted 20241230T020000Z /backups/20241230T020000Z",
                    "uploaded 20250102T030406Z s3://clinic-backups/healthcare/staging/20250102T030406Z/ 1073741824",
                ].join("\n"),
            },
        ]);
        run("backup", "--stack", "staging");
        const target = "--context healthcare-staging --namespace healthcare-backend";
        assert.deepStrictEqual(standins.calls().map(kubectl).slice(0, 2), [
            `${target} get cronjob postgres-backup -o json`,
            `${target} create job postgres-backup-manual-20250102030405 --from=cronjob/postgres-backup`,
        ]);
        assert.deepStrictEqual(output, [
            "backing up stack staging: Job postgres-backup-manual-20250102030405",
            "backup 20250102T030406Z: 1.0 GiB on volume postgres-backups (/backups/20250102T030406Z)",
            "  copied to s3://clinic-backups/healthcare/staging/20250102T030406Z/",
            "  retention deleted 20241230T020000Z (/backups/20241230T020000Z)",
        ]);
    });

    it("backups lists them with sizes and ages, from a Job that keeps the backup pods' labels and security", () => {
        standins = machine("staging", [
            { match: "get job postgres-backup-list", stdout: complete },
            { match: "logs job/postgres-backup-list", stdout: listing },
        ]);
        run("backups", "--stack", "staging");
        assert.deepStrictEqual(output, [
            'backups of stack staging (volume postgres-backups, bucket s3://clinic-backups/healthcare/staging/ at https://s3.eu-central-1.amazonaws.com; 3 kept in each, schedule "0 2 * * *" UTC):',
            "  BACKUP            SIZE     AGE    WHERE",
            "  20241230T020000Z  1.5 GiB  3d 1h  bucket",
            "  20241231T020000Z  1.5 GiB  2d 1h  volume, bucket",
            "  20250101T020000Z  1.5 GiB  1d 1h  volume, bucket",
        ]);
        const job = createdJob("postgres-backup-list-");
        const cronJob = JSON.parse(cronJobs.staging);
        const pod = job.spec.template;
        assert.deepStrictEqual(pod.metadata.labels, cronJob.spec.jobTemplate.spec.template.metadata.labels, "the backup pods' NetworkPolicy applies");
        assert.deepStrictEqual(restrictedViolations(pod), []);
        assert.deepStrictEqual(
            pod.spec.containers.map((c: any) => [c.name, c.image, c.command.join(" ")]),
            [["list", "rclone/rclone:1.75.1", "sh /scripts/postgres-backup-list.sh"]],
        );
        assert.strictEqual(pod.spec.initContainers, undefined);
    });

    it("restore asks for the backup's name, and restores only when it is typed", () => {
        standins = machine("staging", [
            { match: "get job postgres-backup-list", stdout: complete },
            { match: "logs job/postgres-backup-list", stdout: listing },
            { match: "get job postgres-restore", stdout: complete },
            { match: "logs job/postgres-restore", stdout: "restored 20241231T020000Z healthcare postgres" },
        ]);
        answers = ["yes"];
        assert.throws(() => run("restore", "20241231T020000Z", "--stack", "staging"), /not confirmed \(the answer was not 20241231T020000Z\); nothing was changed/);
        assert.ok(!created().some((c) => c.stdin?.includes("postgres-restore")), "no restore Job");

        answers = [];
        assert.throws(() => run("restore", "20241231T020000Z", "--stack", "staging"), /restore needs a confirmation: answer the question in a terminal, or add --yes in scripts/);

        answers = ["20241231T020000Z"];
        run("restore", "20241231T020000Z", "--stack", "staging");
        const job = createdJob("postgres-restore-");
        const [restore] = job.spec.template.spec.containers;
        assert.strictEqual(restore.image, "postgres:17.6", "the server's own pg_restore");
        assert.deepStrictEqual(restore.command, ["sh", "/scripts/postgres-restore.sh", "20241231T020000Z"]);
        assert.deepStrictEqual(restore.env.find((e: any) => e.name === "CONFIRM_RESTORE"), { name: "CONFIRM_RESTORE", value: "20241231T020000Z" });
        assert.strictEqual(job.spec.template.spec.initContainers, undefined, "on the volume: nothing to fetch");
        // Run once, whatever the CronJob's pod does on a failure (its Job retries a failed upload).
        assert.deepStrictEqual([job.spec.backoffLimit, job.spec.template.spec.restartPolicy], [0, "Never"]);
        assert.deepStrictEqual(restrictedViolations(job.spec.template), []);
        assert.strictEqual(output[output.length - 1], "restored backup 20241231T020000Z into stack staging: database(s) healthcare postgres");
    });

    it("restore fetches a backup that only the bucket has, and --yes skips the question", () => {
        standins = machine("staging", [
            { match: "get job postgres-backup-list", stdout: complete },
            { match: "logs job/postgres-backup-list", stdout: listing },
            { match: "get job postgres-restore", stdout: complete },
            { match: "logs job/postgres-restore", stdout: "fetched 20241230T020000Z\nrestored 20241230T020000Z healthcare postgres" },
        ]);
        run("restore", "20241230T020000Z", "--yes", "--stack", "staging");
        const job = createdJob("postgres-restore-");
        assert.deepStrictEqual(
            job.spec.template.spec.initContainers.map((c: any) => [c.name, c.image, c.command.join(" ")]),
            [["fetch", "rclone/rclone:1.75.1", "sh /scripts/postgres-backup-fetch.sh 20241230T020000Z"]],
        );
    });

    it("restore refuses production without the explicit flag, before touching the cluster", () => {
        standins = machine("production", [
            { match: "get job postgres-backup-list", stdout: complete },
            { match: "logs job/postgres-backup-list", stdout: listing },
            { match: "get job postgres-restore", stdout: complete },
            { match: "logs job/postgres-restore", stdout: "restored 20250101T020000Z healthcare postgres" },
        ]);
        assert.throws(
            () => run("restore", "20250101T020000Z", "--yes", "--stack", "production"),
            /stack production is production: a restore replaces its databases .* run it again with --i-understand-this-overwrites-production; nothing was changed/,
        );
        assert.deepStrictEqual(standins.calls(), []);
        run("restore", "20250101T020000Z", "--yes", "--i-understand-this-overwrites-production", "--stack", "production");
        assert.strictEqual(createdJob("postgres-restore-").metadata.namespace, "healthcare-backend");
    });

    it("restore refuses an unknown or malformed name with one message, creating no restore Job", () => {
        standins = machine("staging", [
            { match: "get job postgres-backup-list", stdout: complete },
            { match: "logs job/postgres-backup-list", stdout: listing },
        ]);
        assert.throws(
            () => run("restore", "20240101T020000Z", "--yes", "--stack", "staging"),
            (e: Error) =>
                e instanceof UsageError &&
                e.message === "stack staging has no backup named 20240101T020000Z (backups: 20241230T020000Z, 20241231T020000Z, 20250101T020000Z); nothing was changed",
        );
        assert.throws(() => run("restore", "latest", "--yes", "--stack", "staging"), /restore: give a backup name, a UTC time such as 20250101T020000Z .*got "latest"/);
        assert.ok(!created().some((c) => c.stdin?.includes("postgres-restore")));
    });

    it("reports a failed Job with the script's own message", () => {
        standins = machine("staging", [
            { match: "get job postgres-backup-list", stdout: complete },
            { match: "logs job/postgres-backup-list", stdout: listing },
            { match: "get job postgres-restore", stdout: failed },
            {
                match: "logs job/postgres-restore",
                stdout: "2025-01-02T03:04:07Z restore: error: backup 20250101T020000Z was taken from PostgreSQL 17.6; this server runs 16.4, an older major version: restore it into PostgreSQL 17 or later; nothing was changed",
            },
        ]);
        assert.throws(
            () => run("restore", "20250101T020000Z", "--yes", "--stack", "staging"),
            /the restore failed \(Job postgres-restore-20250102030405; .*\): backup 20250101T020000Z was taken from PostgreSQL 17\.6; this server runs 16\.4, .*; nothing was changed$/,
        );
    });

    it("says how to turn backups on where a stack has none", () => {
        standins = createStandins({ ...freshMachine(), kubeContexts: ["kind-healthcare"] });
        for (const command of [["backup"], ["backups"], ["restore", "20250101T020000Z", "--yes"]]) {
            assert.throws(
                () => main(command, { env: { PATH: standins.bin }, say: (l) => output.push(l), root, backup: { now: () => now, pollMs: 0, ask: () => undefined } }),
                /stack local has no PostgreSQL backups \(postgresBackupSchedule is empty\): set one, e\.g\. pulumi config set postgresBackupSchedule "0 2 \* \* \*" --stack local, and deploy/,
            );
        }
        assert.deepStrictEqual(standins.calls(), []);
    });
});

describe("backup commands on CloudNativePG (stand-in kubectl, the program's own Cluster and ScheduledBackup)", function () {
    this.timeout(120000);
    const CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster";
    const SCHEDULED_BACKUP = "kubernetes:postgresql.cnpg.io/v1:ScheduledBackup";
    const target = "--context healthcare-staging --namespace healthcare-backend";
    const manual = "postgres-manual-20250102t030405z";
    // The stacks' own engine (cloudnative-pg, as their files set it), with the bucket of the tests above.
    const engineSettings = ["postgresEngine", "postgresInstances", "postgresPoolerInstances", "postgresWalStorageSize", "vpaPostgresMode", "apiDatabasePoolSize"];
    const onCloudNativePg = { ...objectStore, ...Object.fromEntries(engineSettings.map((k) => [k, undefined])) };
    let cluster: any;
    let scheduledBackup: any;
    let standins: Standins;
    let root: string;
    let output: string[];

    before(async () => {
        const run = await runStack(stackConfig("staging", onCloudNativePg), "staging");
        cluster = { apiVersion: "postgresql.cnpg.io/v1", kind: "Cluster", ...run.get(CLUSTER, "postgres").inputs };
        scheduledBackup = run.get(SCHEDULED_BACKUP, "postgres-backup").inputs;
    });

    /** A Backup object as the operator reports it. */
    const backup = (name: string, status: Record<string, unknown>, created = "2025-01-01T00:00:00Z") => ({
        apiVersion: "postgresql.cnpg.io/v1",
        kind: "Backup",
        metadata: { name, namespace: "healthcare-backend", creationTimestamp: created, labels: { "cnpg.io/cluster": "postgres" } },
        spec: { cluster: { name: "postgres" }, method: "plugin", pluginConfiguration: { name: "barman-cloud.cloudnative-pg.io" } },
        status,
    });
    const machine = (replies: { match: string; stdout?: string; stderr?: string; status?: number; times?: number }[]) =>
        createStandins({
            ...freshMachine(),
            kubeContexts: ["healthcare-staging", "healthcare-production"],
            kubectlReplies: [{ match: "get clusters.postgresql.cnpg.io postgres -o json", stdout: JSON.stringify(cluster) }, ...replies],
        });
    const run = (overrides: Record<string, unknown>, ...argv: string[]) =>
        main(argv, {
            env: { PATH: standins.bin },
            say: (l) => output.push(l),
            root,
            overrides: { ...onCloudNativePg, ...overrides },
            backup: { now: () => now, pollMs: 0, ask: () => assert.fail("nothing is asked on cloudnative-pg") },
        });
    const kubectl = (c: RecordedCall) => c.args.join(" ");
    const noCronJobPath = () =>
        assert.ok(!standins.calls().some((c) => /\bcronjob\b|\bjob\b|logs/.test(kubectl(c))), `no CronJob or Job: ${standins.calls().map(kubectl).join("\n")}`);

    beforeEach(() => {
        root = mkdtempSync(path.join(tmpdir(), "ops-cnpg-backups-"));
        output = [];
    });
    afterEach(() => {
        standins?.remove();
        rmSync(root, { recursive: true, force: true });
    });

    it("backup creates a Backup of Cluster postgres through the plugin, follows it to completed and prints its times and id", () => {
        standins = machine([
            { match: `get backups.postgresql.cnpg.io ${manual} -o json`, stdout: JSON.stringify(backup(manual, {})), times: 1 },
            { match: `get backups.postgresql.cnpg.io ${manual} -o json`, stdout: JSON.stringify(backup(manual, { phase: "running", method: "plugin" })), times: 2 },
            {
                match: `get backups.postgresql.cnpg.io ${manual} -o json`,
                stdout: JSON.stringify(
                    backup(manual, { phase: "completed", method: "plugin", startedAt: "2025-01-02T03:04:07Z", stoppedAt: "2025-01-02T03:09:41Z", backupId: "20250102T030407" }),
                ),
            },
        ]);
        run({}, "backup", "--stack", "staging");
        assert.deepStrictEqual(standins.calls().map(kubectl), [
            `${target} get clusters.postgresql.cnpg.io postgres -o json`,
            `${target} create -f -`,
            ...Array(4).fill(`${target} get backups.postgresql.cnpg.io ${manual} -o json`),
        ]);
        const sent = JSON.parse(standins.calls()[1].stdin!);
        assert.deepStrictEqual(sent, {
            apiVersion: "postgresql.cnpg.io/v1",
            kind: "Backup",
            metadata: { name: manual, namespace: "healthcare-backend", labels: { "cnpg.io/cluster": "postgres" } },
            spec: { cluster: { name: "postgres" }, method: "plugin", pluginConfiguration: { name: "barman-cloud.cloudnative-pg.io" } },
        });
        const { cluster: c, method, pluginConfiguration } = scheduledBackup.spec;
        assert.deepStrictEqual(sent.spec, { cluster: c, method, pluginConfiguration }, "taken as the program's ScheduledBackup takes them");
        assert.match(manual, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "a DNS label");
        assert.deepStrictEqual(output, [
            `backing up stack staging: Backup ${manual} (kubectl get backups.postgresql.cnpg.io ${manual} -w follows it too)`,
            "  running",
            `backup ${manual} completed: started 2025-01-02T03:04:07Z, stopped 2025-01-02T03:09:41Z, backup id 20250102T030407`,
            "  in Cluster postgres, ObjectStore postgres-backups: s3://clinic-backups/healthcare/staging at https://s3.eu-central-1.amazonaws.com",
        ]);
        noCronJobPath();
    });

    it("backup reports a failed Backup with the operator's error", () => {
        standins = machine([
            {
                match: `get backups.postgresql.cnpg.io ${manual} -o json`,
                stdout: JSON.stringify(backup(manual, { phase: "failed", method: "plugin", error: "rpc error: code = Unknown desc = missing credentials in secret backup-s3-credentials" })),
            },
        ]);
        assert.throws(
            () => run({}, "backup", "--stack", "staging"),
            (e: Error) =>
                e instanceof UsageError &&
                e.message ===
                    `the backup failed (Backup ${manual}; kubectl describe backups.postgresql.cnpg.io ${manual}): rpc error: code = Unknown desc = missing credentials in secret backup-s3-credentials`,
        );
        assert.strictEqual(standins.calls().filter((c) => c.args.includes("create")).length, 1);
        noCronJobPath();
    });

    it("backup creates nothing when the Cluster is not deployed, or archives nowhere", () => {
        standins = createStandins({
            ...freshMachine(),
            kubectlReplies: [{ match: "get clusters.postgresql.cnpg.io postgres", stderr: 'Error from server (NotFound): clusters.postgresql.cnpg.io "postgres" not found', status: 1 }],
        });
        assert.throws(
            () => run({}, "backup", "--stack", "staging"),
            /the CloudNativePG Cluster postgres is not in namespace healthcare-backend of healthcare-staging: deploy the stack first \(Error from server \(NotFound\)/,
        );
        standins.remove();
        const { plugins, ...spec } = cluster.spec;
        assert.ok(plugins, "the program's Cluster archives through the plugin");
        standins = createStandins({ ...freshMachine(), kubectlReplies: [{ match: "get clusters.postgresql.cnpg.io postgres", stdout: JSON.stringify({ ...cluster, spec }) }] });
        assert.throws(() => run({}, "backup", "--stack", "staging"), /the Cluster postgres has no barman-cloud\.cloudnative-pg\.io plugin.*nothing was changed$/);
        assert.deepStrictEqual(standins.calls().map(kubectl), [`${target} get clusters.postgresql.cnpg.io postgres -o json`]);
    });

    it("backups lists the Cluster's Backups oldest first, and the window from the oldest completed one to now", () => {
        const items = [
            backup("postgres-backup-20250101020000", { phase: "completed", method: "plugin", startedAt: "2025-01-01T02:00:04Z", stoppedAt: "2025-01-01T02:11:30Z" }),
            backup("postgres-manual-20250102t030000z", { phase: "running", method: "plugin", startedAt: "2025-01-02T03:00:01Z" }),
            backup("postgres-backup-20241231020000", { phase: "completed", method: "plugin", startedAt: "2024-12-31T02:00:03Z", stoppedAt: "2024-12-31T02:10:55Z" }),
            backup("postgres-manual-20250102t030400z", {}, "2025-01-02T03:04:00Z"),
            backup("postgres-backup-20241230020000", { phase: "failed", method: "plugin", startedAt: "2024-12-30T02:00:05Z", error: "no space left" }),
            backup("postgres-manual-20250101t120000z", { phase: "failed", method: "plugin", startedAt: "2025-01-01T12:00:02Z", error: "timeout" }),
        ];
        standins = machine([{ match: "get backups.postgresql.cnpg.io -l cnpg.io/cluster=postgres -o json", stdout: JSON.stringify({ kind: "List", items }) }]);
        run({}, "backups", "--stack", "staging");
        assert.deepStrictEqual(standins.calls().map(kubectl), [`${target} get backups.postgresql.cnpg.io -l cnpg.io/cluster=postgres -o json`]);
        assert.deepStrictEqual(output, [
            'backups of stack staging (Cluster postgres, ObjectStore postgres-backups: s3://clinic-backups/healthcare/staging at https://s3.eu-central-1.amazonaws.com; base backups kept 3d, ScheduledBackup postgres-backup "0 2 * * *" UTC):',
            "  NAME                              PHASE      STARTED               AGE     METHOD",
            "  postgres-backup-20241230020000    failed     2024-12-30T02:00:05Z  3d 1h   plugin",
            "  postgres-backup-20241231020000    completed  2024-12-31T02:00:03Z  2d 1h   plugin",
            "  postgres-backup-20250101020000    completed  2025-01-01T02:00:04Z  1d 1h   plugin",
            "  postgres-manual-20250101t120000z  failed     2025-01-01T12:00:02Z  15h 4m  plugin",
            "  postgres-manual-20250102t030000z  running    2025-01-02T03:00:01Z  4m      plugin",
            "  postgres-manual-20250102t030400z  -          -                     0m      plugin",
            // The end of the oldest completed base backup: recovery reaches no earlier moment.
            "recoverable from 2024-12-31T02:10:55Z to now (WAL archive)",
        ]);
        noCronJobPath();
    });

    it("backups says plainly when no backup has completed yet", () => {
        const items = [
            backup("postgres-backup-20250102020000", { phase: "failed", method: "plugin", startedAt: "2025-01-02T02:00:04Z", error: "timeout" }),
            backup("postgres-manual-20250102t030000z", { phase: "running", method: "plugin", startedAt: "2025-01-02T03:00:01Z" }),
        ];
        standins = machine([{ match: "get backups.postgresql.cnpg.io -l cnpg.io/cluster=postgres", stdout: JSON.stringify({ items }) }]);
        run({}, "backups", "--stack", "staging");
        assert.strictEqual(output.length, 5);
        assert.strictEqual(output[4], "no backup has completed yet: nothing can be recovered until one does (npm run ops -- backup --stack staging takes one now)");
        assert.ok(!output.some((l) => l.includes("recoverable from")));

        standins.remove();
        output = [];
        standins = machine([{ match: "get backups.postgresql.cnpg.io -l cnpg.io/cluster=postgres", stdout: JSON.stringify({ items: [] }) }]);
        run({}, "backups", "--stack", "staging");
        assert.deepStrictEqual(output, [
            "stack staging has no backups yet (Cluster postgres, ObjectStore postgres-backups: s3://clinic-backups/healthcare/staging at https://s3.eu-central-1.amazonaws.com): " +
                "nothing can be recovered until one completes; npm run ops -- backup --stack staging takes one now",
        ]);
    });

    it("restore <backup> refuses on cloudnative-pg, pointing to restore --to, and calls no kubectl", () => {
        standins = machine([]);
        for (const argv of [
            ["restore", "postgres-backup-20250101020000", "--stack", "staging"],
            ["restore", "20250101T020000Z", "--yes", "--stack", "staging"],
            ["restore", "postgres-backup-20250101020000", "--yes", "--i-understand-this-overwrites-production", "--stack", "production"],
        ]) {
            assert.throws(
                () => run({}, ...argv),
                (e: Error) =>
                    e instanceof UsageError &&
                    /^restore <backup> restores a dump, which postgresEngine cloudnative-pg does not take \(stack (staging|production)\): recover to a moment instead, npm run ops -- restore --to <time> --stack (staging|production) .*docs\/postgres\.md#point-in-time-recovery-cloudnative-pg\); nothing was changed$/.test(
                        e.message,
                    ),
            );
        }
        assert.deepStrictEqual(standins.calls(), []);
        assert.deepStrictEqual(output, []);
    });

    it("says how to turn backups on where a CloudNativePG stack has none, before any kubectl call", () => {
        standins = machine([]);
        const none = {
            postgresBackupSchedule: "",
            postgresBackupInClusterOnly: true,
            ...Object.fromEntries(Object.keys(objectStore).map((k) => [k, undefined])),
        };
        for (const command of [["backup"], ["backups"]]) {
            assert.throws(
                () => run(none, ...command, "--stack", "staging"),
                /stack staging has no PostgreSQL backups \(postgresBackupSchedule is empty\): set one, e\.g\. pulumi config set postgresBackupSchedule "0 2 \* \* \*" --stack staging with the object store postgresBackupS3\* \(docs\/postgres\.md#object-storage\), and deploy/,
            );
        }
        assert.deepStrictEqual(standins.calls(), []);
    });
});
