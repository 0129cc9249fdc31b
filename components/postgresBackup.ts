import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { readFileSync } from "fs";
import * as path from "path";
import { PostgresBackupSettings } from "../config";
import { builtInOptions, checkArgs, dataOptions, NamespacedArgs } from "../lib/args";
import { contentNamedConfigMap } from "../lib/configMap";
import { selectorLabels, standardLabels, WorkloadIdentity } from "../lib/labels";
import { names } from "../lib/names";
import { restrictedContainerSecurityContext, restrictedPodSecurityContext, tokenlessServiceAccount } from "../lib/security";
import { DatabaseConnection, postgresCredentialsPath } from "./postgres";

/** The scripts the backup pods run (components/assets), mounted at /scripts. */
export const postgresBackupScripts = {
    lib: "postgres-backup-lib.sh",
    clientLib: "postgres-client-lib.sh",
    backup: "postgres-backup.sh",
    upload: "postgres-backup-upload.sh",
    fetch: "postgres-backup-fetch.sh",
    list: "postgres-backup-list.sh",
    restore: "postgres-restore.sh",
} as const;

/** The backup pods' volume of PostgreSQL credentials: the backup role's Secret (a restore Job mounts the superuser's instead). */
export const postgresCredentialsVolume = "postgres-credentials";

/** Where the pods mount the backup volume, the scripts and the object store's credentials. */
export const backupPaths = { volume: "/backups", scripts: "/scripts", s3Credentials: "/run/secrets/s3" } as const;

/**
 * uid/gid of the backup pods: pg_dump, psql and rclone run as any uid (HOME and the password file are
 * in /tmp), so a high one that owns nothing on the host; the volume's files belong to its group.
 */
export const backupUid = 10002;

/** A backup that has not finished after this long is stopped (the Job fails, the alert follows). */
const backupDeadlineSeconds = 6 * 3600;

/**
 * Pods a failed backup Job tries after the first. Each retry is a new pod (restartPolicy Never: a
 * failed pod stays, with its logs, until the Job is cleaned up), started after the Job controller's
 * back-off of 10 s, 20 s, 40 s, 80 s: about two and a half minutes of a server restart or an
 * object-store outage. A retry dumps only if no pod of the Job has stored a backup yet (the dump
 * container's BACKUP_JOB); after a failed upload it retries the upload alone, on the same backup. A
 * longer outage fails the Job (the alert follows) and the next run uploads what the bucket lacks.
 */
const backupRetries = 4;

/** The label Kubernetes (1.27 on) puts on a Job's pods, naming the Job: the dump container's BACKUP_JOB. */
const jobNameLabel = "batch.kubernetes.io/job-name";

/** pg_dump streams; rclone buffers a few multipart chunks. Scratch space is the /tmp emptyDir (password file, rclone's cache). */
const resources = {
    dump: { requests: { cpu: "100m", memory: "128Mi", "ephemeral-storage": "64Mi" }, limits: { cpu: "1000m", memory: "1Gi", "ephemeral-storage": "256Mi" } },
    upload: { requests: { cpu: "100m", memory: "64Mi", "ephemeral-storage": "64Mi" }, limits: { cpu: "1000m", memory: "512Mi", "ephemeral-storage": "256Mi" } },
};

/** Args of the PostgreSQL backup CronJob. */
export interface PostgresBackupArgs extends NamespacedArgs {
    /** Schedule, retention, volume and object storage from the stack config. */
    settings: PostgresBackupSettings;
    /** The server's image: pg_dump and pg_restore of the server's own version. */
    postgresImage: string;
    /** Where PostgreSQL is (`Postgres.connection`). */
    database: DatabaseConnection;
    /**
     * The backup role's Secret (`Postgres.backupSecretName`): `username` and `password` of a role that
     * reads every database and writes none. A restore needs the superuser: npm run ops -- restore
     * mounts the superuser's Secret in its place (cli/ops/backups.ts).
     */
    credentialsSecretName: pulumi.Input<string>;
    /** Protect the backup volume from deletion and replacement, and keep it when removed from the program. */
    protectData: boolean;
}

