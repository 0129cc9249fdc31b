import * as pulumi from "@pulumi/pulumi";
import { PostgresEngine } from "../config";
import { checkArgs } from "../lib/args";

/** What a deployment of this stack holds data in: recorded as the stack output `dataFacts`, read by the next run. */
export interface DataFacts {
    /** The engine that holds the database. */
    readonly postgresEngine: PostgresEngine;
    /** The PostgreSQL major version the data is in. */
    readonly postgresMajorVersion: number;
    /** Whether the stack has the statefulset engine's backup volume. */
    readonly postgresBackupVolume: boolean;
    /** cloudnative-pg: the Cluster the API uses; absent in deployments before recoveries existed (then postgres). */
    readonly postgresCluster?: string;
    /** cloudnative-pg: every Cluster the stack holds (the serving one, a recovery's source and result). */
    readonly postgresClusters?: readonly string[];
    /** cloudnative-pg: the StatefulSet of the statefulset engine is kept while the Cluster imports its database (`postgresMigration: import`). */
    readonly postgresImportSource?: boolean;
    /** cloudnative-pg: the point-in-time recovery under way, if any. */
    readonly postgresRecovery?: { readonly cluster: string; readonly targetTime: string };
    /** How the Redis nodes talk to each other and their clients; absent in deployments before ACL users existed (one password, plain text). */
    readonly redisTransport?: RedisTransport;
    /** The Redis Cluster's node count; absent in deployments before it was recorded. */
    readonly redisNodes?: number;
}

/** How the Redis nodes talk: ACL users, over TLS or plain text; or, before ACL users, one password over plain text. */
export type RedisTransport = "tls-acl" | "plain-acl" | "plain-password";

/** How the stack may treat what it holds. */
export interface DataChangeRules {
    /** The stack protects its data (`protectData`). */
    readonly protectData: boolean;
    /** The stack lets its protected backup volume go (`postgresBackupVolumeRelease`). */
    readonly releaseBackupVolume: boolean;
    /** The major the data is carried over from by backup and restore on the statefulset engine (`postgresUpgradeFromMajor`); undefined: none. */
    readonly upgradeFromMajor?: number;
    /** What the stack lets go with its data (`postgresRelease`: a Cluster's name, or statefulset); undefined: nothing. */
    readonly release?: string;
    /** This deployment is the maintenance window that changes the Redis transport (`redisTransportSwitch`). */
    readonly redisTransportSwitch?: boolean;
}

const redisTransportText: Record<RedisTransport, string> = {
    "tls-acl": "TLS with ACL users",
    "plain-acl": "plain text with ACL users",
    "plain-password": "plain text with one password (before ACL users)",
};

/**
 * A change of the Redis transport on a deployed cluster: a node on the new one cannot talk to a node on
 * the old one (TLS against plain text on the bus; ACL users a node of the old kind does not know), so a
 * rolling restart would split the cluster and fail writes for the whole roll. Refused unless the
 * deployment is the maintenance window for it (`redisTransportSwitch`).
 */
function redisTransportProblems(previous: DataFacts, next: DataFacts, rules: DataChangeRules): string[] {
    const before = previous.redisTransport ?? "plain-password";
    const after = next.redisTransport;
    if (rules.redisTransportSwitch && previous.redisNodes !== undefined && next.redisNodes !== undefined && previous.redisNodes !== next.redisNodes) {
        // The switch skips the scale-in Job: a cluster that shrinks in the same deployment would lose the leaving nodes' slots.
        return [`redisNodes = ${next.redisNodes}, but the deployed Redis Cluster has ${previous.redisNodes} nodes and redisTransportSwitch is on: change the node count in a deployment of its own, before or after the switch`];
    }
    if (after === undefined || before === after || rules.redisTransportSwitch) {
        return [];
    }
    return [
        `the deployed Redis Cluster talks ${redisTransportText[before]}, this deployment ${redisTransportText[after]} (redisTls = ${after === "tls-acl"}): ` +
            "a rolling restart would split the cluster (a node of one kind cannot talk to a node of the other) and fail writes for the whole roll. " +
            "Plan a maintenance window: set redisTransportSwitch: true for that deployment, run pulumi up, and once it waits on the StatefulSet delete every Redis pod at once " +
            "(docs/redis.md#switching-a-running-cluster); then unset it. Or, for the TLS part only, keep redisTls as it was deployed",
    ];
}

