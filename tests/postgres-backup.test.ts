/**
 * The statefulset engine's backup CronJob, its volume and settings as the real program registers
 * them (Pulumi's mocks), CloudNativePG's backups on the shipped staging and production stacks, the
 * settings' validation, and the schedule arithmetic behind the missing-backup alert. The scripts
 * themselves run against real servers in tests/data/postgres-backup-scripts.test.ts.
 */
import * as assert from "assert";
import { destinationPath, operatorSchedule, retentionWindow } from "../components/postgres/cloudNativePg";
import { longestGapSeconds, parseCron } from "../lib/cron";
import { ProgramRun, runProgram, runStack } from "../harness/mockProgram";
import { stackConfig, onStatefulSetEngine } from "../harness/stackConfig";
import { CRONJOB, PVC } from "./support/resourceTypes";

const objectStore = {
    postgresBackupS3Endpoint: "https://s3.eu-central-1.amazonaws.com",
    postgresBackupS3Bucket: "clinic-backups",
    postgresBackupS3Prefix: "/healthcare/production/",
    postgresBackupS3CredentialsSecret: "backup-s3-credentials",
    postgresBackupS3Egress: "52.219.0.0/16:443, 3.5.0.0/16:443",
};

/**
 * A stack still on the statefulset engine, keeping its backups on the volume only (no bucket: the
 * stack accepts backups lost with the cluster). Production's 100 API pods then open 9 connections
 * each, under the 1000 a server without a pooler serves.
 */
const volumeOnly = {
    postgresBackupS3Endpoint: "",
    postgresBackupS3Bucket: "",
    postgresBackupS3CredentialsSecret: "",
    postgresBackupS3Egress: "",
    postgresBackupS3Region: undefined,
    postgresBackupInClusterOnly: true,
};
const onStatefulSet = (stack: "staging" | "production", overrides: Record<string, unknown> = {}) =>
    stackConfig(stack, { ...onStatefulSetEngine, ...(stack === "production" ? { apiDatabasePoolSize: 9 } : {}), ...overrides });

const podOf = (run: ProgramRun) => run.get(CRONJOB, "postgres-backup").inputs.spec.jobTemplate.spec.template.spec;
const env = (container: any) => Object.fromEntries(container.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));

