import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { PostgresSettings } from "../config";
import { checkArgs, dataAnnotations, dataOptions, NamespacedArgs, statefulSetOptions } from "../lib/args";
import { tcp, WorkloadEndpoints } from "../lib/endpoints";
import { selectorLabels, standardLabels, WorkloadIdentity } from "../lib/labels";
import { postgresExporterContainer, postgresExporterPort } from "../lib/exporters";
import { names, serviceHost } from "../lib/names";
import { withEphemeralStorage } from "../lib/resources";
import { ScaleTarget } from "../lib/scaleTarget";
import { restrictedContainerSecurityContext, restrictedPodSecurityContext, tokenlessServiceAccount } from "../lib/security";

/** The port PostgreSQL listens on. */
export const postgresPort = 5432;

/** A single instance: no streaming replica (so no PodDisruptionBudget could ever be met). */
const postgresReplicas = 1;

/** uid and gid of the `postgres` user in the official image. */
const postgresUid = 999;

/** Where the credentials Secret is mounted; the image reads POSTGRES_*_FILE, so no credential sits in the environment. */
export const postgresCredentialsPath = "/run/secrets/postgres";

/** How the API reaches the database. */
export interface DatabaseConnection {
    /** Client Service DNS name. */
    host: pulumi.Output<string>;
    /** Client port. */
    port: number;
    /** Database name. */
    database: string;
    /** Secret holding `username` and `password`. */
    secretName: pulumi.Output<string>;
}

/** Args of the PostgreSQL StatefulSet. */
export interface PostgresArgs extends NamespacedArgs {
    /** Image, version, database, storage and resources from the stack config. */
    settings: PostgresSettings;
    /** Protect the StatefulSet and its Secret from deletion and replacement. */
    protectData: boolean;
    /** A postgres_exporter sidecar from this image; undefined runs none. */
    exporter?: { image: string };
    /** PriorityClass of the PostgreSQL pod (the data stores' class); undefined leaves the cluster's default. */
    priorityClassName?: pulumi.Input<string>;
}

/**
 * Data directory layout. The volume is mounted exactly where the image declares its VOLUME
 * (which moved in PostgreSQL 18) and PGDATA is a subdirectory of it, so the volume's
 * lost+found never makes initdb refuse the directory.
 */
export function dataLayout(majorVersion: number): { mountPath: string; pgdata: string } {
    return majorVersion >= 18
        ? { mountPath: "/var/lib/postgresql", pgdata: "/var/lib/postgresql/data" }
        : { mountPath: "/var/lib/postgresql/data", pgdata: "/var/lib/postgresql/data/pgdata" };
}

/** A single-instance PostgreSQL: StatefulSet, headless and client Services, generated password. */
export class Postgres extends pulumi.ComponentResource {
    /** Connection details for clients. */
    readonly connection: DatabaseConnection;
    /** The PostgreSQL pod and its ports. */
    readonly endpoints: WorkloadEndpoints;
    /** Name of the StatefulSet. */
    readonly statefulSetName: pulumi.Output<string>;
    /** The StatefulSet (one pod), for the autoscalers and the disruption budget. */
    readonly scaleTarget: ScaleTarget;

