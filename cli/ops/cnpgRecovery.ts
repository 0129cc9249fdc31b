import { postgresRoles } from "../../components/postgres";
import { rfc3339 } from "../../config";
import { names } from "../../lib/names";
import { backupSettings, BackupOptions, kubectl, pollUntil } from "./backups";
import { clusterBackupNow, firstRecoverable, listClusterBackups, pitrRunbook, utc } from "./cnpgBackups";
import { UsageError } from "./exec";
import { configSet, configValues, deployReleasing, deployStack, kubectlTarget, OpsContext, requireConfirmation, stateUrns, validated } from "./workspace";
import { useBackend } from "./commands";

/**
 * `npm run ops -- restore --to <time>` on the cloudnative-pg engine: point-in-time recovery as three
 * deployments of the stack, each a config change the program validates and its DataChangeGuard checks.
 *
 * 1. recover: a new Cluster bootstrapped from the serving Cluster's base backups and WAL archive up to
 *    the moment, beside it; the API stays where it is. Waited for, then checked (promoted, the database
 *    there, its tables' rows beside the serving Cluster's).
 * 2. switch: the API (through the pooler), the scheduled backups and the CA move to the recovered
 *    Cluster; a base backup of it is taken at once. The old Cluster stays, protected, to go back to.
 * 3. finish: the old Cluster leaves the stack (unprotected first; `retainOnDelete` keeps it running in
 *    Kubernetes until someone deletes it). `--cancel` instead drops a recovery that was not switched to.
 */

export const clusterResource = "clusters.postgresql.cnpg.io";
export const clusterType = "kubernetes:postgresql.cnpg.io/v1:Cluster";
const recoveryKeys = { cluster: "postgresRecoveryCluster", source: "postgresRecoverySource", targetTime: "postgresRecoveryTargetTime" } as const;

/** The recovered Cluster's name for a moment: postgres-pitr-20261203t101500z (new per moment; the guard refuses reuse). */
export const recoveryClusterName = (target: Date) => `postgres-pitr-${utc(target).replace(/[-:]/g, "").toLowerCase()}`;

/** Each table's exact row count, one `schema.table|rows` line per table (every user table of the database). */
export const rowCountsSql =
    "select n.nspname || '.' || c.relname, (xpath('/row/c/text()', query_to_xml(format('select count(*) as c from %I.%I', n.nspname, c.relname), false, true, '')))[1]::text " +
    "from pg_class c join pg_namespace n on n.oid = c.relnamespace " +
    "where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%' order by 1";

/** `schema.table|rows` lines as a map. */
export function parseRowCounts(text: string): Map<string, number> {
    const counts = new Map<string, number>();
    for (const line of text.split("\n")) {
        const match = /^([^|]+)\|(\d+)$/.exec(line.trim());
        if (match) {
            counts.set(match[1], Number(match[2]));
        }
    }
    return counts;
}

/** The comparison the check prints: every table of either side, its rows now and at the recovered moment. */
export function rowCountTable(serving: Map<string, number>, recovered: Map<string, number>): string[] {
    const tables = [...new Set([...serving.keys(), ...recovered.keys()])].sort();
    const rows = [["TABLE", "ROWS NOW", "ROWS RECOVERED"], ...tables.map((t) => [t, String(serving.get(t) ?? "-"), String(recovered.get(t) ?? "missing")])];
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd());
}

function cnpgOnly(ctx: OpsContext): void {
    if (ctx.settings.postgres.engine !== "cloudnative-pg") {
        throw new UsageError(`restore --to/--switch/--finish/--cancel are for postgresEngine cloudnative-pg; stack ${ctx.stack} runs statefulset (npm run ops -- restore <backup> restores a dump)`);
    }
}

/** The primary pod of a Cluster, once the operator reports one. */
export function primaryPod(ctx: OpsContext, cluster: string): string {
    const primary = JSON.parse(kubectl(ctx, ["get", clusterResource, cluster, "-o", "json"])).status?.currentPrimary;
    if (!primary) {
        throw new UsageError(`the Cluster ${cluster} reports no primary yet (kubectl describe ${clusterResource} ${cluster})`);
    }
    return primary;
}

/** Runs SQL in a Cluster's primary as the local superuser (the operator's own way in: the pod's socket). */
export function sql(ctx: OpsContext, cluster: string, query: string): string {
    return kubectl(ctx, ["exec", primaryPod(ctx, cluster), "-c", "postgres", "--", "psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", ctx.settings.postgres.database, "-c", query]);
}

