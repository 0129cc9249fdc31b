import { readSync } from "fs";
import { readProject, projectRoot } from "../../harness/stackConfig";
import { backupNow, BackupOptions, overwriteProductionFlag, restoreBackup, showBackups } from "./backups";
import { access, logs, restart, rollback, scale, setImage, shell, status, stop, useBackend } from "./commands";
import { CommandError, processRunner, UsageError } from "./exec";
import { clusterBackupNow, refuseClusterRestore, showClusterBackups } from "./cnpgBackups";
import { endRecovery, psql, recoverTo, switchToRecovered } from "./cnpgRecovery";
import { pruneConfig } from "./configGenerations";
import { buildStandin, deployStandin, ensureCluster, localDown, localTools, localUp, requireLocalStack, requireTools } from "./local";
import { migrateEnd, migrateStart, parseSets } from "./migrate";
import { kubeContext, localValues, OpsContext, stackSettings, standinImageTag } from "./workspace";

/** The steps of a migration after `migrate`. */
const migrationSteps = ["--abort"];

/** The steps of a point-in-time recovery after `restore --to` (--finish also ends a migration). */
const recoverySteps = ["--switch", "--finish", "--cancel"];

/** `npm run ops -- <command> [args] [--stack <name>]`; the Makefile maps the seed's targets onto these. */
const usage = `usage: npm run ops -- <command> [arguments] [--stack <name>]   (stack: local unless given)

  up                     the whole local set-up (npm run local): cluster, state, stack, image, deploy
  down [--keep-cluster]  destroy the stack's resources and delete the kind cluster (npm run local:down)
                         up, down, deploy and stop act on local stacks only
  kind-create            create the kind cluster from kind-config.yaml (when absent)
  kind-delete            delete the kind cluster
  build                  build the stand-in API image and load it into the cluster
  deploy                 point the local stack at the built stand-in image and pulumi up (add-ons first)
  access                 where the API answers (kind: http://localhost:8088), else port-forward 8088
  status                 pods, HPA, PDB and VPA
  logs                   follow the API pods' logs
  shell                  a shell in an API pod
  restart                rolling restart of the API
  scale <n>              keep at least n API pods (apiMinReplicas, at most apiMaxReplicas), pulumi up
  image --tag <t> [--digest sha256:...] [--repository <r>]   deploy another API image (config + pulumi up)
  rollback               back to the previous API image from the stack's history, pulumi up
                         scale, image, rollback on staging and production: pulumi preview first, then
                         they ask (a terminal is needed), or --yes deploys without asking
  stop                   destroy the application; cluster add-ons stay (local stacks only)
  backup                 take a PostgreSQL backup now and wait for it; says where it went
                         statefulset engine: a Job from the backup CronJob (a dump on the volume, the bucket)
                         cloudnative-pg: a Backup of Cluster postgres through the Barman Cloud plugin
  backups                the stack's PostgreSQL backups, oldest first
                         statefulset engine: sizes, ages, volume and bucket
                         cloudnative-pg: the Cluster's Backups (phase, start, age, method) and the
                         recoverable window (the end of the oldest completed one to now, by the WAL archive)
  restore <backup> [--yes] [--i-understand-this-overwrites-production]
                         statefulset engine: restore a backup over the stack's databases, after confirmation
                         (--yes for scripts; production also needs --i-understand-this-overwrites-production)
                         cloudnative-pg: see restore --to
  restore --to <time> [--yes]   cloudnative-pg: point-in-time recovery. A new Cluster recovered from the
                         serving one's backups and WAL to <time> (RFC 3339), beside it; waited for and checked
                         (promoted, tables and rows shown beside today's); then the API switches to it after
                         confirmation (--yes for scripts), and a base backup of it is taken
  restore --switch       switch the API to the recovered Cluster (when restore --to stopped before it)
  restore --finish       the Cluster switched away from leaves the stack (it keeps running in Kubernetes)
  restore --cancel       drop a recovered Cluster the API was not switched to
  psql                   psql in the database as its superuser (the StatefulSet's pod or the Cluster's primary)
  migrate [--set key=value ...] [--yes]   statefulset -> cloudnative-pg: fences the API's role on the old
                         server, deploys a Cluster importing its database (--set: the cloudnative-pg settings
                         the stack needs, e.g. --set postgresInstances=3), points the API at it, waits, and
                         checks every table's rows on both (--yes for scripts)
  migrate --finish       the old server leaves the stack (its pod and volume stay in Kubernetes)
  migrate --abort        back to the old server: the Cluster leaves the stack, the API's role is unfenced
  prune-config [--yes]   delete the Redis Cluster's old ConfigMap generations (a change keeps the replaced
                         one): keeps the current and the previous one of each kind and any a pod, StatefulSet,
                         Job or CronJob names; asks first on staging and production (--yes for scripts)`;

