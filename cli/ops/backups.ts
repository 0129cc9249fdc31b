import { backupPaths, postgresBackupScripts, postgresCredentialsVolume } from "../../components/postgresBackup";
import { names } from "../../lib/names";
import { UsageError } from "./exec";
import { kubectlTarget, OpsContext } from "./workspace";

/**
 * `npm run ops -- backup | backups | restore` on the statefulset engine: Jobs in the stack's namespace
 * built from the deployed backup CronJob (so they run the images, scripts, volumes, credentials and
 * NetworkPolicy of the scheduled backups), followed until they finish, their output read back.
 * The cloudnative-pg engine's are in cnpgBackups.ts.
 */

/** A backup as the list script reports it: its bytes on the volume and in the bucket, where it is. */
export interface BackupEntry {
    name: string;
    local?: number;
    remote?: number;
}

const backupName = /^\d{8}T\d{6}Z$/;

/** The `local <name> <bytes>` / `remote <name> <bytes>` lines of postgres-backup-list.sh, oldest first; other lines are ignored. */
export function parseBackupListing(text: string): BackupEntry[] {
    const entries = new Map<string, BackupEntry>();
    for (const line of text.split("\n")) {
        const match = /^(local|remote) (\d{8}T\d{6}Z) (\d+)$/.exec(line.trim());
        if (match) {
            const entry = entries.get(match[2]) ?? { name: match[2] };
            entry[match[1] as "local" | "remote"] = Number(match[3]);
            entries.set(match[2], entry);
        }
    }
    return [...entries.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** When a backup started: its name is that UTC time. */
export function backupTime(name: string): Date {
    const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(name)!;
    return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
}

export function formatBytes(bytes: number): string {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let value = bytes;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
        value /= 1024;
        unit++;
    }
    return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export function formatAge(ms: number): string {
    const minutes = Math.max(0, Math.floor(ms / 60000));
    const [days, hours, mins] = [Math.floor(minutes / 1440), Math.floor((minutes % 1440) / 60), minutes % 60];
    return days > 0 ? `${days}d ${hours}h` : hours > 0 ? `${hours}h ${mins}m` : `${mins}m`;
}

/** The listing as a table: name, size, age, where. */
export function backupTable(entries: readonly BackupEntry[], now: Date): string[] {
    const rows = [
        ["BACKUP", "SIZE", "AGE", "WHERE"],
        ...entries.map((e) => [
            e.name,
            formatBytes(e.local ?? e.remote ?? 0),
            formatAge(now.getTime() - backupTime(e.name).getTime()),
            [e.local !== undefined ? "volume" : "", e.remote !== undefined ? "bucket" : ""].filter(Boolean).join(", "),
        ]),
    ];
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd());
}

/** What the backup commands need besides the context: a clock, a pause between polls, a way to ask. */
export interface BackupOptions {
    now: () => Date;
    /** Milliseconds between two looks at a running Job. */
    pollMs: number;
    /** Asks the user; returns the answer, or undefined when nobody can answer (no terminal). */
    ask: (question: string) => string | undefined;
}

/** The stack's backup settings, or a clear refusal when it takes no backups. */
export function backupSettings(ctx: OpsContext) {
    const backup = ctx.settings.postgresBackup;
    if (!backup) {
        // On CloudNativePG a schedule needs the object store too (the base backups and the WAL go there).
        const store = ctx.settings.postgres.engine === "cloudnative-pg" ? " with the object store postgresBackupS3* (docs/postgres.md#object-storage)" : "";
        throw new UsageError(
            `stack ${ctx.stack} has no PostgreSQL backups (postgresBackupSchedule is empty): set one, e.g. ` +
                `pulumi config set postgresBackupSchedule "0 2 * * *" --stack ${ctx.stack}${store}, and deploy`,
        );
    }
    return backup;
}

export function kubectl(ctx: OpsContext, args: string[], input?: string): string {
    const result = ctx.runner.capture("kubectl", [...kubectlTarget(ctx), ...args], input);
    if (result.status !== 0) {
        throw new UsageError(`kubectl ${args.join(" ")} failed: ${result.stderr.trim() || `exit status ${result.status}`}`);
    }
    return result.stdout;
}

function cronJob(ctx: OpsContext): any {
    const result = ctx.runner.capture("kubectl", [...kubectlTarget(ctx), "get", "cronjob", names.postgresBackup.cronJob, "-o", "json"]);
    if (result.status !== 0) {
        throw new UsageError(
            `the backup CronJob ${names.postgresBackup.cronJob} is not in namespace ${ctx.settings.namespace} of ${kubectlTarget(ctx)[1]}: deploy the stack first ` +
                `(${result.stderr.trim() || `kubectl exit status ${result.status}`})`,
        );
    }
    return JSON.parse(result.stdout);
}

const stamp = (now: Date) => now.toISOString().replace(/[-:]/g, "").replace(/\..*$/, "").replace("T", "").toLowerCase();

function sleep(ms: number): void {
    if (ms > 0) {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    }
}

/**
 * Calls `look` every `options.pollMs` until it returns a result; after `deadlineSeconds` plus two
 * minutes (the API's own delays) gives up with `late(seconds)`.
 */
export function pollUntil<T>(options: BackupOptions, deadlineSeconds: number, look: () => T | undefined, late: (seconds: number) => string): T {
    const seconds = deadlineSeconds + 120;
    const until = Date.now() + seconds * 1000;
    for (;;) {
        const result = look();
        if (result !== undefined) {
            return result;
        }
        if (Date.now() > until) {
            throw new UsageError(late(seconds));
        }
        sleep(options.pollMs);
    }
}

/** Follows a Job until it completes or fails; returns its pods' output (every container, init containers first). */
function follow(ctx: OpsContext, options: BackupOptions, job: string, deadlineSeconds: number): { succeeded: boolean; output: string } {
    const succeeded = pollUntil(
        options,
        deadlineSeconds,
        () => {
            const status = JSON.parse(kubectl(ctx, ["get", "job", job, "-o", "json"])).status ?? {};
            const condition = (type: string) => (status.conditions ?? []).some((c: any) => c.type === type && c.status === "True");
            return condition("Complete") ? true : condition("Failed") ? false : undefined;
        },
        (seconds) => `Job ${job} has not finished after ${seconds} s; see kubectl get job ${job}`,
    );
    const logs = ctx.runner.capture("kubectl", [...kubectlTarget(ctx), "logs", `job/${job}`, "--all-containers"]);
    return { succeeded, output: logs.stdout + logs.stderr };
}

/** The last error line of a script's output (its one message), for a failure. */
function failure(output: string): string {
    const errors = output.split("\n").filter((l) => / error: /.test(l));
    return errors.length > 0 ? errors[errors.length - 1].replace(/^.* error: /, "") : output.trim().split("\n").slice(-3).join("\n");
}

/**
 * A Job from the CronJob's pod with one container replaced: `list` or `restore` runs in the image that
 * has the tool (rclone when object storage is configured, for list and fetch; postgres for restore).
 */
function jobFromCronJob(ctx: OpsContext, source: any, jobName: string, containers: { init: any[]; main: any[] }, ttlSeconds: number): any {
    const template = structuredClone(source.spec.jobTemplate.spec.template);
    template.spec.initContainers = containers.init.length > 0 ? containers.init : undefined;
    template.spec.containers = containers.main;
    template.spec.restartPolicy = "Never";
    return {
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: { name: jobName, namespace: ctx.settings.namespace, labels: template.metadata?.labels ?? {} },
        spec: {
            // A restore is run once; the operator decides whether to try again.
            backoffLimit: 0,
            activeDeadlineSeconds: source.spec.jobTemplate.spec.activeDeadlineSeconds,
            ttlSecondsAfterFinished: ttlSeconds,
            template,
        },
    };
}

/** The CronJob pod's containers by name: dump (postgres image) and, with object storage, upload (rclone). */
function podContainers(source: any): { dump: any; upload?: any } {
    const spec = source.spec.jobTemplate.spec.template.spec;
    const all = [...(spec.initContainers ?? []), ...spec.containers];
    const dump = all.find((c: any) => c.name === names.postgresBackup.dumpContainer);
    if (!dump) {
        throw new UsageError(`the CronJob ${names.postgresBackup.cronJob} has no container ${names.postgresBackup.dumpContainer}: deploy this version of the stack first`);
    }
    return { dump, upload: all.find((c: any) => c.name === names.postgresBackup.uploadContainer) };
}

const runScript = (file: string, ...args: string[]) => ["sh", `${backupPaths.scripts}/${file}`, ...args];

/**
 * A restore creates roles and databases and closes other sessions: it logs in as the superuser. The
 * CronJob's pod mounts the backup role's Secret (which reads and writes nothing else); the restore Job
 * mounts the superuser's Secret in its place, at the same path. A CronJob deployed before the roles were
 * split mounts the API's Secret, whose role was the superuser then: left as it is.
 */
export function withSuperuserCredentials(podSpec: any): any {
    const volume = (podSpec.volumes ?? []).find((v: any) => v.name === postgresCredentialsVolume);
    if (!volume?.secret) {
        throw new UsageError(`the CronJob ${names.postgresBackup.cronJob} mounts no Secret volume ${postgresCredentialsVolume}: deploy this version of the stack first`);
    }
    if (volume.secret.secretName !== names.postgres.secret) {
        volume.secret = { ...volume.secret, secretName: names.postgres.superuserSecret };
    }
    return podSpec;
}

/** The backups of the stack, from a short-lived Job that mounts the backup volume (and reads the bucket). */
export function listBackups(ctx: OpsContext, options: BackupOptions): BackupEntry[] {
    backupSettings(ctx);
    const source = cronJob(ctx);
    const { dump, upload } = podContainers(source);
    const job = `${names.postgresBackup.cronJob}-list-${stamp(options.now())}`;
    const lister = { ...(upload ?? dump), name: "list", command: runScript(postgresBackupScripts.list) };
    kubectl(ctx, ["create", "-f", "-"], JSON.stringify(jobFromCronJob(ctx, source, job, { init: [], main: [lister] }, 600)));
    const { succeeded, output } = follow(ctx, options, job, 600);
    if (!succeeded) {
        throw new UsageError(`listing the backups failed (Job ${job}): ${failure(output)}`);
    }
    return parseBackupListing(output);
}

export function showBackups(ctx: OpsContext, options: BackupOptions): void {
    const backup = backupSettings(ctx);
    const entries = listBackups(ctx, options);
    const store = backup.objectStore;
    const where = `volume ${names.postgresBackup.volumeClaim}${store ? `, bucket s3://${store.bucket}/${store.prefix ? `${store.prefix}/` : ""} at ${store.endpoint}` : ""}`;
    if (entries.length === 0) {
        ctx.say(`stack ${ctx.stack} has no backups yet (${where}); npm run ops -- backup --stack ${ctx.stack} takes one now`);
        return;
    }
    ctx.say(`backups of stack ${ctx.stack} (${where}; ${backup.retention} kept in each, schedule "${backup.schedule}" UTC):`);
    backupTable(entries, options.now()).forEach((line) => ctx.say(`  ${line}`));
}

/** Runs the CronJob's pod once now and says where the backup went. */
export function backupNow(ctx: OpsContext, options: BackupOptions): void {
    backupSettings(ctx);
    cronJob(ctx);
    const job = `${names.postgresBackup.cronJob}-manual-${stamp(options.now())}`;
    kubectl(ctx, ["create", "job", job, `--from=cronjob/${names.postgresBackup.cronJob}`]);
    ctx.say(`backing up stack ${ctx.stack}: Job ${job}`);
    const { succeeded, output } = follow(ctx, options, job, 6 * 3600);
    if (!succeeded) {
        throw new UsageError(`the backup failed (Job ${job}; kubectl logs job/${job} --all-containers): ${failure(output)}`);
    }
    const stored = /^stored (\S+) (\S+) (\d+)$/m.exec(output);
    if (!stored) {
        throw new UsageError(`Job ${job} succeeded but did not say where the backup went:\n${output}`);
    }
    ctx.say(`backup ${stored[1]}: ${formatBytes(Number(stored[3]))} on volume ${names.postgresBackup.volumeClaim} (${stored[2]})`);
    const uploaded = new RegExp(`^uploaded ${stored[1]} (\\S+) `, "m").exec(output);
    if (uploaded) {
        ctx.say(`  copied to ${uploaded[1]}`);
    }
    for (const deleted of output.matchAll(/^deleted (\S+) (\S+)$/gm)) {
        ctx.say(`  retention deleted ${deleted[1]} (${deleted[2]})`);
    }
}

/** Flags of `restore`. */
export interface RestoreFlags {
    yes: boolean;
    overwriteProduction: boolean;
}

export const overwriteProductionFlag = "--i-understand-this-overwrites-production";

/**
 * Restores a backup over the stack's databases, after checking the name against the listing and an
 * explicit confirmation; production also needs --i-understand-this-overwrites-production. The restore
 * script checks the files and versions again before it changes anything.
 */
export function restoreBackup(ctx: OpsContext, options: BackupOptions, name: string | undefined, flags: RestoreFlags): void {
    backupSettings(ctx);
    if (!name || !backupName.test(name)) {
        throw new UsageError(`restore: give a backup name, a UTC time such as 20250101T020000Z (npm run ops -- backups --stack ${ctx.stack} lists them); got ${JSON.stringify(name ?? "")}`);
    }
    if (ctx.settings.environment === "production" && !flags.overwriteProduction) {
        throw new UsageError(
            `stack ${ctx.stack} is production: a restore replaces its databases with backup ${name} and loses every write since. ` +
                `If that is what you mean, run it again with ${overwriteProductionFlag}; nothing was changed`,
        );
    }
    const entries = listBackups(ctx, options);
    const entry = entries.find((e) => e.name === name);
    if (!entry) {
        const known = entries.map((e) => e.name).join(", ") || "none";
        throw new UsageError(`stack ${ctx.stack} has no backup named ${name} (backups: ${known}); nothing was changed`);
    }
    const source = cronJob(ctx);
    const { dump, upload } = podContainers(source);
    if (entry.local === undefined && !upload) {
        throw new UsageError(`backup ${name} is only in the bucket, and the CronJob has no upload container to fetch it; nothing was changed`);
    }
    if (!flags.yes) {
        const target = `database(s) of stack ${ctx.stack} (context ${kubectlTarget(ctx)[1]}, namespace ${ctx.settings.namespace})`;
        const question =
            `Restore backup ${name} (${formatBytes(entry.local ?? entry.remote ?? 0)}, taken ${backupTime(name).toISOString()}) over the ${target}? ` +
            `Writes since then are lost. Type the backup name to confirm: `;
        const answer = options.ask(question);
        if (answer === undefined) {
            throw new UsageError("restore needs a confirmation: answer the question in a terminal, or add --yes in scripts; nothing was changed");
        }
        if (answer.trim() !== name) {
            throw new UsageError(`not confirmed (the answer was not ${name}); nothing was changed`);
        }
    }
    const job = `postgres-restore-${stamp(options.now())}`;
    const fetch = entry.local === undefined ? [{ ...upload, name: "fetch", command: runScript(postgresBackupScripts.fetch, name) }] : [];
    const restore = {
        ...dump,
        name: "restore",
        command: runScript(postgresBackupScripts.restore, name),
        env: [...(dump.env ?? []), { name: "CONFIRM_RESTORE", value: name }],
    };
    const restoreJob = jobFromCronJob(ctx, source, job, { init: fetch, main: [restore] }, 86400);
    withSuperuserCredentials(restoreJob.spec.template.spec);
    kubectl(ctx, ["create", "-f", "-"], JSON.stringify(restoreJob));
    ctx.say(`restoring backup ${name} into stack ${ctx.stack}: Job ${job}`);
    const { succeeded, output } = follow(ctx, options, job, source.spec.jobTemplate.spec.activeDeadlineSeconds ?? 6 * 3600);
    if (!succeeded) {
        throw new UsageError(`the restore failed (Job ${job}; kubectl logs job/${job} --all-containers): ${failure(output)}`);
    }
    const restored = /^restored (\S+) (.*)$/m.exec(output);
    ctx.say(`restored backup ${name} into stack ${ctx.stack}: database(s) ${restored?.[2] ?? "(see the Job's log)"}`);
}