/** Waits for the recovered Cluster to be Ready (the operator replays the WAL up to the moment, then promotes it). */
export function awaitReady(ctx: OpsContext, options: BackupOptions, cluster: string): void {
    let phase = "";
    pollUntil(
        options,
        24 * 3600,
        () => {
            const status = JSON.parse(kubectl(ctx, ["get", clusterResource, cluster, "-o", "json"])).status ?? {};
            const ready = (status.conditions ?? []).some((c: any) => c.type === "Ready" && c.status === "True");
            if (status.phase && status.phase !== phase) {
                ctx.say(`  ${status.phase}`);
                phase = status.phase;
            }
            return ready ? true : undefined;
        },
        (seconds) => `the Cluster ${cluster} is not Ready after ${seconds} s (phase ${phase || "none yet"}): kubectl describe ${clusterResource} ${cluster}`,
    );
}

/** Checks a recovered Cluster: promoted (writable), its database there, its tables' rows beside the serving Cluster's. */
export function checkRecovered(ctx: OpsContext, recovered: string, serving: string): void {
    if (sql(ctx, recovered, "select pg_is_in_recovery()").trim() !== "f") {
        throw new UsageError(`the Cluster ${recovered} is still in recovery (not promoted): kubectl describe ${clusterResource} ${recovered}; the API was not switched`);
    }
    const now = parseRowCounts(sql(ctx, serving, rowCountsSql));
    const then = parseRowCounts(sql(ctx, recovered, rowCountsSql));
    ctx.say(`the Cluster ${recovered} is promoted and serves database ${ctx.settings.postgres.database}; its tables beside ${serving}'s:`);
    rowCountTable(now, then).forEach((line) => ctx.say(`  ${line}`));
    const missing = [...now.keys()].filter((t) => !then.has(t));
    if (missing.length > 0) {
        ctx.say(`  ${missing.length} table(s) are not in the recovered database (created after the moment?): ${missing.join(", ")}`);
    }
}

/** Step 1: recover a new Cluster to `to` beside the serving one, wait, check; then switch when told to. */
export function recoverTo(ctx: OpsContext, options: BackupOptions, to: string | undefined, yes: boolean): void {
    cnpgOnly(ctx);
    const s = ctx.settings.postgres;
    if (s.recovery) {
        throw new UsageError(
            `a recovery is under way on stack ${ctx.stack}: ${s.recovery.cluster} from ${s.recovery.source} at ${s.recovery.targetTime}, the API on ${s.cluster}. ` +
                `Carry it on (--switch, then --finish) or drop it (--cancel) first; nothing was changed`,
        );
    }
    if (!to || !rfc3339.test(to) || Number.isNaN(Date.parse(to))) {
        throw new UsageError(`restore --to ${to ?? ""}: expected a moment in RFC 3339 with a zone, e.g. --to 2026-12-03T10:15:00Z`);
    }
    const target = new Date(to);
    backupSettings(ctx);
    const now = options.now();
    const from = firstRecoverable(listClusterBackups(ctx));
    if (!from || target < from || target > now) {
        throw new UsageError(
            `restore --to ${to}: ${from ? `the recoverable window of Cluster ${s.cluster} is ${utc(from)} to now (${utc(now)})` : `Cluster ${s.cluster} has no completed base backup yet, so nothing is recoverable`} ` +
                `(npm run ops -- backups --stack ${ctx.stack}); nothing was changed`,
        );
    }
    const recovery = { [recoveryKeys.cluster]: recoveryClusterName(target), [recoveryKeys.source]: s.cluster, [recoveryKeys.targetTime]: to };
    validated(ctx.stack, recovery);
    requireConfirmation(ctx, "restore --to");
    useBackend(ctx);
    const name = recovery[recoveryKeys.cluster];
    ctx.say(`recovering Cluster ${name} from ${s.cluster}'s backups and WAL to ${to}; the API stays on ${s.cluster}`);
    const before = configValues(ctx, Object.keys(recovery));
    configSet(ctx, recovery);
    deployStack(ctx, before);
    awaitReady(ctx, options, name);
    checkRecovered(ctx, name, s.cluster);
    const answer = yes ? "yes" : options.ask(`switch the API of stack ${ctx.stack} to ${name} (the data as it was at ${to})? [yes/no] `);
    if (answer?.trim().toLowerCase() !== "yes") {
        ctx.say(
            `the API stays on ${s.cluster}. Next: npm run ops -- restore --switch --stack ${ctx.stack} (switch to ${name}), ` +
                `or --cancel (drop it). Runbook: ${pitrRunbook}`,
        );
        return;
    }
    switchToRecovered({ ...ctx, settings: validated(ctx.stack, recovery) }, options);
}