function option(args: string[], name: string): string | undefined {
    const at = args.indexOf(name);
    if (at < 0) {
        return undefined;
    }
    const value = args[at + 1];
    if (value === undefined || value.startsWith("--")) {
        throw new UsageError(`${name} needs a value`);
    }
    args.splice(at, 2);
    return value;
}

export interface MainOptions {
    env?: NodeJS.ProcessEnv;
    say?: (line: string) => void;
    /** Where app/, kind-config.yaml and .pulumi-state/ are (tests use a scratch folder). */
    root?: string;
    /** Config values over the stack file's, as `pulumi config set` would make them (tests). */
    overrides?: Record<string, unknown>;
    /** Clock, polling pause and questions of the backup commands (tests answer for the user). */
    backup?: Partial<BackupOptions>;
    /** Asks the user, or undefined without a terminal (tests answer, or have none); default: the terminal when stdin is one. */
    ask?: ((question: string) => string | undefined) | null;
}

/** One line from the terminal, or undefined when stdin is not one (scripts must say --yes). */
function askTerminal(question: string): string | undefined {
    if (!process.stdin.isTTY) {
        return undefined;
    }
    process.stdout.write(question);
    const buffer = Buffer.alloc(1);
    let line = "";
    while (readSync(0, buffer, 0, 1, null) === 1 && buffer[0] !== 10) {
        line += buffer.toString("utf8");
    }
    return line;
}