/** The Cluster that held the data before recoveries existed (its name then was fixed). */
const firstCluster = "postgres";

/** The Clusters a deployment holds, as recorded (or as they were before the record had them). */
function deployedClusters(facts: DataFacts): readonly string[] {
    return facts.postgresEngine !== "cloudnative-pg" ? [] : (facts.postgresClusters ?? [facts.postgresCluster ?? firstCluster]);
}

/** The oldest major CloudNativePG upgrades to (its webhook refuses a lower target). */
const cloudNativePgOldestTarget = 16;

/**
 * The problems of deploying `next` over data that `previous` describes (undefined: nothing deployed
 * yet). Each names the setting, the change and the way forward; an empty list lets the run go on.
 */
export function dataChangeProblems(previous: DataFacts | undefined, next: DataFacts, rules: DataChangeRules): string[] {
    if (!previous) {
        return [];
    }
    const problems: string[] = [];
    const discard = "or, if the data may be discarded, destroy the stack first (npm run local:down on the local stack)";
    const migration = migrationProblems(previous, next, rules);
    if (migration !== undefined) {
        problems.push(...migration);
    } else if (previous.postgresMajorVersion !== next.postgresMajorVersion) {
        const from = previous.postgresMajorVersion;
        const to = next.postgresMajorVersion;
        // The runbook's carry-over (backup, fresh volume, restore), either way: to the new major, or back.
        const carriedOver = rules.upgradeFromMajor !== undefined && [from, to].includes(rules.upgradeFromMajor);
        if (next.postgresEngine === "statefulset" && !carriedOver) {
            problems.push(
                `postgresVersion is PostgreSQL ${to}, a major-version change from ${from} on the statefulset engine: the server would start an empty database beside the old one. ` +
                    `Upgrade path: docs/postgres.md#major-version-upgrades (back up, set postgresUpgradeFromMajor: ${from}, restore into a fresh volume), ${discard}`,
            );
        } else if (next.postgresEngine === "statefulset") {
            // Carried over by the runbook: the start-up guard keeps the server off the old volume meanwhile.
        } else if (to < from) {
            problems.push(`postgresVersion is PostgreSQL ${to}, a downgrade from ${from}: no engine can downgrade data in place; restore a backup of ${to} into a new Cluster instead`);
        } else if (to < cloudNativePgOldestTarget) {
            problems.push(`postgresVersion is PostgreSQL ${to}: CloudNativePG upgrades in place to ${cloudNativePgOldestTarget} or later only; choose ${cloudNativePgOldestTarget}+`);
        }
    }
    problems.push(...clusterProblems(previous, next, rules));
    problems.push(...redisTransportProblems(previous, next, rules));
    if (previous.postgresBackupVolume && !next.postgresBackupVolume && rules.protectData && !rules.releaseBackupVolume) {
        problems.push(
            "the backup volume postgres-backups (the statefulset engine's dumps) is protected and this change would delete it with every backup on it. " +
                "To keep it, keep postgresBackupSchedule set and postgresEngine statefulset. To release it deliberately: copy the backups you need (npm run ops -- backups), " +
                "run `pulumi state unprotect` on its PersistentVolumeClaim, set postgresBackupVolumeRelease: true and pulumi up (the claim stays in the cluster: delete it with kubectl)",
        );
    }
    return problems;
}

const migrationRunbook = "docs/postgres.md#moving-a-stack-from-statefulset-to-cloudnative-pg";

/**
 * An engine switch, or the statefulset engine's server leaving, and the import that moves the data
 * between them (`postgresMigration: import`). Undefined when neither engine nor import changes, so the
 * version rules apply.
 */
