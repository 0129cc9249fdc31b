import { postgresRoles } from "../../components/postgres";
import { names } from "../../lib/names";
import { BackupOptions, kubectl } from "./backups";
import { awaitReady, clusterType, parseRowCounts, rowCountsSql, rowCountTable, sql } from "./cnpgRecovery";
import { useBackend } from "./commands";
import { CommandError, UsageError } from "./exec";
import { configSet, configValues, deployReleasing, deployStack, OpsContext, requireConfirmation, stateUrns, validated } from "./workspace";

/**
 * `npm run ops -- migrate`: a stack on the statefulset engine moves its database to CloudNativePG
 * through the operator's import (docs/postgres.md#moving-a-stack-from-statefulset-to-cloudnative-pg).
 *
 * 1. start: the API's role is fenced on the old server (no new connection, the open ones ended), so
 *    nothing is written after the copy begins; `postgresEngine: cloudnative-pg` with
 *    `postgresMigration: import` deploys the Cluster bootstrapped by `initdb.import` from the old server
 *    (kept as it was, same URNs), and points the API at the Cluster; then waits for it and checks that
 *    every table holds the same rows on both.
 * 2. finish: the old server leaves the stack (unprotected first); its volume stays in Kubernetes.
 *    Or abort: back to the old server, the Cluster released, the API's role unfenced.
 */

/** Stops the API role's writes on the old server: no new connection (a non-superuser is held to the limit; the roles sidecar keeps LOGIN, not the limit), the open ones ended. */
export const fenceSql = (role: string) => [
    `ALTER ROLE "${role}" CONNECTION LIMIT 0`,
    `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = '${role}'`,
];
/** Undoes the fence. */
export const unfenceSql = (role: string) => [`ALTER ROLE "${role}" CONNECTION LIMIT -1`];

/** SQL on the statefulset engine's server as its superuser (the pod's local socket). */
function serverSql(ctx: OpsContext, database: string, statements: string[]): string {
    return kubectl(ctx, [
        "exec",
        `statefulset/${names.postgres.statefulSet}`,
        "-c",
        names.postgres.container,
        "--",
        "psql",
        "-X",
        "-A",
        "-t",
        "-v",
        "ON_ERROR_STOP=1",
        "-U",
        postgresRoles.superuser,
        "-d",
        database,
        ...statements.flatMap((q) => ["-c", q]),
    ]);
}

/** `--set key=value` pairs: the cloudnative-pg settings the stack needs from the switch on (instances, pooler, ...). */
export function parseSets(values: readonly string[]): Record<string, string> {
    return Object.fromEntries(
        values.map((v) => {
            const at = v.indexOf("=");
            if (at <= 0) {
                throw new UsageError(`--set ${v}: expected key=value, e.g. --set postgresInstances=3`);
            }
            return [v.slice(0, at), v.slice(at + 1)];
        }),
    );
}

/** The URNs of the statefulset engine's objects (children of Postgres that are not CloudNativePG's). */
function statefulSetUrns(ctx: OpsContext): string[] {
    const cnpg = [`$${clusterType}::`, "postgresql.cnpg.io", "barmancloud.cnpg.io", `::${names.cloudNativePg.appSecret}`, "::postgres-app-password"];
    return [...stateUrns(ctx)].filter((u) => u.includes("::healthcare:data:Postgres$") && !cnpg.some((c) => u.includes(c)));
}