/** Runs one command. */
export function main(argv: string[], options: MainOptions = {}): void {
    const { env = process.env, say = (l: string) => console.log(l), root = projectRoot, overrides = {} } = options;
    const args = [...argv];
    const stack = option(args, "--stack") ?? "local";
    const flags = ["--keep-cluster", "--yes", overwriteProductionFlag, ...recoverySteps, ...migrationSteps];
    const keepCluster = args.includes("--keep-cluster");
    const [command, ...rest] = args.filter((a) => !flags.includes(a));
    if (!command || command === "help" || command === "--help") {
        say(usage);
        return;
    }
    const ctx: OpsContext = {
        root,
        project: readProject().name,
        stack,
        // A local stack runs with this machine's own values (the stand-in's tag, a scale floor) over its file.
        settings: stackSettings(stack, { ...Object.fromEntries(Object.entries(localValues(root, stack)).map(([k, v]) => [k, v ?? undefined])), ...overrides }),
        runner: processRunner({ ...env, PULUMI_SKIP_UPDATE_CHECK: "true" }, root),
        say,
        // Only what the user typed: no environment variable (CI=true included) stands for --yes.
        yes: args.includes("--yes"),
        ask: options.ask === null ? undefined : (options.ask ?? (process.stdin.isTTY ? askTerminal : undefined)),
    };
    const needs = (...tools: string[]) => requireTools(ctx.runner, tools);
    const backupOptions: BackupOptions = { now: () => new Date(), pollMs: 2000, ask: askTerminal, ...options.backup };
    const cloudNativePg = ctx.settings.postgres.engine === "cloudnative-pg";
    switch (command) {
        case "up":
            return localUp(ctx);
        case "down":
            return localDown(ctx, keepCluster);
        case "kind-create":
            needs("kind", "kubectl");
            return ensureCluster(ctx);
        case "kind-delete":
            needs("kind");
            ctx.runner.run("kind", ["delete", "cluster", "--name", kubeContext(ctx).replace(/^kind-/, "")]);
            return;
        case "build":
            needs(...localTools(kubeContext(ctx)).filter((t) => t !== "pulumi"));
            buildStandin(ctx);
            return;
        case "deploy": {
            requireLocalStack(ctx, "deploy");
            needs("pulumi");
            useBackend(ctx);
            // The tag `build` gave the current sources; deploy does not rebuild.
            return deployStandin(ctx, standinImageTag(ctx.root));
        }
        case "access":
            needs("kubectl");
            return access(ctx);
        case "status":
            needs("kubectl");
            return status(ctx);
        case "logs":
            needs("kubectl");
            return logs(ctx);
        case "shell":
            needs("kubectl");
            return shell(ctx);
        case "restart":
            needs("kubectl");
            return restart(ctx);
        case "scale":
            needs("pulumi");
            return scale(ctx, rest[0]);
        case "image": {
            needs("pulumi");
            const tag = option(rest, "--tag");
            const digest = option(rest, "--digest");
            const repository = option(rest, "--repository");
            return setImage(ctx, { tag, digest, repository });
        }
        case "rollback":
            needs("pulumi");
            return rollback(ctx);
        case "stop":
            needs("pulumi");
            return stop(ctx);
        // The engine is the stack's setting, never guessed from what the cluster runs.
        case "backup":
            needs("kubectl");
            return cloudNativePg ? clusterBackupNow(ctx, backupOptions) : backupNow(ctx, backupOptions);
        case "backups":
            needs("kubectl");
            return cloudNativePg ? showClusterBackups(ctx, backupOptions) : showBackups(ctx, backupOptions);
        case "restore": {
            needs("kubectl");
            const to = option(args, "--to");
            const step = recoverySteps.find((f) => args.includes(f));
            if (to !== undefined || step !== undefined) {
                needs("pulumi");
                if (step === "--switch") {
                    return switchToRecovered(ctx, backupOptions);
                }
                if (step !== undefined) {
                    return endRecovery(ctx, step === "--finish" ? "finish" : "cancel");
                }
                return recoverTo(ctx, backupOptions, to, args.includes("--yes"));
            }
            if (cloudNativePg) {
                return refuseClusterRestore(ctx);
            }
            return restoreBackup(ctx, backupOptions, rest[0], { yes: args.includes("--yes"), overwriteProduction: args.includes(overwriteProductionFlag) });
        }
        case "migrate": {
            needs("kubectl", "pulumi");
            const step = ["--finish", ...migrationSteps].find((f) => args.includes(f));
            if (step) {
                return migrateEnd(ctx, step === "--finish" ? "finish" : "abort");
            }
            const sets: string[] = [];
            for (let value = option(args, "--set"); value !== undefined; value = option(args, "--set")) {
                sets.push(value);
            }
            return migrateStart(ctx, backupOptions, parseSets(sets), args.includes("--yes"));
        }
        case "psql":
            needs("kubectl");
            return psql(ctx);
        case "prune-config":
            needs("kubectl");
            return pruneConfig(ctx);
        default:
            throw new UsageError(`unknown command ${command}\n\n${usage}`);
    }
}

if (require.main === module) {
    try {
        main(process.argv.slice(2));
    } catch (error) {
        if (error instanceof UsageError || error instanceof CommandError) {
            console.error(`error: ${error.message}`);
            process.exit(1);
        }
        throw error;
    }
}
