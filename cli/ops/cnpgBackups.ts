import { barmanCloudPlugin, cloudNativePgApi, cloudNativePgLabels, destinationPath, retentionWindow } from "../../components/postgres/cloudNativePg";
import { names } from "../../lib/names";
import { backupSettings, BackupOptions, formatAge, kubectl, pollUntil } from "./backups";
import { UsageError } from "./exec";
import { kubectlTarget, OpsContext } from "./workspace";

/**
 * `npm run ops -- backup | backups | restore` on the cloudnative-pg engine: the operator's `Backup`
 * objects of the Cluster, taken by the Barman Cloud plugin into the stack's ObjectStore (base backups;
 * the WAL is archived continuously). Point-in-time recovery is cnpgRecovery.ts.
 */

/** The Backup kind, fully qualified for kubectl (a bare `backup` may name another operator's kind). */
export const backupResource = `backups.${cloudNativePgApi.cluster.split("/")[0]}`;
const clusterResource = `clusters.${cloudNativePgApi.cluster.split("/")[0]}`;

/** Where the runbook for a point-in-time restore by hand is. */
export const pitrRunbook = "docs/postgres.md#point-in-time-recovery-cloudnative-pg";

/** A Backup as the listing shows it. */
export interface ClusterBackup {
    name: string;
    /** The operator's phase (pending, running, completed, failed, ...); empty before it picks the Backup up. */
    phase: string;
    method: string;
    created?: Date;
    started?: Date;
    stopped?: Date;
    backupId?: string;
    error?: string;
}

const date = (value: unknown): Date | undefined => (typeof value === "string" && value !== "" && !Number.isNaN(Date.parse(value)) ? new Date(value) : undefined);

/** A Backup object (kubectl's JSON) as the commands read it. */
export function readClusterBackup(object: any): ClusterBackup {
    const status = object.status ?? {};
    return {
        name: object.metadata?.name ?? "",
        phase: status.phase ?? "",
        method: status.method ?? object.spec?.method ?? "",
        created: date(object.metadata?.creationTimestamp),
        started: date(status.startedAt),
        stopped: date(status.stoppedAt),
        backupId: status.backupId || undefined,
        error: status.error || undefined,
    };
}

/** UTC to the second, as the Backups' times are written (2025-01-02T03:04:05Z). */
export const utc = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, "Z");

/** Oldest first: by start (the creation time while not started), then by name. */
export function sortBackups(backups: readonly ClusterBackup[]): ClusterBackup[] {
    const at = (b: ClusterBackup) => (b.started ?? b.created)?.getTime() ?? 0;
    return [...backups].sort((a, b) => at(a) - at(b) || a.name.localeCompare(b.name));
}

/**
 * The first moment a point-in-time recovery can reach: the end of the oldest completed base backup
 * (recovery must replay the WAL past a backup's end before the data is consistent; the operator's
 * own first recoverability point is that end too). Undefined while none has completed.
 */
export function firstRecoverable(backups: readonly ClusterBackup[]): Date | undefined {
    const ends = backups.filter((b) => b.phase === "completed" && b.stopped).map((b) => b.stopped!.getTime());
    return ends.length > 0 ? new Date(Math.min(...ends)) : undefined;
}

/** The listing as a table: name, phase, start, age, method. */
export function clusterBackupTable(backups: readonly ClusterBackup[], now: Date): string[] {
    const rows = [
        ["NAME", "PHASE", "STARTED", "AGE", "METHOD"],
        ...backups.map((b) => {
            const since = b.started ?? b.created;
            return [b.name, b.phase || "-", b.started ? utc(b.started) : "-", since ? formatAge(now.getTime() - since.getTime()) : "-", b.method || "-"];
        }),
    ];
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd());
}

/** Where the stack's base backups and WAL go, for messages. */
function where(ctx: OpsContext): string {
    const store = backupSettings(ctx).objectStore!;
    return `Cluster ${ctx.settings.postgres.cluster}, ObjectStore ${names.cloudNativePg.objectStore}: ${destinationPath(store)} at ${store.endpoint}`;
}

/** The Backups of the stack's Cluster, oldest first. */
export function listClusterBackups(ctx: OpsContext): ClusterBackup[] {
    const listed = JSON.parse(kubectl(ctx, ["get", backupResource, "-l", `${cloudNativePgLabels.cluster}=${ctx.settings.postgres.cluster}`, "-o", "json"]));
    return sortBackups((listed.items ?? []).map(readClusterBackup));
}