describe("PostgreSQL backups", function () {
    this.timeout(60000);

    for (const [stack, retention, size] of [
        ["staging", "3", "20Gi"],
        ["production", "14", "200Gi"],
    ] as const) {
        describe(`Pulumi.${stack}.yaml on the statefulset engine, backups on the volume only`, () => {
            let run: ProgramRun;
            before(async () => {
                run = await runStack(onStatefulSet(stack, { ...volumeOnly, postgresBackupStorageSize: size }), stack);
            });

            it(`backs up daily at 02:00 UTC, one run at a time, keeping ${retention}`, () => {
                const cronJob = run.get(CRONJOB, "postgres-backup").inputs;
                assert.strictEqual(cronJob.metadata.namespace, "healthcare-backend");
                assert.deepStrictEqual(
                    [cronJob.spec.schedule, cronJob.spec.timeZone, cronJob.spec.concurrencyPolicy, cronJob.spec.startingDeadlineSeconds],
                    ["0 2 * * *", "Etc/UTC", "Forbid", 3600],
                );
                const job = cronJob.spec.jobTemplate.spec;
                assert.deepStrictEqual([job.backoffLimit, job.activeDeadlineSeconds, job.template.spec.restartPolicy], [4, 21600, "Never"]);
                const [dump] = podOf(run).containers;
                assert.strictEqual(env(dump).BACKUP_RETENTION, retention);
            });

            it("dumps with the server's own image, reading the backup role's Secret as files, onto its own protected volume", () => {
                const pod = podOf(run);
                assert.strictEqual(pod.initContainers, undefined, "no object storage configured: the dump alone");
                const [dump] = pod.containers;
                assert.deepStrictEqual([dump.name, dump.image, dump.command], ["dump", "postgres:17.6", ["sh", "/scripts/postgres-backup.sh"]]);
                assert.deepStrictEqual(
                    { PGHOST: env(dump).PGHOST, PGPORT: env(dump).PGPORT, POSTGRES_CREDENTIALS: env(dump).POSTGRES_CREDENTIALS, BACKUP_DIR: env(dump).BACKUP_DIR },
                    { PGHOST: "postgres.healthcare-backend.svc.cluster.local", PGPORT: "5432", POSTGRES_CREDENTIALS: "/run/secrets/postgres", BACKUP_DIR: "/backups" },
                );
                assert.ok(!dump.env.some((e: any) => e.valueFrom && !e.valueFrom.fieldRef), "no credential in the environment");
                // A retry of the Job after its dump succeeded (and whatever followed failed) does not dump again.
                assert.deepStrictEqual(env(dump).BACKUP_JOB, { fieldRef: { fieldPath: "metadata.labels['batch.kubernetes.io/job-name']" } });
                const volumes = Object.fromEntries(pod.volumes.map((v: any) => [v.name, v]));
                assert.deepStrictEqual(volumes["postgres-credentials"].secret, { secretName: "postgres-backup-credentials", defaultMode: 0o440 });
                assert.deepStrictEqual(volumes.backups.persistentVolumeClaim, { claimName: "postgres-backups" });
                const scriptsConfigMap = run.get("kubernetes:core/v1:ConfigMap", "postgres-backup-scripts").inputs;
                assert.match(scriptsConfigMap.metadata.name, /^postgres-backup-scripts-[a-f0-9]{10}$/, "named for its content");
                assert.strictEqual(scriptsConfigMap.immutable, true);
                assert.deepStrictEqual(volumes.scripts.configMap, { name: scriptsConfigMap.metadata.name, defaultMode: 0o555 });

                const claim = run.get(PVC, "postgres-backups");
                assert.strictEqual(claim.inputs.spec.resources.requests.storage, size);
                assert.deepStrictEqual(claim.inputs.spec.accessModes, ["ReadWriteOnce"]);
                assert.ok(claim.options.protect && claim.options.retainOnDelete, "backups survive a destroy");
                // A WaitForFirstConsumer class binds it only at the first backup: pulumi up must not wait for that.
                assert.strictEqual(claim.inputs.metadata.annotations["pulumi.com/skipAwait"], "true");
                const scripts = run.get("kubernetes:core/v1:ConfigMap", "postgres-backup-scripts").inputs.data;
                assert.deepStrictEqual(Object.keys(scripts).sort(), [
                    "postgres-backup-fetch.sh",
                    "postgres-backup-lib.sh",
                    "postgres-backup-list.sh",
                    "postgres-backup-upload.sh",
                    "postgres-backup.sh",
                    "postgres-client-lib.sh",
                    "postgres-restore.sh",
                ]);
            });

            it("gives every container requests and limits, ephemeral storage included, and no API token", () => {
                const pod = podOf(run);
                for (const container of [...(pod.initContainers ?? []), ...pod.containers]) {
                    for (const side of ["requests", "limits"]) {
                        assert.deepStrictEqual(Object.keys(container.resources[side]).sort(), ["cpu", "ephemeral-storage", "memory"], `${container.name} ${side}`);
                    }
                }
                assert.strictEqual(pod.automountServiceAccountToken, false);
                assert.deepStrictEqual(pod.volumes.find((v: any) => v.name === "tmp").emptyDir, { sizeLimit: "64Mi" });
            });
        });
    }

    for (const [stack, retention, bucket] of [
        ["staging", "3d", "healthcare-staging-backups"],
        ["production", "14d", "healthcare-production-backups"],
    ] as const) {
        describe(`Pulumi.${stack}.yaml on cloudnative-pg`, () => {
            let run: ProgramRun;
            before(async () => {
                run = await runStack(stackConfig(stack), stack);
            });

            it(`archives the WAL and takes a base backup daily at 02:00 UTC to ${bucket}, kept ${retention}: no backup CronJob, no backup volume`, () => {
                // Redis's periodic reconcile is the only CronJob.
                assert.deepStrictEqual(run.ofType(CRONJOB).map((c) => c.name), ["redis-cluster-reconcile-periodic"]);
                assert.deepStrictEqual(run.ofType(PVC), []);
                assert.strictEqual(run.outputs.postgresBackupCronJob, "(cloudnative-pg: ScheduledBackup postgres-backup and the WAL archive)");
                const store = run.get("kubernetes:barmancloud.cnpg.io/v1:ObjectStore", "postgres-backups").inputs;
                assert.strictEqual(store.metadata.namespace, "healthcare-backend");
                assert.strictEqual(store.spec.retentionPolicy, retention);
                assert.strictEqual(store.spec.configuration.destinationPath, `s3://${bucket}`);
                assert.strictEqual(store.spec.configuration.endpointURL, "https://s3.eu-central-1.amazonaws.com");
                assert.deepStrictEqual(store.spec.configuration.s3Credentials, {
                    accessKeyId: { name: "postgres-backup-s3", key: "AWS_ACCESS_KEY_ID" },
                    secretAccessKey: { name: "postgres-backup-s3", key: "AWS_SECRET_ACCESS_KEY" },
                });
                // The program names the credentials' Secret only: it never creates or reads it.
                assert.ok(!run.ofType("kubernetes:core/v1:Secret").some((r) => r.name === "postgres-backup-s3"));
                const scheduled = run.get("kubernetes:postgresql.cnpg.io/v1:ScheduledBackup", "postgres-backup").inputs.spec;
                assert.deepStrictEqual(
                    [scheduled.schedule, scheduled.method, scheduled.pluginConfiguration, scheduled.immediate, scheduled.cluster],
                    ["0 0 2 * * *", "plugin", { name: "barman-cloud.cloudnative-pg.io" }, true, { name: "postgres" }],
                );
                const cluster = run.get("kubernetes:postgresql.cnpg.io/v1:Cluster", "postgres").inputs.spec;
                assert.deepStrictEqual(cluster.plugins, [{ name: "barman-cloud.cloudnative-pg.io", isWALArchiver: true, parameters: { barmanObjectName: "postgres-backups" } }]);
            });

            it("lets the instances reach the object store's addresses, and no backup pod exists to need a policy", () => {
                const policy = run.get("kubernetes:networking.k8s.io/v1:NetworkPolicy", "allow-postgres").inputs.spec;
                assert.ok(
                    policy.egress.some((r: any) => r.to.some((t: any) => t.ipBlock?.cidr === "198.51.100.0/24") && r.ports.some((p: any) => p.port === 443)),
                    JSON.stringify(policy.egress),
                );
                assert.ok(!run.ofType("kubernetes:networking.k8s.io/v1:NetworkPolicy").some((p) => p.name === "allow-postgres-backup"));
            });
        });
    }

    it("cloudnative-pg: the schedule gains its seconds field, the window covers the backups kept, the prefix follows the bucket", () => {
        const backup = (schedule: string, retention: number) => {
            const parsed = parseCron(schedule);
            assert.ok("schedule" in parsed);
            return { schedule, retention, longestGapSeconds: longestGapSeconds(parsed.schedule)!, storage: { size: "1Gi" } };
        };
        assert.strictEqual(operatorSchedule("0 2 * * *"), "0 0 2 * * *");
        assert.strictEqual(retentionWindow(backup("0 2 * * *", 14)), "14d");
        assert.strictEqual(retentionWindow(backup("0 3 * * 0", 4)), "28d", "four weekly backups");
        assert.strictEqual(retentionWindow(backup("0 * * * *", 12)), "1d", "at least a day");
        const store = { endpoint: "https://s3.example.com", bucket: "clinic-backups", region: "us-east-1", credentialsSecret: "s3", egress: [], clientImage: "rclone/rclone:1.75.1" };
        assert.strictEqual(destinationPath({ ...store, prefix: "" }), "s3://clinic-backups");
        assert.strictEqual(destinationPath({ ...store, prefix: "healthcare/production" }), "s3://clinic-backups/healthcare/production");
    });

    it("takes no backups on the local stack unless a schedule is set", async () => {
        const local = await runStack(stackConfig("local"), "local");
        assert.deepStrictEqual(local.ofType(CRONJOB), []);
        assert.ok(!local.ofType(PVC).some((c) => c.name === "postgres-backups"));
        assert.strictEqual(local.outputs.postgresBackupCronJob, "(no scheduled backups)");
        const hourly = await runStack(stackConfig("local", { postgresBackupSchedule: "0 * * * *" }), "local");
        assert.strictEqual(hourly.get(CRONJOB, "postgres-backup").inputs.spec.schedule, "0 * * * *");
        // Local data is disposable: the backup volume goes with the stack.
        assert.strictEqual(hourly.get(PVC, "postgres-backups").options.protect, false);
    });

    it("with a bucket, uploads with the pinned rclone after the dump, credentials from the named Secret only, and retries a failed upload without dumping again", async () => {
        const run = await runStack(onStatefulSet("production", { ...objectStore, postgresBackupS3Region: undefined }), "production");
        const pod = podOf(run);
        assert.deepStrictEqual(pod.initContainers.map((c: any) => c.name), ["dump"]);
        const [upload] = pod.containers;
        assert.deepStrictEqual([upload.name, upload.image, upload.command], ["upload", "rclone/rclone:1.75.1", ["sh", "/scripts/postgres-backup-upload.sh"]]);
        assert.deepStrictEqual(
            ["S3_ENDPOINT", "S3_BUCKET", "S3_PREFIX", "S3_REGION", "S3_CREDENTIALS"].map((k) => env(upload)[k]),
            ["https://s3.eu-central-1.amazonaws.com", "clinic-backups", "healthcare/production", "us-east-1", "/run/secrets/s3"],
        );
        assert.deepStrictEqual(pod.volumes.find((v: any) => v.name === "s3-credentials").secret, { secretName: "backup-s3-credentials", defaultMode: 0o440 });
        // Least privilege inside the pod: the uploader never sees the database's password, the dump never the bucket's keys.
        assert.ok(!upload.volumeMounts.some((m: any) => m.name === "postgres-credentials"));
        assert.ok(!pod.initContainers[0].volumeMounts.some((m: any) => m.name === "s3-credentials"));

        const policy = run.get("kubernetes:networking.k8s.io/v1:NetworkPolicy", "allow-postgres-backup").inputs.spec;
        assert.deepStrictEqual(policy.policyTypes, ["Egress"]);
        assert.deepStrictEqual(
            policy.egress.filter((r: any) => r.to[0].ipBlock).map((r: any) => [r.to[0].ipBlock.cidr, r.ports]),
            [
                ["52.219.0.0/16", [{ protocol: "TCP", port: 443 }]],
                ["3.5.0.0/16", [{ protocol: "TCP", port: 443 }]],
            ],
        );
        // A failed upload is retried alone: the Job's retry is a new pod (restartPolicy Never keeps the
        // failed one and its logs), whose dump init container is told its Job (the pods' job-name label)
        // and passes on finding that Job's backup stored; then the upload runs again, on that backup.
        const job = run.get(CRONJOB, "postgres-backup").inputs.spec.jobTemplate.spec;
        assert.deepStrictEqual([job.template.spec.restartPolicy, job.backoffLimit], ["Never", 4]);
        assert.deepStrictEqual(env(pod.initContainers[0]).BACKUP_JOB, { fieldRef: { fieldPath: "metadata.labels['batch.kubernetes.io/job-name']" } });
        assert.strictEqual(env(upload).BACKUP_JOB, undefined);

        // The program knows the Secret's name only: it never creates or reads it, and the keys reach rclone as mounted files.
        assert.ok(!run.resources.some((r) => r.type === "kubernetes:core/v1:Secret" && r.name === "backup-s3-credentials"));
        assert.ok(!upload.env.some((e: any) => e.valueFrom), "no credential in the environment");
    });

    describe("settings", () => {
        const problems = async (overrides: Record<string, unknown>, stack = "staging") => {
            const { error, resources } = await runProgram(stackConfig(stack, overrides), stack);
            assert.deepStrictEqual(resources, [], "nothing registered");
            return error?.message ?? "";
        };

        it("refuses production without backups, and a schedule that is not cron", async () => {
            assert.match(
                await problems({ postgresBackupSchedule: "" }, "production"),
                /healthcare-backend:postgresBackupSchedule = "" is invalid; expected a cron schedule in production, such as 0 2 \* \* \* \(daily at 02:00 UTC\)/,
            );
            assert.match(
                await problems({ postgresBackupSchedule: "every day" }),
                /postgresBackupSchedule = "every day" is invalid; expected a cron schedule \(minute hour day-of-month month day-of-week, UTC\) such as 0 2 \* \* \*, or empty for no backups \(it has 2 fields, not 5/,
            );
            assert.match(await problems({ postgresBackupSchedule: "0 25 * * *" }), /\("25" is not a valid hour \(0-23\)\)/);
            assert.match(await problems({ postgresBackupSchedule: "TZ=Europe/Berlin 0 2 * * *" }), /a time zone in the schedule is refused by Kubernetes/);
            assert.match(await problems({ postgresBackupRetention: 0 }), /postgresBackupRetention = "0" is invalid; expected a whole number from 1 to 1000/);
            assert.match(await problems({ postgresBackupStorageSize: "20gb" }), /postgresBackupStorageSize = "20gb" is invalid; .*\(did you mean 20Gi\?\)/);
        });

        it("needs the object store complete, credentials by Secret name, and https outside a local stack", async () => {
            const message = await problems({
                postgresBackupS3Bucket: "Clinic_Backups",
                postgresBackupS3Endpoint: "http://minio.example.com:9000/bucket",
                postgresBackupS3CredentialsSecret: "AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI",
                postgresBackupS3Prefix: "../up",
                postgresBackupS3Egress: "",
            });
            // Every problem at once.
            for (const expected of [
                /postgresBackupS3Bucket = "Clinic_Backups" is invalid; expected an S3 bucket name/,
                /postgresBackupS3Endpoint = "http:\/\/minio\.example\.com:9000\/bucket" is invalid; expected the object store's endpoint URL, https:\/\/host\[:port\] without a path/,
                /postgresBackupS3CredentialsSecret = "AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI" is invalid; expected the name of a Secret .* \(never the keys themselves\)/,
                /postgresBackupS3Prefix = "\.\.\/up" is invalid/,
                /postgresBackupS3Egress = "" is invalid; expected the object store's addresses as CIDR:port entries/,
            ]) {
                assert.match(message, expected);
            }
            assert.match(message, /has 5 configuration problems/);
        });

        it("checks the egress against the endpoint's port, and refuses object-store settings without a bucket or a schedule", async () => {
            assert.match(
                await problems({ ...objectStore, postgresBackupS3Endpoint: "https://minio.example.com:9000" }),
                /postgresBackupS3Egress = "52\.219\.0\.0\/16:443, 3\.5\.0\.0\/16:443" is invalid; expected at least one entry on port 9000, the port of postgresBackupS3Endpoint/,
            );
            assert.match(await problems({ ...objectStore, postgresBackupS3Egress: "52.219.1.0/16:443" }), /postgresBackupS3Egress = "52\.219\.1\.0\/16:443" is invalid; expected a CIDR block without host bits \(did you mean 52\.219\.0\.0\/16:443\?\)/);
            assert.match(
                await problems({ postgresBackupS3Endpoint: "https://s3.example.com" }, "local"),
                /postgresBackupS3Endpoint = "https:\/\/s3\.example\.com" is invalid; expected empty while postgresBackupS3Bucket is empty/,
            );
            assert.match(await problems({ ...objectStore, postgresBackupSchedule: "" }, "local"), /postgresBackupS3Bucket = "clinic-backups" is invalid; expected empty while postgresBackupSchedule is empty/);
            assert.match(await problems({ postgresBackupS3ClientImage: "rclone/rclone:latest" }), /postgresBackupS3ClientImage = "rclone\/rclone:latest" is invalid; expected an image pinned to an exact version/);
            // A local stack may use plain HTTP to a MinIO on the laptop.
            const local = await runStack(stackConfig("local", { ...objectStore, postgresBackupSchedule: "0 * * * *", postgresBackupS3Endpoint: "http://192.168.1.20:9000", postgresBackupS3Egress: "192.168.1.20/32:9000" }), "local");
            assert.strictEqual(env(podOf(local).containers[0]).S3_ENDPOINT, "http://192.168.1.20:9000");
        });
    });
});

describe("cron schedules", () => {
    const gap = (text: string) => {
        const parsed = parseCron(text);
        assert.ok("schedule" in parsed, `${text}: ${"problem" in parsed ? parsed.problem : ""}`);
        return longestGapSeconds(parsed.schedule);
    };
    const hour = 3600;
    const day = 24 * hour;

    it("finds the longest gap between two runs", () => {
        assert.strictEqual(gap("0 2 * * *"), day);
        assert.strictEqual(gap("@daily"), day);
        assert.strictEqual(gap("*/15 * * * *"), 900);
        assert.strictEqual(gap("@hourly"), hour);
        assert.strictEqual(gap("0 2,14 * * *"), 12 * hour);
        assert.strictEqual(gap("30 1 * * *"), day);
        // Weekdays only: Friday 03:00 to Monday 03:00.
        assert.strictEqual(gap("0 3 * * 1-5"), 3 * day);
        assert.strictEqual(gap("0 3 * * MON-FRI"), 3 * day);
        assert.strictEqual(gap("@weekly"), 7 * day);
        assert.strictEqual(gap("0 0 * * 7"), 7 * day, "7 is Sunday too");
        // The first of the month: the longest month, 31 days.
        assert.strictEqual(gap("0 0 1 * *"), 31 * day);
        // Both day fields restricted: either matches (the 1st, or any Monday), so never more than 7 days.
        assert.ok(gap("0 0 1 * 1")! <= 7 * day);
        assert.strictEqual(gap("0 0 1 1 *"), 365 * day + day, "yearly, across the leap year 2028");
        assert.strictEqual(gap("5/20 * * * *"), 60 * 60 - 40 * 60, "minutes 5, 25, 45: 05 follows 45 after 20 minutes");
    });

    it("says what is wrong with a schedule Kubernetes would refuse", () => {
        const problem = (text: string) => {
            const parsed = parseCron(text);
            return "problem" in parsed ? parsed.problem : "accepted";
        };
        assert.strictEqual(problem("0 2 * *"), "it has 4 fields, not 5 (minute hour day-of-month month day-of-week)");
        assert.strictEqual(problem("60 * * * *"), '"60" is not a valid minute (0-59)');
        assert.strictEqual(problem("0 0 * FOO *"), '"FOO" is not a valid month (1-12 or a name)');
        assert.strictEqual(problem("0 0 5-1 * *"), '"5-1" is not a valid day of month (1-31)');
        assert.strictEqual(problem("? 0 * * *"), '"?" is not a valid minute');
        assert.match(problem("@every 1h"), /@every 1h is not one of @yearly/);
        assert.strictEqual(gap("0 0 30 2 *"), undefined, "February 30th never comes");
    });
});
