import * as pulumi from "@pulumi/pulumi";
import { WorkloadEndpoints } from "../../lib/endpoints";
import { ScaleTarget } from "../../lib/scaleTarget";

/** What the rest of the program sees of PostgreSQL, whichever engine runs it. */

/** The port PostgreSQL (and PgBouncer in front of it) listens on. */
export const postgresPort = 5432;

/** How clients verify the server: the CA's Secret and key; the API then connects with sslmode=verify-full. */
export interface ServerTls {
    /** Secret holding the CA certificate that signed the server's certificate. */
    caSecretName: pulumi.Output<string>;
    /** Key of the CA certificate in that Secret. */
    caKey: string;
}

/** How the API reaches the database. */
export interface DatabaseConnection {
    /** Client Service DNS name (the pooler's where there is one). */
    host: pulumi.Output<string>;
    /** Client port. */
    port: number;
    /** Database name. */
    database: string;
    /** Secret holding the API role's `username` and `password` (never a superuser). */
    secretName: pulumi.Output<string>;
    /** TLS to verify the server by; undefined: plain TCP inside the namespace (the statefulset engine). */
    tls?: ServerTls;
}

/** What the engine needs from the network beyond clients reaching `clients`. */
export interface PostgresTopology {
    /** The PostgreSQL server pods: their policy, the exporter's or operator's metrics port. */
    servers: WorkloadEndpoints;
    /** Where clients connect: the pooler's pods, or the servers themselves. */
    clients: WorkloadEndpoints;
    /** PgBouncer's pods, when the API goes through a pooler: they reach the servers. */
    pooler?: WorkloadEndpoints;
    /** The statefulset engine's server while a Cluster imports from it: only the operator's Job pods reach it. */
    importSource?: WorkloadEndpoints;
    /** Servers (and pooler) run the operator's instance manager: the operator reaches them and they reach the API server. */
    operatorManaged: boolean;
    /** Ports of the servers the operator connects to (its status port). */
    operatorPorts: WorkloadEndpoints["serving"];
    /** The operator's Job pods (bootstrap, a standby's join, upgrades): they reach the servers and the API server. */
    operatorJobs?: {
        /** Labels the Job pods carry with these values. */
        podSelector: Readonly<Record<string, string>>;
        /** Labels the Job pods carry with any value (what tells them from the servers). */
        labelKeys: readonly string[];
        /** They read the object store (a point-in-time recovery's Job restores a base backup from it). */
        readObjectStore?: boolean;
    };
}

/** What each engine (statefulSet.ts, cloudNativePg.ts) gives the `Postgres` component. */
export interface PostgresEngineOutputs {
    connection: DatabaseConnection;
    /** The backup role's Secret (`username`, `password`): the statefulset engine's backups log in with it; undefined where the engine backs up itself. */
    backupSecretName?: pulumi.Output<string>;
    topology: PostgresTopology;
    scaleTarget: ScaleTarget;
    /** The object the data lives in (StatefulSet or Cluster), for outputs and messages. */
    workloadName: pulumi.Output<string>;
}
