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
}

/** How the stack may treat what it holds. */
export interface DataChangeRules {
    /** The stack protects its data (`protectData`). */
    readonly protectData: boolean;
    /** The stack lets its protected backup volume go (`postgresBackupVolumeRelease`). */
    readonly releaseBackupVolume: boolean;
    /** The major the data is carried over from by backup and restore on the statefulset engine (`postgresUpgradeFromMajor`); undefined: none. */
    readonly upgradeFromMajor?: number;
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
    if (previous.postgresEngine !== next.postgresEngine) {
        problems.push(
            `postgresEngine = "${next.postgresEngine}", but this stack's database is on the ${previous.postgresEngine} engine: the switch would remove it and start an empty one. ` +
                `Move the data first (docs/postgres.md#moving-a-stack-from-statefulset-to-cloudnative-pg), ${discard}`,
        );
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
    if (previous.postgresBackupVolume && !next.postgresBackupVolume && rules.protectData && !rules.releaseBackupVolume) {
        problems.push(
            "the backup volume postgres-backups (the statefulset engine's dumps) is protected and this change would delete it with every backup on it. " +
                "To keep it, keep postgresBackupSchedule set and postgresEngine statefulset. To release it deliberately: copy the backups you need (npm run ops -- backups), " +
                "run `pulumi state unprotect` on its PersistentVolumeClaim, set postgresBackupVolumeRelease: true and pulumi up (the claim stays in the cluster: delete it with kubectl)",
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

/**
 * Reads this stack's own last outputs (a StackReference to itself: the engine serves the last
 * completed deployment's outputs, in preview too) and refuses, before anything is created, a change
 * that the data cannot survive: a major version the engine cannot upgrade to, an engine switch, the
 * deletion of a protected backup volume. The program awaits `allowed` before registering anything else.
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
        const last = new pulumi.StackReference("last-deployment", { name: args.stackName }, { parent: this });
        const stack = args.stackName.split("/")[2];
        this.allowed = last.getOutputDetails("dataFacts").then(({ value }) => {
            const previous = value as DataFacts | undefined;
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