function migrationProblems(previous: DataFacts, next: DataFacts, rules: DataChangeRules): string[] | undefined {
    const hadStatefulSet = previous.postgresEngine === "statefulset" || previous.postgresImportSource === true;
    const keepsStatefulSet = next.postgresEngine === "statefulset" || next.postgresImportSource === true;
    if (previous.postgresEngine === next.postgresEngine && hadStatefulSet === keepsStatefulSet) {
        return undefined;
    }
    const discard = "or, if the data may be discarded, destroy the stack first (npm run local:down on the local stack)";
    if (next.postgresImportSource && !hadStatefulSet) {
        return [`postgresMigration = "import", but this stack's last deployment did not run the statefulset engine: there is no server to import from. Leave postgresMigration empty`];
    }
    if (previous.postgresImportSource && next.postgresEngine === "statefulset") {
        // The import given up: back to the server that never left.
        return [];
    }
    if (hadStatefulSet && !keepsStatefulSet) {
        if (previous.postgresEngine === "statefulset") {
            return [
                `postgresEngine = "${next.postgresEngine}", but this stack's database is on the statefulset engine: the switch would remove it and start an empty one. ` +
                    `Move the data with npm run ops -- migrate (postgresMigration: import; ${migrationRunbook}), ${discard}`,
            ];
        }
        return rules.protectData && rules.release !== "statefulset"
            ? [
                  "the statefulset engine's server (the import's source) would leave the stack with its protected objects. Once the Cluster holds every row: " +
                      "npm run ops -- migrate --finish (or run `pulumi state unprotect` on them and set postgresRelease: statefulset); its volume stays in Kubernetes until you delete it",
              ]
            : [];
    }
    if (keepsStatefulSet && previous.postgresMajorVersion !== next.postgresMajorVersion) {
        return [
            `postgresVersion is PostgreSQL ${next.postgresMajorVersion}, but the statefulset engine's server holds ${previous.postgresMajorVersion} and stays while the import runs: ` +
                `keep ${previous.postgresMajorVersion} until the migration is finished, then upgrade the Cluster (docs/postgres.md#major-version-upgrades, the CloudNativePG engine)`,
        ];
    }
    if (next.postgresImportSource) {
        return [];
    }
    if (previous.postgresEngine !== next.postgresEngine) {
        return [
            `postgresEngine = "${next.postgresEngine}", but this stack's database is on the ${previous.postgresEngine} engine: the switch would remove it and start an empty one. ` +
                `Move the data first (restore a backup into the new engine), ${discard}`,
        ];
    }
    return [];
}

/** CloudNativePG Clusters: none leaves unreleased, a recovery gets a new one, the API switches only to one already recovered. */
function clusterProblems(previous: DataFacts, next: DataFacts, rules: DataChangeRules): string[] {
    if (previous.postgresEngine !== "cloudnative-pg") {
        return [];
    }
    const problems: string[] = [];
    const before = deployedClusters(previous);
    const after = deployedClusters(next);
    for (const gone of before.filter((c) => !after.includes(c))) {
        if (rules.protectData && rules.release !== gone) {
            problems.push(
                `the Cluster ${gone} holds a database and this change would remove it from the stack. To let it go deliberately once nothing needs it ` +
                    `(a recovery switched away from it): npm run ops -- restore --finish (or run \`pulumi state unprotect\` on it and set postgresRelease: ${gone}); ` +
                    "it then stays in Kubernetes until you delete it",
            );
        }
    }
    if (next.postgresEngine !== "cloudnative-pg") {
        return problems;
    }
    const recovery = next.postgresRecovery;
    const sameRecovery = recovery && previous.postgresRecovery?.cluster === recovery.cluster && previous.postgresRecovery.targetTime === recovery.targetTime;
    if (recovery && before.includes(recovery.cluster) && !sameRecovery) {
        problems.push(
            `postgresRecoveryCluster = "${recovery.cluster}" names a Cluster this stack already has: it would stay as it is, not be recovered to ${recovery.targetTime}. ` +
                "Recover into a new name (npm run ops -- restore --to <time> picks one)",
        );
    }
    const serving = next.postgresCluster ?? firstCluster;
    if (serving !== (previous.postgresCluster ?? firstCluster) && !before.includes(serving)) {
        problems.push(
            `postgresCluster = "${serving}": the API would switch to a Cluster that does not exist yet (still recovering, never checked). ` +
                "Recover it first with the API on the current Cluster, check it, then switch (npm run ops -- restore --switch)",
        );
    }
    return problems;
}