export function showClusterBackups(ctx: OpsContext, options: BackupOptions): void {
    const backup = backupSettings(ctx);
    const backups = listClusterBackups(ctx);
    const takeOne = `npm run ops -- backup --stack ${ctx.stack} takes one now`;
    if (backups.length === 0) {
        ctx.say(`stack ${ctx.stack} has no backups yet (${where(ctx)}): nothing can be recovered until one completes; ${takeOne}`);
        return;
    }
    ctx.say(
        `backups of stack ${ctx.stack} (${where(ctx)}; base backups kept ${retentionWindow(backup)}, ` +
            `ScheduledBackup ${names.cloudNativePg.scheduledBackupOf(ctx.settings.postgres.cluster)} "${backup.schedule}" UTC):`,
    );
    clusterBackupTable(backups, options.now()).forEach((line) => ctx.say(`  ${line}`));
    const from = firstRecoverable(backups);
    ctx.say(
        from
            ? `recoverable from ${utc(from)} to now (WAL archive)`
            : `no backup has completed yet: nothing can be recovered until one does (${takeOne})`,
    );
}

/** The Backup that `ops backup` creates: the ScheduledBackup's spec, named for the moment, labelled with its Cluster. */
export function manualBackup(ctx: OpsContext, name: string): object {
    return {
        apiVersion: cloudNativePgApi.cluster,
        kind: "Backup",
        metadata: {
            name,
            namespace: ctx.settings.namespace,
            // As the ScheduledBackup labels its own (a Backup made by hand carries only what it is given); the listing selects on it.
            labels: { [cloudNativePgLabels.cluster]: ctx.settings.postgres.cluster },
        },
        spec: {
            cluster: { name: ctx.settings.postgres.cluster },
            method: "plugin",
            pluginConfiguration: { name: barmanCloudPlugin },
        },
    };
}

/** A Backup's name for a moment: postgres-manual-20250102t030405z (a DNS name: lower case). */
export const manualBackupName = (now: Date) => `${names.cloudNativePg.cluster}-manual-${utc(now).replace(/[-:]/g, "").toLowerCase()}`;

/** The deployed Cluster, or a clear refusal when it is missing or archives nowhere. */
function deployedCluster(ctx: OpsContext): void {
    const n = { cluster: ctx.settings.postgres.cluster };
    const result = ctx.runner.capture("kubectl", [...kubectlTarget(ctx), "get", clusterResource, n.cluster, "-o", "json"]);
    if (result.status !== 0) {
        throw new UsageError(
            `the CloudNativePG Cluster ${n.cluster} is not in namespace ${ctx.settings.namespace} of ${kubectlTarget(ctx)[1]}: deploy the stack first ` +
                `(${result.stderr.trim() || `kubectl exit status ${result.status}`})`,
        );
    }
    const plugins: any[] = JSON.parse(result.stdout).spec?.plugins ?? [];
    if (!plugins.some((p) => p.name === barmanCloudPlugin)) {
        throw new UsageError(`the Cluster ${n.cluster} has no ${barmanCloudPlugin} plugin, so nothing to back up to: deploy the stack's backup settings first; nothing was changed`);
    }
}

/** A base backup now, through the plugin into the ObjectStore; followed until it completes or fails. */
export function clusterBackupNow(ctx: OpsContext, options: BackupOptions): void {
    backupSettings(ctx);
    deployedCluster(ctx);
    const name = manualBackupName(options.now());
    kubectl(ctx, ["create", "-f", "-"], JSON.stringify(manualBackup(ctx, name)));
    ctx.say(`backing up stack ${ctx.stack}: Backup ${name} (kubectl get ${backupResource} ${name} -w follows it too)`);
    let phase: string | undefined;
    const done = pollUntil(
        options,
        6 * 3600,
        () => {
            const backup = readClusterBackup(JSON.parse(kubectl(ctx, ["get", backupResource, name, "-o", "json"])));
            if (backup.phase === "completed" || backup.phase === "failed") {
                return backup;
            }
            if (backup.phase !== phase && backup.phase !== "") {
                ctx.say(`  ${backup.phase}`);
            }
            phase = backup.phase;
            return undefined;
        },
        (seconds) => `Backup ${name} has not finished after ${seconds} s (phase ${phase || "none yet"}); it may still: kubectl describe ${backupResource} ${name}`,
    );
    if (done.phase === "failed") {
        throw new UsageError(`the backup failed (Backup ${name}; kubectl describe ${backupResource} ${name}): ${done.error ?? "the operator gave no error"}`);
    }
    const time = (d?: Date) => (d ? utc(d) : "(not given)");
    ctx.say(`backup ${name} completed: started ${time(done.started)}, stopped ${time(done.stopped)}, backup id ${done.backupId ?? "(not given)"}`);
    ctx.say(`  in ${where(ctx)}`);
}

/** `restore <backup>` restores a dump (the statefulset engine's); this engine recovers to a moment instead. */
export function refuseClusterRestore(ctx: OpsContext): never {
    throw new UsageError(
        `restore <backup> restores a dump, which postgresEngine cloudnative-pg does not take (stack ${ctx.stack}): recover to a moment instead, ` +
            `npm run ops -- restore --to <time> --stack ${ctx.stack} (npm run ops -- backups shows the recoverable window; ${pitrRunbook}); nothing was changed`,
    );
}
