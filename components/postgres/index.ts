import * as pulumi from "@pulumi/pulumi";
import { PostgresBackupSettings, PostgresSettings } from "../../config";
import { checkArgs, NamespacedArgs } from "../../lib/args";
import { ScaleTarget } from "../../lib/scaleTarget";
import { cloudNativePgPostgres } from "./cloudNativePg";
import { DatabaseConnection, PostgresTopology } from "./connection";
import { migrationRole, postgresRoles, statefulSetPostgres } from "./statefulSet";

export { DatabaseConnection, postgresPort, PostgresTopology, ServerTls } from "./connection";
export { dataLayout } from "./dataDirectory";
export { migrationRole, postgresCredentialsPath, postgresRoles } from "./statefulSet";

/** Args of PostgreSQL, whichever engine runs it. */
export interface PostgresArgs extends NamespacedArgs {
    /** Engine, image, version, database, instances, storage, resources and connection sizing from the stack config. */
    settings: PostgresSettings;
    /** Continuous backup (cloudnative-pg: WAL archive and base backups to object storage); the statefulset engine's backups are `PostgresBackup`'s. */
    backup?: PostgresBackupSettings;
    /** Protect the data (volumes, the Cluster, passwords) from deletion and replacement. */
    protectData: boolean;
    /** A postgres_exporter sidecar from this image (the statefulset engine's server, also while it is an import's source; the operator's instances export their own metrics); undefined runs none. */
    exporter?: { image: string };
    /** PriorityClass of the PostgreSQL pods (the data stores' class); undefined leaves the cluster's default. */
    priorityClassName?: pulumi.Input<string>;
    /** What installs the operator's CRDs in this run (the local add-ons); its objects wait for them. */
    crdInstallers?: pulumi.Resource[];
}

/**
 * PostgreSQL for the API. `settings.engine` picks what runs it: one server on a StatefulSet
 * (statefulSet.ts) or a CloudNativePG Cluster with standbys, a pooler and continuous backup
 * (cloudNativePg.ts). The rest of the program sees only what this class exposes.
 */
export class Postgres extends pulumi.ComponentResource {
    /** Connection details for the API: host, port, database, its own role's Secret, TLS. */
    readonly connection: DatabaseConnection;
    /** The backup role's Secret on the statefulset engine (its `PostgresBackup` logs in with it); undefined on cloudnative-pg. */
    readonly backupSecretName?: pulumi.Output<string>;
    /** Every workload of the database (the servers: their metrics port for monitoring) and what it must reach (NetworkSecurity). */
    readonly topology: PostgresTopology;
    /** The servers' controller, for the autoscalers and the disruption budget. */
    readonly scaleTarget: ScaleTarget;
    /** The StatefulSet or Cluster that holds the data. */
    readonly workloadName: pulumi.Output<string>;

    constructor(name: string, args: PostgresArgs, opts?: pulumi.ComponentResourceOptions) {
        super("healthcare:data:Postgres", name, {}, opts);
        const s = args.settings;
        checkArgs("Postgres", name, [
            !(s.majorVersion >= 13) && `settings.majorVersion ${s.majorVersion} is unsupported; expected 13 or later`,
            !s.storage.size && "settings.storage.size is empty",
            !(Number.isInteger(s.instances) && s.instances >= 1) && `settings.instances ${s.instances} is not a whole number >= 1`,
            s.engine === "statefulset" && s.instances !== 1 && `settings.instances ${s.instances}: the statefulset engine runs one server`,
            s.engine === "statefulset" && s.pooler !== undefined && "settings.pooler: the statefulset engine has no pooler",
            s.engine === "cloudnative-pg" && args.exporter !== undefined && !s.importSource && "exporter: the operator's instances export their own metrics; run no sidecar",
            s.importSource !== undefined && s.engine !== "cloudnative-pg" && "settings.importSource: a Cluster imports from the statefulset engine's server; the engine must be cloudnative-pg",
            !(s.maxConnections > 0) && `settings.maxConnections ${s.maxConnections} is not positive`,
            s.engine === "statefulset" && s.majorVersion < 14 && `settings.majorVersion ${s.majorVersion}: the statefulset engine's backup role needs pg_read_all_data (PostgreSQL 14 or later)`,
            s.engine === "statefulset" &&
                ([...Object.values(postgresRoles), migrationRole] as string[]).includes(s.user) &&
                `settings.user "${s.user}" is the name of one of the server's own roles (${Object.values(postgresRoles).join(", ")}, ${migrationRole}): pick another for the API`,
            s.engine === "statefulset" && s.user.startsWith("pg_") && `settings.user "${s.user}": role names starting with pg_ are PostgreSQL's`,
        ]);
        // While a Cluster imports a statefulset stack's database, the server stays as it was (same URNs) as its source.
        const importSource = s.importSource && statefulSetPostgres(this, { ...args, settings: s.importSource });
        const engine = s.engine === "cloudnative-pg" ? cloudNativePgPostgres(this, { ...args, exporter: undefined }, importSource) : statefulSetPostgres(this, args);
        this.connection = engine.connection;
        this.backupSecretName = engine.backupSecretName;
        this.topology = engine.topology;
        this.scaleTarget = engine.scaleTarget;
        this.workloadName = engine.workloadName;
        this.registerOutputs({ connection: this.connection, workloadName: this.workloadName });
    }
}