/** Thrown when the stack's new settings would lose or hide the data its last deployment holds. */
export class DataChangeError extends pulumi.RunError {
    constructor(stack: string, problems: readonly string[]) {
        super(`Stack "${stack}" refuses ${problems.length === 1 ? "a change" : `${problems.length} changes`} to its data; nothing was deployed:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
        this.name = "DataChangeError";
    }
}

/** Args of the check against the stack's last deployment. */
export interface DataChangeGuardArgs {
    /** `<organization>/<project>/<stack>`: this stack, whose last outputs hold the facts. */
    stackName: string;
    /** What this run deploys. */
    facts: DataFacts;
    /** What the stack allows. */
    rules: DataChangeRules;
}

/** How often the guard tries to read the stack's last outputs, and how long it waits after the first failure (doubling after each). */
export const lastOutputReads = { attempts: 5, firstWaitMs: 100 } as const;

/**
 * This stack's outputs from its last completed deployment, as the engine serves them (in preview
 * too; none for a new stack). Through the engine's `readStackOutputs` invoke, which is what a
 * StackReference reads, but retried: on the file backend (`file://`, `pulumi login --local`) the read
 * can fail with "failed to load checkpoint: EOF" while the engine rewrites this very stack's
 * checkpoint (the backend's storage rewrites a file's attributes in place, gocloud.dev's fileblob), and
 * a StackReference's failed read fails the whole run.
 */
async function readLastOutputs(stackName: string, parent: pulumi.Resource): Promise<Record<string, unknown>> {
    const failures: string[] = [];
    for (let attempt = 0; attempt < lastOutputReads.attempts; attempt++) {
        if (attempt > 0) {
            await new Promise((done) => setTimeout(done, lastOutputReads.firstWaitMs * 2 ** (attempt - 1)));
        }
        try {
            const read: { outputs?: Record<string, unknown> } = await pulumi.runtime.invoke("pulumi:pulumi:readStackOutputs", { name: stackName }, { parent });
            return read.outputs ?? {};
        } catch (error) {
            failures.push((error as Error).message);
        }
    }
    throw new pulumi.RunError(
        `Stack "${stackName}": its last deployment's outputs could not be read (${lastOutputReads.attempts} tries: ${[...new Set(failures)].join("; ")}); ` +
            "nothing was deployed. The guard needs them to refuse a change the data cannot survive; check the backend's state, then run again",
    );
}

/**
 * Reads this stack's own last outputs (readLastOutputs: the engine serves the last completed
 * deployment's outputs, in preview too) and refuses, before anything is created, a change
 * that the data cannot survive: a major version the engine cannot upgrade to, an engine switch, the
 * deletion of a protected backup volume. The program awaits `allowed` (beside the cluster check) before
 * registering any Kubernetes object.
 */
export class DataChangeGuard extends pulumi.ComponentResource {
    /** Resolves once the change is allowed; rejects with `DataChangeError` otherwise. */
    readonly allowed: Promise<void>;

    constructor(name: string, args: DataChangeGuardArgs, opts?: pulumi.ComponentResourceOptions) {
        super("healthcare:data:DataChangeGuard", name, {}, opts);
        checkArgs("DataChangeGuard", name, [
            !/^[^/\s]+\/[^/\s]+\/[^/\s]+$/.test(args.stackName) && `stackName "${args.stackName}" is not <organization>/<project>/<stack>`,
            !(Number.isInteger(args.facts.postgresMajorVersion) && args.facts.postgresMajorVersion > 0) && `facts.postgresMajorVersion ${args.facts.postgresMajorVersion} is not a major version`,
        ]);
        const stack = args.stackName.split("/")[2];
        this.allowed = readLastOutputs(args.stackName, this).then((outputs) => {
            const previous = outputs.dataFacts as DataFacts | undefined;
            const problems = dataChangeProblems(previous, args.facts, args.rules);
            if (problems.length > 0) {
                throw new DataChangeError(stack, problems);
            }
            if (previous && previous.postgresMajorVersion < args.facts.postgresMajorVersion) {
                pulumi.log.warn(
                    `PostgreSQL ${previous.postgresMajorVersion} -> ${args.facts.postgresMajorVersion}: the operator upgrades offline (every instance down during pg_upgrade); take a base backup right after (docs/postgres.md#major-version-upgrades, the CloudNativePG engine)`,
                    this,
                );
            }
        });
        this.registerOutputs({});
    }
}