function readScript(file: string): string {
    return readFileSync(path.join(__dirname, "assets", file), "utf8");
}

/**
 * Scheduled logical backups of PostgreSQL: a CronJob whose pod dumps every database with the server's
 * own pg_dump onto a dedicated volume (container `dump`) and, when a bucket is configured, copies
 * them to S3-compatible object storage with rclone (container `upload`, after the dump). The scripts
 * keep `retention` complete backups in each place; a failed run leaves the previous ones and fails
 * the Job, which retries a failed upload without dumping again (`backupRetries`). npm run ops --
 * backup | backups | restore build their Jobs from this CronJob's pod.
 */
export class PostgresBackup extends pulumi.ComponentResource {
    /** Labels of the backup pods (and of the list and restore pods built from them): their NetworkPolicy selects them. */
    readonly podSelector: Readonly<Record<string, string>>;
    /** Name of the CronJob (kube-state-metrics reports its last successful run under this name). */
    readonly cronJobName: pulumi.Output<string>;

    constructor(name: string, args: PostgresBackupArgs, opts?: pulumi.ComponentResourceOptions) {
        super("healthcare:data:PostgresBackup", name, {}, opts);
        const s = args.settings;
        const store = s.objectStore;
        checkArgs("PostgresBackup", name, [
            !s.schedule && "settings.schedule is empty: a PostgresBackup needs a schedule",
            !(Number.isInteger(s.retention) && s.retention >= 1) && `settings.retention ${s.retention} is not a whole number >= 1`,
            !s.storage.size && "settings.storage.size is empty",
            store !== undefined && store.egress.length === 0 && "settings.objectStore.egress is empty: the backup pods could not reach the object store",
        ]);

        const identity: WorkloadIdentity = { name: "postgres-backup", component: "database-backup", instance: args.instance };
        const labels = standardLabels(identity);
        this.podSelector = selectorLabels(identity);
        const n = names.postgresBackup;
        const meta = (metadataName: string) => ({ name: metadataName, namespace: args.namespace, labels });
        const builtIn = builtInOptions(this, args.deletion);

        const claim = new k8s.core.v1.PersistentVolumeClaim(
            n.volumeClaim,
            {
                metadata: {
                    ...meta(n.volumeClaim),
                    // A WaitForFirstConsumer class binds the claim only when the first backup pod starts
                    // (the next scheduled run): waiting for it would hold every `pulumi up` until then.
                    annotations: { "pulumi.com/skipAwait": "true" },
                },
                spec: {
                    accessModes: ["ReadWriteOnce"],
                    storageClassName: s.storage.className,
                    resources: { requests: { storage: s.storage.size } },
                },
            },
            dataOptions(this, args.protectData, args.deletion),
        );
        // Named for its content (lib/configMap.ts): a script change updates the CronJob in place.
        const configMap = contentNamedConfigMap(n.configMap, meta(n.configMap), Object.fromEntries(Object.values(postgresBackupScripts).map((file) => [file, readScript(file)])), builtIn);
        const serviceAccount = tokenlessServiceAccount(n.serviceAccount, meta(n.serviceAccount), builtIn);

        const common = [
            { name: "BACKUP_DIR", value: backupPaths.volume },
            { name: "BACKUP_RETENTION", value: String(s.retention) },
            { name: "HOME", value: "/tmp" },
            { name: "TMPDIR", value: "/tmp" },
        ];
        const mounts = [
            { name: "backups", mountPath: backupPaths.volume },
            { name: "scripts", mountPath: backupPaths.scripts },
            { name: "tmp", mountPath: "/tmp" },
        ];
        const script = (file: string) => ["sh", `${backupPaths.scripts}/${file}`];
        const dump: k8s.types.input.core.v1.Container = {
            name: n.dumpContainer,
            // The server's own image: pg_dump refuses a server newer than itself.
            image: args.postgresImage,
            imagePullPolicy: "IfNotPresent",
            command: script(postgresBackupScripts.backup),
            env: [
                { name: "PGHOST", value: args.database.host },
                { name: "PGPORT", value: String(args.database.port) },
                // Files, not environment variables: the scripts turn them into a password file.
                { name: "POSTGRES_CREDENTIALS", value: postgresCredentialsPath },
                // One backup per Job: a retry of the Job after its backup was stored does not dump again.
                { name: "BACKUP_JOB", valueFrom: { fieldRef: { fieldPath: `metadata.labels['${jobNameLabel}']` } } },
                ...common,
            ],
            resources: resources.dump,
            securityContext: restrictedContainerSecurityContext(),
            volumeMounts: [...mounts, { name: postgresCredentialsVolume, mountPath: postgresCredentialsPath, readOnly: true }],
        };
        const upload: k8s.types.input.core.v1.Container | undefined = store && {
            name: n.uploadContainer,
            image: store.clientImage,
            imagePullPolicy: "IfNotPresent",
            command: script(postgresBackupScripts.upload),
            env: [
                { name: "S3_ENDPOINT", value: store.endpoint },
                { name: "S3_BUCKET", value: store.bucket },
                { name: "S3_PREFIX", value: store.prefix },
                { name: "S3_REGION", value: store.region },
                { name: "S3_CREDENTIALS", value: backupPaths.s3Credentials },
                // rclone looks for a config folder; the read-only root has none to offer.
                { name: "XDG_CONFIG_HOME", value: "/tmp" },
                ...common,
            ],
            resources: resources.upload,
            securityContext: restrictedContainerSecurityContext(),
            volumeMounts: [...mounts, { name: "s3-credentials", mountPath: backupPaths.s3Credentials, readOnly: true }],
        };

        const cronJob = new k8s.batch.v1.CronJob(
            n.cronJob,
            {
                metadata: meta(n.cronJob),
                spec: {
                    schedule: s.schedule,
                    timeZone: "Etc/UTC",
                    // One backup at a time; a run the controller missed (controller down) still starts within the hour.
                    concurrencyPolicy: "Forbid",
                    startingDeadlineSeconds: 3600,
                    successfulJobsHistoryLimit: 3,
                    failedJobsHistoryLimit: 3,
                    jobTemplate: {
                        metadata: { labels },
                        spec: {
                            backoffLimit: backupRetries,
                            activeDeadlineSeconds: backupDeadlineSeconds,
                            template: {
                                metadata: { labels },
                                spec: {
                                    // A retry is a new pod: its dump container finds the Job's backup
                                    // stored and passes, and the upload runs again.
                                    restartPolicy: "Never",
                                    serviceAccountName: serviceAccount.metadata.name,
                                    automountServiceAccountToken: false,
                                    securityContext: restrictedPodSecurityContext(backupUid),
                                    // The dump first; the upload only after it succeeded.
                                    initContainers: upload ? [dump] : undefined,
                                    containers: upload ? [upload] : [dump],
                                    volumes: [
                                        { name: "backups", persistentVolumeClaim: { claimName: claim.metadata.name } },
                                        { name: "scripts", configMap: { name: configMap.metadata.name, defaultMode: 0o555 } },
                                        { name: "tmp", emptyDir: { sizeLimit: "64Mi" } },
                                        // Group-readable: the files belong to root and the pod's fsGroup.
                                        { name: postgresCredentialsVolume, secret: { secretName: args.credentialsSecretName, defaultMode: 0o440 } },
                                        ...(store ? [{ name: "s3-credentials", secret: { secretName: store.credentialsSecret, defaultMode: 0o440 } }] : []),
                                    ],
                                },
                            },
                        },
                    },
                },
            },
            builtIn,
        );

        this.cronJobName = cronJob.metadata.name;
        this.registerOutputs({ cronJobName: this.cronJobName });
    }
}