    constructor(name: string, args: PostgresArgs, opts?: pulumi.ComponentResourceOptions) {
        super("healthcare:data:Postgres", name, {}, opts);
        const s = args.settings;
        checkArgs("Postgres", name, [
            !(s.majorVersion >= 13) && `settings.majorVersion ${s.majorVersion} is unsupported; expected 13 or later`,
            !s.storage.size && "settings.storage.size is empty",
        ]);

        const identity: WorkloadIdentity = { name: "postgres", component: "database", instance: args.instance, version: s.version };
        const labels = standardLabels(identity);
        const podSelector = selectorLabels(identity);
        this.endpoints = {
            podSelector,
            serving: [tcp("postgres", postgresPort)],
            peer: [],
            metrics: args.exporter ? [postgresExporterPort] : [],
            health: [],
        };
        const meta = (metadataName: string) => ({ name: metadataName, namespace: args.namespace, labels });
        const n = names.postgres;

        // Generated once and kept: the server stores the password at initdb, so a new one would lock the API out.
        const password = new random.RandomPassword(
            "postgres-password",
            { length: 32, special: false },
            { ...dataOptions(this, args.protectData), additionalSecretOutputs: ["result"] },
        );
        const secret = new k8s.core.v1.Secret(
            n.secret,
            {
                metadata: meta(n.secret),
                type: "Opaque",
                stringData: { username: s.user, password: password.result, database: s.database },
            },
            dataOptions(this, args.protectData),
        );

        const serviceAccount = tokenlessServiceAccount(n.serviceAccount, meta(n.serviceAccount), this);

        const ports = this.endpoints.serving.map((p) => ({ name: p.name, port: p.port, targetPort: p.name, protocol: p.protocol }));
        const headless = new k8s.core.v1.Service(
            n.headlessService,
            { metadata: meta(n.headlessService), spec: { clusterIP: "None", selector: podSelector, ports } },
            { parent: this },
        );
        new k8s.core.v1.Service(
            n.service,
            { metadata: meta(n.service), spec: { type: "ClusterIP", selector: podSelector, ports } },
            { parent: this },
        );

        const layout = dataLayout(s.majorVersion);
        const credential = (key: string) => `${postgresCredentialsPath}/${key}`;
        const isReady = {
            exec: {
                command: ["sh", "-c", `pg_isready -h 127.0.0.1 -p ${postgresPort} -U "$(cat ${credential("username")})" -d "$(cat ${credential("database")})"`],
            },
        };
        // Scratch space under the read-only root: sockets and lock files, and temporary files of large sorts.
        const runVolume = { name: "run", emptyDir: { sizeLimit: "16Mi" } };
        const tmpVolume = { name: "tmp", emptyDir: { sizeLimit: "256Mi" } };
        const statefulSet = new k8s.apps.v1.StatefulSet(
            n.statefulSet,
            {
                metadata: { ...meta(n.statefulSet), annotations: dataAnnotations(args.protectData) },
                spec: {
                    serviceName: headless.metadata.name,
                    replicas: postgresReplicas,
                    selector: { matchLabels: podSelector },
                    // PVCs outlive the StatefulSet: deleting or replacing it never deletes data.
                    persistentVolumeClaimRetentionPolicy: { whenDeleted: "Retain", whenScaled: "Retain" },
                    template: {
                        metadata: { labels },
                        spec: {
                            serviceAccountName: serviceAccount.metadata.name,
                            automountServiceAccountToken: false,
                            priorityClassName: args.priorityClassName,
                            securityContext: restrictedPodSecurityContext(postgresUid),
                            // Time for a clean shutdown checkpoint before SIGKILL.
                            terminationGracePeriodSeconds: 60,
                            containers: [
                                {
                                    name: n.container,
                                    image: s.image,
                                    imagePullPolicy: "IfNotPresent",
                                    ports: this.endpoints.serving.map((p) => ({ name: p.name, containerPort: p.port, protocol: p.protocol })),
                                    env: [
                                        { name: "POSTGRES_USER_FILE", value: credential("username") },
                                        { name: "POSTGRES_PASSWORD_FILE", value: credential("password") },
                                        { name: "POSTGRES_DB_FILE", value: credential("database") },
                                        { name: "PGDATA", value: layout.pgdata },
                                    ],
                                    resources: withEphemeralStorage(s.resources, [runVolume, tmpVolume]),
                                    securityContext: restrictedContainerSecurityContext(),
                                    // initdb on a new volume takes a while: allow five minutes before liveness applies.
                                    startupProbe: { ...isReady, periodSeconds: 10, failureThreshold: 30 },
                                    readinessProbe: { ...isReady, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3 },
                                    livenessProbe: { ...isReady, periodSeconds: 20, timeoutSeconds: 5, failureThreshold: 6 },
                                    volumeMounts: [
                                        { name: n.volumeClaim, mountPath: layout.mountPath },
                                        { name: "run", mountPath: "/var/run/postgresql" },
                                        { name: "tmp", mountPath: "/tmp" },
                                        { name: "shm", mountPath: "/dev/shm" },
                                        { name: "credentials", mountPath: postgresCredentialsPath, readOnly: true },
                                    ],
                                },
                                ...(args.exporter
                                    ? [
                                          postgresExporterContainer({
                                              image: args.exporter.image,
                                              serverPort: postgresPort,
                                              database: s.database,
                                              credentialsVolume: "credentials",
                                              credentialsPath: postgresCredentialsPath,
                                          }),
                                      ]
                                    : []),
                            ],
                            volumes: [
                                runVolume,
                                tmpVolume,
                                // The runtime's default 64Mi /dev/shm is too small for parallel queries.
                                { name: "shm", emptyDir: { medium: "Memory", sizeLimit: "256Mi" } },
                                // Group-readable: the files belong to root and the pod's fsGroup (postgres).
                                { name: "credentials", secret: { secretName: secret.metadata.name, defaultMode: 0o440 } },
                            ],
                        },
                    },
                    volumeClaimTemplates: [
                        {
                            // No version label here: any change to the claim template replaces the StatefulSet.
                            metadata: { name: n.volumeClaim, labels: standardLabels({ ...identity, version: undefined }) },
                            spec: {
                                accessModes: ["ReadWriteOnce"],
                                storageClassName: s.storage.className,
                                resources: { requests: { storage: s.storage.size } },
                            },
                        },
                    ],
                },
            },
            statefulSetOptions(this, args.protectData),
        );

        this.statefulSetName = statefulSet.metadata.name;
        this.scaleTarget = { kind: "StatefulSet", name: this.statefulSetName, container: n.container, podSelector, replicas: { min: postgresReplicas, max: postgresReplicas } };
        this.connection = {
            host: args.namespace.apply((ns) => serviceHost(n.service, ns)),
            port: postgresPort,
            database: s.database,
            secretName: secret.metadata.name,
        };
        this.registerOutputs({ connection: this.connection, statefulSetName: this.statefulSetName });
    }
}