/** Step 2: the API, the scheduled backups and the CA follow the recovered Cluster; a base backup of it at once. */
export function switchToRecovered(ctx: OpsContext, options: BackupOptions): void {
    cnpgOnly(ctx);
    const s = ctx.settings.postgres;
    if (!s.recovery || s.cluster !== s.recovery.source) {
        throw new UsageError(`restore --switch: stack ${ctx.stack} has no recovery waiting to be switched to (the API is on ${s.cluster}); nothing was changed`);
    }
    const change = { postgresCluster: s.recovery.cluster };
    const next = validated(ctx.stack, change);
    requireConfirmation(ctx, "restore --switch");
    useBackend(ctx);
    const before = configValues(ctx, Object.keys(change));
    configSet(ctx, change);
    deployStack(ctx, before);
    ctx.say(`the API of stack ${ctx.stack} is on ${s.recovery.cluster} (the data as it was at ${s.recovery.targetTime}); ${s.recovery.source} is kept, protected`);
    // The recovered Cluster's own timeline starts here: a base backup makes it recoverable from now on.
    clusterBackupNow({ ...ctx, settings: next }, options);
    ctx.say(`when nothing needs ${s.recovery.source} any more: npm run ops -- restore --finish --stack ${ctx.stack}`);
}

/** Step 3 (or dropping an unswitched recovery): the Cluster not serving leaves the stack; it keeps running in Kubernetes. */
export function endRecovery(ctx: OpsContext, mode: "finish" | "cancel"): void {
    cnpgOnly(ctx);
    const s = ctx.settings.postgres;
    const switched = s.recovery !== undefined && s.cluster === s.recovery.cluster;
    if (!s.recovery || (mode === "finish") !== switched) {
        throw new UsageError(
            mode === "finish"
                ? `restore --finish: stack ${ctx.stack} has no recovery that was switched to (${s.recovery ? `switch to ${s.recovery.cluster} first, or --cancel` : "none under way"}); nothing was changed`
                : `restore --cancel: stack ${ctx.stack} has no recovery that the API is not on (${s.recovery ? `it already serves from ${s.recovery.cluster}: --finish` : "none under way"}); nothing was changed`,
        );
    }
    const leaving = mode === "finish" ? s.recovery.source : s.recovery.cluster;
    const change = { [recoveryKeys.cluster]: "", [recoveryKeys.source]: "", [recoveryKeys.targetTime]: "", postgresRelease: leaving };
    validated(ctx.stack, change);
    requireConfirmation(ctx, `restore --${mode}`);
    useBackend(ctx);
    const before = configValues(ctx, Object.keys(change));
    configSet(ctx, change);
    deployReleasing(ctx, ctx.settings.protectData ? [...stateUrns(ctx)].filter((u) => u.endsWith(`$${clusterType}::${leaving}`)) : [], before);
    configSet(ctx, { postgresRelease: "" });
    ctx.say(
        `the Cluster ${leaving} left stack ${ctx.stack}` +
            (ctx.settings.protectData
                ? ` and still runs in Kubernetes with its volumes; delete it when nothing needs it: kubectl delete ${clusterResource} ${leaving} --namespace ${ctx.settings.namespace}`
                : " and was deleted with its volumes (protectData is off)"),
    );
}

/** `psql` in the database as the local superuser: the StatefulSet's pod, or the Cluster's primary. */
export function psql(ctx: OpsContext): void {
    const s = ctx.settings.postgres;
    const pod = s.engine === "cloudnative-pg" ? primaryPod(ctx, s.cluster) : `statefulset/${names.postgres.statefulSet}`;
    const user = s.engine === "cloudnative-pg" ? [] : ["-U", postgresRoles.superuser];
    ctx.runner.run("kubectl", [...kubectlTarget(ctx), "exec", "-it", pod, "-c", "postgres", "--", "psql", ...user, "-d", s.database]);
}