/** Step 1: fence, deploy the import, wait, and check every table's rows on both servers. */
export function migrateStart(ctx: OpsContext, options: BackupOptions, sets: Record<string, string>, yes: boolean): void {
    const s = ctx.settings.postgres;
    if (s.engine !== "statefulset") {
        throw new UsageError(
            s.importSource
                ? `migrate: stack ${ctx.stack} is importing already; next: npm run ops -- migrate --finish (or --abort); nothing was changed`
                : `migrate: stack ${ctx.stack} runs cloudnative-pg already; nothing was changed`,
        );
    }
    const backupVolume = ctx.settings.postgresBackup !== undefined;
    const change: Record<string, string> = {
        ...sets,
        postgresEngine: "cloudnative-pg",
        postgresMigration: "import",
        // The statefulset engine's dumps stop with it; their protected volume stays in Kubernetes.
        ...(backupVolume ? { postgresBackupVolumeRelease: "true" } : {}),
    };
    validated(ctx.stack, change);
    requireConfirmation(ctx, "migrate");
    const answer = yes
        ? "yes"
        : options.ask(`stack ${ctx.stack}: the API stops writing to PostgreSQL now, until the Cluster has imported database ${s.database} (minutes per GB). Go on? [yes/no] `);
    if (answer?.trim().toLowerCase() !== "yes") {
        throw new UsageError(`migrate: not confirmed (--yes in scripts); nothing was changed`);
    }
    useBackend(ctx);
    const restore = configValues(ctx, Object.keys(change));
    configSet(ctx, change);
    const released = backupVolume && ctx.settings.protectData ? [...stateUrns(ctx)].filter((u) => u.endsWith(`::${names.postgresBackup.volumeClaim}`)) : [];
    // Fenced after the preview is confirmed and before anything deploys: nothing is written after the copy begins.
    let fenced = false;
    const fence = () => {
        serverSql(ctx, "postgres", fenceSql(s.user));
        fenced = true;
        ctx.say(`the API's role ${s.user} is fenced on the statefulset server: no connection opens, the open ones were ended`);
    };
    try {
        deployReleasing(ctx, released, restore, fence);
    } catch (error) {
        if (!fenced) {
            configSet(ctx, restore);
            throw error;
        }
        if (!(error instanceof CommandError)) {
            throw error;
        }
        // The API's new pods wait for the Cluster, which imports for as long as the data takes.
        ctx.say("pulumi up stopped before the import ended (the API's rollout waits for the Cluster); waiting for the Cluster, then deploying again");
    }
    awaitReady(ctx, options, s.cluster);
    deployStack(ctx, restore, true);
    const before = parseRowCounts(serverSql(ctx, s.database, [rowCountsSql]));
    const after = parseRowCounts(sql(ctx, s.cluster, rowCountsSql));
    rowCountTable(before, after).forEach((line) => ctx.say(`  ${line}`));
    const different = [...new Set([...before.keys(), ...after.keys()])].filter((t) => before.get(t) !== after.get(t));
    if (different.length > 0) {
        throw new UsageError(
            `the Cluster ${s.cluster} does not hold the same rows as the statefulset server in ${different.join(", ")}: the API runs on the Cluster; ` +
                `compare them, then npm run ops -- migrate --abort --stack ${ctx.stack} to go back (or --finish if the difference is expected)`,
        );
    }
    ctx.say(`stack ${ctx.stack} runs on the Cluster ${s.cluster}, every table's rows equal; the statefulset server stays, fenced, until: npm run ops -- migrate --finish --stack ${ctx.stack}`);
}

/** Step 2: the statefulset server leaves the stack (finish), or the Cluster does and the server serves again (abort). */
export function migrateEnd(ctx: OpsContext, mode: "finish" | "abort"): void {
    const s = ctx.settings.postgres;
    if (!s.importSource) {
        throw new UsageError(`migrate --${mode}: stack ${ctx.stack} has no migration under way (postgresMigration is empty); nothing was changed`);
    }
    const change: Record<string, string> =
        mode === "finish"
            ? { postgresMigration: "", postgresRelease: "statefulset" }
            : { postgresMigration: "", postgresRelease: s.cluster, postgresEngine: "statefulset", postgresInstances: "1", postgresPoolerInstances: "0", postgresWalStorageSize: "" };
    validated(ctx.stack, change);
    requireConfirmation(ctx, `migrate --${mode}`);
    useBackend(ctx);
    const restore = configValues(ctx, Object.keys(change));
    configSet(ctx, change);
    const released = !ctx.settings.protectData ? [] : mode === "finish" ? statefulSetUrns(ctx) : [...stateUrns(ctx)].filter((u) => u.endsWith(`$${clusterType}::${s.cluster}`));
    deployReleasing(ctx, released, restore);
    configSet(ctx, { postgresRelease: "" });
    if (mode === "abort") {
        serverSql(ctx, "postgres", unfenceSql(s.user));
        ctx.say(`stack ${ctx.stack} is back on the statefulset server, its API role unfenced; the Cluster ${s.cluster} left the stack: kubectl delete clusters.postgresql.cnpg.io ${s.cluster} when nothing needs it`);
        return;
    }
    const pod = `${names.postgres.statefulSet}-0`;
    ctx.say(
        ctx.settings.protectData
            ? `the statefulset server left stack ${ctx.stack}; its pod ${pod} (fenced, orphaned) and its volume stay in Kubernetes: ` +
                  `kubectl delete pod ${pod} and pvc data-${pod} --namespace ${ctx.settings.namespace} when nothing needs them`
            : `the statefulset server left stack ${ctx.stack} (protectData is off: deleted; its volume data-${pod} stays until you delete it)`,
    );
}
