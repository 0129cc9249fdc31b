import { names } from "../../lib/names";
import { kubectl } from "./backups";
import { UsageError } from "./exec";
import { OpsContext, reviewedStack } from "./workspace";

/**
 * `prune-config`: deletes the Redis Cluster's old ConfigMap generations. Each change of what the
 * Redis pods or Jobs run makes a new content-named ConfigMap and Pulumi keeps the replaced one in the
 * cluster (retainOnDelete, components/redisCluster.ts), so that a pod of the previous revision or a
 * Job retry can still mount it. Nothing in the program can delete a generation it no longer tracks,
 * and the pods have no API access to do it, so this command does, on request: per base name it keeps
 * the two newest generations (the current one and the previous one) and every generation a pod,
 * StatefulSet, Job or CronJob of the namespace still names; it deletes the rest.
 */

/** The content-named ConfigMaps the program keeps after a change (`<base>-<10 hex digits>`, lib/names.ts contentName). */
export const retainedConfigMapBases = [names.redis.configMap, names.redis.jobScriptsConfigMap] as const;

/** Generations kept per base whatever names them: the current and the previous. */
export const keptGenerations = 2;

/** A ConfigMap generation as the API server lists it. */
export interface Generation {
    name: string;
    created: string;
}

/** The base a generation's name belongs to, or undefined for any other ConfigMap. */
export function baseOf(name: string): string | undefined {
    return retainedConfigMapBases.find((base) => new RegExp(`^${base}-[0-9a-f]{10}$`).test(name));
}

/** Every ConfigMap name an object's pod template or pod spec mounts (volumes, projected sources, envFrom, env). */
export function configMapsNamedBy(object: unknown): Set<string> {
    const found = new Set<string>();
    const walk = (value: unknown): void => {
        if (Array.isArray(value)) {
            value.forEach(walk);
        } else if (value && typeof value === "object") {
            for (const [key, child] of Object.entries(value)) {
                // volumes[].configMap, projected sources' configMap, envFrom[].configMapRef, env[].valueFrom.configMapKeyRef.
                if ((key === "configMap" || key === "configMapRef" || key === "configMapKeyRef") && child && typeof child === "object") {
                    const name = (child as { name?: unknown }).name;
                    if (typeof name === "string") {
                        found.add(name);
                    }
                }
                walk(child);
            }
        }
    };
    walk(object);
    return found;
}

/** Which generations to delete: per base, all but the `keptGenerations` newest and those in use. */
export function generationsToDelete(generations: readonly Generation[], inUse: ReadonlySet<string>): Generation[] {
    const byBase = new Map<string, Generation[]>();
    for (const g of generations) {
        const base = baseOf(g.name);
        if (base !== undefined) {
            byBase.set(base, [...(byBase.get(base) ?? []), g]);
        }
    }
    const doomed: Generation[] = [];
    for (const list of byBase.values()) {
        // Newest first; creation times tie at one-second resolution, the name then decides (stable).
        const sorted = [...list].sort((a, b) => b.created.localeCompare(a.created) || a.name.localeCompare(b.name));
        doomed.push(...sorted.slice(keptGenerations).filter((g) => !inUse.has(g.name)));
    }
    return doomed.sort((a, b) => a.name.localeCompare(b.name));
}

function items(json: string, what: string): any[] {
    try {
        return (JSON.parse(json) as { items?: any[] }).items ?? [];
    } catch {
        throw new UsageError(`kubectl get ${what} -o json printed no JSON list`);
    }
}

/** Lists, decides, and (confirmed on staging and production) deletes. */
export function pruneConfig(ctx: OpsContext): void {
    const configMaps = items(kubectl(ctx, ["get", "configmaps", "-l", "app.kubernetes.io/name=redis-cluster", "-o", "json"]), "configmaps");
    const generations: Generation[] = configMaps
        .map((c) => ({ name: String(c?.metadata?.name ?? ""), created: String(c?.metadata?.creationTimestamp ?? "") }))
        .filter((g) => baseOf(g.name) !== undefined);
    const users = items(kubectl(ctx, ["get", "pods,statefulsets,jobs,cronjobs", "-o", "json"]), "pods,statefulsets,jobs,cronjobs");
    const inUse = new Set(users.flatMap((o) => [...configMapsNamedBy(o?.spec)]));
    const doomed = generationsToDelete(generations, inUse);
    const kept = generations.length - doomed.length;
    if (doomed.length === 0) {
        ctx.say(`nothing to prune: ${generations.length} Redis ConfigMap generation(s), each one of the ${keptGenerations} newest of its kind or in use`);
        return;
    }
    ctx.say(`${doomed.length} old Redis ConfigMap generation(s) nothing uses (keeping ${kept}: the ${keptGenerations} newest of each kind and any in use):`);
    doomed.forEach((g) => ctx.say(`  ${g.name} (created ${g.created})`));
    if (reviewedStack(ctx) && !ctx.yes) {
        const answer = ctx.ask?.(`Delete them from ${ctx.stack} (${ctx.settings.environment})? Type yes to delete: `);
        if (answer === undefined) {
            throw new UsageError(`prune-config on stack ${ctx.stack} (${ctx.settings.environment}) deletes only after you confirm, and there is no terminal to ask on. Run it in a terminal, or add --yes. Nothing was deleted`);
        }
        if (answer.trim().toLowerCase() !== "yes") {
            throw new UsageError(`not pruned: ${ctx.stack} was not confirmed; nothing was deleted`);
        }
    }
    // --ignore-not-found: another run (or a person) may have deleted one meanwhile.
    kubectl(ctx, ["delete", "configmap", "--ignore-not-found", ...doomed.map((g) => g.name)]);
    ctx.say(`deleted ${doomed.length}; kept ${kept}`);
}
