import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { readFileSync } from "fs";
import * as path from "path";
import { builtInOptions, dataAnnotations, dataOptions, statefulSetOptions } from "../../lib/args";
import { contentNamedConfigMap } from "../../lib/configMap";
import { tcp, WorkloadEndpoints } from "../../lib/endpoints";
import { selectorLabels, standardLabels, WorkloadIdentity } from "../../lib/labels";
import { postgresExporterContainer, postgresExporterPort } from "../../lib/exporters";
import { names, serviceHost } from "../../lib/names";
import { withEphemeralStorage } from "../../lib/resources";
import { appsController } from "../../lib/scaleTarget";
import { restrictedContainerSecurityContext, restrictedPodSecurityContext, tokenlessServiceAccount } from "../../lib/security";
import { PostgresEngineOutputs, postgresPort } from "./connection";
import { dataLayout, postgresDataCheckContainer, postgresDataCheckScriptFiles } from "./dataDirectory";
import type { PostgresArgs } from "./index";

/** A single instance: no streaming replica (so no PodDisruptionBudget could ever be met). */
const postgresReplicas = 1;

/** uid and gid of the `postgres` user in the official image. */
const postgresUid = 999;

/**
 * The server's roles besides the API's (`postgresUser`), each with its own generated password and Secret;
 * postgres-roles.sh keeps them as they should be (docs/postgres.md, "Roles").
 */
export const postgresRoles = { superuser: "postgres", exporter: "postgres_exporter", backup: "postgres_backup" } as const;

/** The temporary superuser postgres-roles.sh uses while it migrates a volume whose bootstrap superuser is the API role. */
export const migrationRole = "roles_migration";

/**
 * Where a container mounts the credentials it uses (the server and the restore: the superuser's; the
 * exporter and the backups: their own role's). The image reads POSTGRES_*_FILE and the scripts read
 * files, so no credential sits in the environment.
 */
export const postgresCredentialsPath = "/run/secrets/postgres";

/** The script the roles sidecar runs (components/assets), mounted at /scripts. */
export const postgresRolesScript = "postgres-roles.sh";

/**
 * uid/gid of the roles sidecar: it owns none of the server's files, so it does not run as the image's
 * postgres user; it reads the Secrets mounted for it through the pod's fsGroup.
 */
export const rolesIds = { uid: 10004, gid: 10004 } as const;

/** Where the roles sidecar finds each role's Secret (postgres-roles.sh's *_CREDENTIALS). */
export const rolesCredentialsPaths = {
    superuser: "/run/secrets/superuser",
    api: "/run/secrets/api",
    exporter: "/run/secrets/exporter",
    backup: "/run/secrets/backup",
} as const;

/** Small and fixed: a few psql sessions an hour. */
const rolesResources = { requests: { cpu: "10m", memory: "16Mi" }, limits: { cpu: "100m", memory: "64Mi" } };

/**
 * A single PostgreSQL server on a StatefulSet (the local stack's engine): headless and client Services,
 * a role per user with its own generated password and Secret (the superuser, the API's owner role, the
 * exporter's pg_monitor role, the backups' pg_read_all_data role), kept as they should be by a sidecar
 * on every start of the pod. Its children belong to `parent` (the `Postgres` component), under the
 * names they had before the engines were split, so existing stacks see no change.
 */
export function statefulSetPostgres(parent: pulumi.ComponentResource, args: PostgresArgs): PostgresEngineOutputs {
    const s = args.settings;
    const identity: WorkloadIdentity = { name: "postgres", component: "database", instance: args.instance, version: s.version };
    const labels = standardLabels(identity);
    const podSelector = selectorLabels(identity);
    const endpoints: WorkloadEndpoints = {
        podSelector,
        serving: [tcp("postgres", postgresPort)],
        peer: [],
        metrics: args.exporter ? [postgresExporterPort] : [],
        health: [],
    };
    const meta = (metadataName: string) => ({ name: metadataName, namespace: args.namespace, labels });
    const builtIn = builtInOptions(parent, args.deletion);
    const n = names.postgres;

    // Each role its own password, generated once and kept: the server stores it (the superuser's at
    // initdb, the others' when the roles sidecar first runs) and a new one would lock the role out.
    const credentials = (passwordName: string, secretName: string, data: Record<string, string>) => {
        const password = new random.RandomPassword(
            passwordName,
            { length: 32, special: false },
            { ...dataOptions(parent, args.protectData), additionalSecretOutputs: ["result"] },
        );
        return new k8s.core.v1.Secret(
            secretName,
            { metadata: meta(secretName), type: "Opaque", stringData: { ...data, password: password.result } },
            dataOptions(parent, args.protectData, args.deletion),
        );
    };
    // The API's: the names it had when it was the server's only role, so existing stacks keep its password.
    const secret = credentials("postgres-password", n.secret, { username: s.user, database: s.database });
    const superuserSecret = credentials("postgres-superuser-password", n.superuserSecret, { username: postgresRoles.superuser });
    const exporterSecret = credentials("postgres-exporter-password", n.exporterSecret, { username: postgresRoles.exporter });
    const backupSecret = credentials("postgres-backup-password", n.backupSecret, { username: postgresRoles.backup });
    // The pod's scripts, one content-named ConfigMap: the start-up guard (before the server, it refuses a
    // volume of another major version) and the roles sidecar's.
    const scripts = contentNamedConfigMap(
        n.scriptsConfigMap,
        meta(n.scriptsConfigMap),
        { ...postgresDataCheckScriptFiles(), [postgresRolesScript]: readFileSync(path.join(__dirname, "..", "assets", postgresRolesScript), "utf8") },
        builtIn,
    );

    const serviceAccount = tokenlessServiceAccount(n.serviceAccount, meta(n.serviceAccount), builtIn);

    const ports = endpoints.serving.map((p) => ({ name: p.name, port: p.port, targetPort: p.name, protocol: p.protocol }));
    const headless = new k8s.core.v1.Service(
        n.headlessService,
        { metadata: meta(n.headlessService), spec: { clusterIP: "None", selector: podSelector, ports } },
        builtIn,
    );
    // Not awaited: the StatefulSet's await (every replica ready, the current revision the update
    // revision) proves the pods behind it ready; the provider's Service await adds a 10 s settle and no
    // guarantee (docs/capacity-and-benchmarks.md, "What each await proves"). The headless one is never awaited.
    new k8s.core.v1.Service(
        n.service,
        { metadata: { ...meta(n.service), annotations: { "pulumi.com/skipAwait": "true" } }, spec: { type: "ClusterIP", selector: podSelector, ports } },
        builtIn,
    );

    const layout = dataLayout(s.majorVersion);
    const credential = (key: string) => `${postgresCredentialsPath}/${key}`;
    const isReady = {
        exec: {
            command: ["sh", "-c", `pg_isready -h 127.0.0.1 -p ${postgresPort} -U "$(cat ${credential("username")})" -d ${s.database}`],
        },
    };
    // Scratch space under the read-only root: sockets and lock files, and temporary files of large sorts.
    const runVolume = { name: "run", emptyDir: { sizeLimit: "16Mi" } };
    const tmpVolume = { name: "tmp", emptyDir: { sizeLimit: "256Mi" } };
    // The roles sidecar's password files.
    const rolesTmpVolume = { name: "roles-tmp", emptyDir: { sizeLimit: "8Mi" } };
    // Group-readable: the files belong to root and the pod's fsGroup (postgres), which every container keeps.
    const secretVolume = (name: string, source: k8s.core.v1.Secret) => ({ name, secret: { secretName: source.metadata.name, defaultMode: 0o440 } });
    const rolesSidecar: k8s.types.input.core.v1.Container = {
        name: n.rolesContainer,
        // The server's own image: psql of its version.
        image: s.image,
        imagePullPolicy: "IfNotPresent",
        // A native sidecar: started before the server and stopped after it, restarted if it ever exits.
        // It waits for the server on loopback, applies the roles, then re-applies them hourly. No probe:
        // its readiness never gates the database's (its loop never exits, so it is always ready).
        restartPolicy: "Always",
        command: ["sh", `/scripts/${postgresRolesScript}`, "--watch"],
        env: [
            { name: "PGHOST", value: "127.0.0.1" },
            { name: "PGPORT", value: String(postgresPort) },
            { name: "SUPERUSER_CREDENTIALS", value: rolesCredentialsPaths.superuser },
            { name: "API_CREDENTIALS", value: rolesCredentialsPaths.api },
            { name: "EXPORTER_CREDENTIALS", value: rolesCredentialsPaths.exporter },
            { name: "BACKUP_CREDENTIALS", value: rolesCredentialsPaths.backup },
            { name: "HOME", value: "/tmp" },
            { name: "TMPDIR", value: "/tmp" },
        ],
        resources: withEphemeralStorage(rolesResources, [rolesTmpVolume]),
        securityContext: restrictedContainerSecurityContext(rolesIds),
        volumeMounts: [
            { name: "scripts", mountPath: "/scripts", readOnly: true },
            { name: rolesTmpVolume.name, mountPath: "/tmp" },
            { name: "credentials", mountPath: rolesCredentialsPaths.superuser, readOnly: true },
            { name: "api-credentials", mountPath: rolesCredentialsPaths.api, readOnly: true },
            { name: "exporter-credentials", mountPath: rolesCredentialsPaths.exporter, readOnly: true },
            { name: "backup-credentials", mountPath: rolesCredentialsPaths.backup, readOnly: true },
        ],
    };
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
                        // Never let the image's entrypoint initialise an empty database beside data of another major
                        // (the guard runs to completion first); then the roles sidecar (native: it runs beside the server).
                        initContainers: [
                            postgresDataCheckContainer({ image: s.image, majorVersion: s.majorVersion, volumeName: n.volumeClaim, scriptsConfigMapVolume: "scripts" }),
                            rolesSidecar,
                        ],
                        containers: [
                            {
                                name: n.container,
                                image: s.image,
                                imagePullPolicy: "IfNotPresent",
                                ports: endpoints.serving.map((p) => ({ name: p.name, containerPort: p.port, protocol: p.protocol })),
                                // Sized from the stack (apiMaxReplicas x apiDatabasePoolSize + a reserve): the default 100 runs out under the HPA.
                                args: ["-c", `max_connections=${s.maxConnections}`],
                                // Read at initdb only (a new volume): the superuser postgres bootstraps the server and
                                // creates the API's database; the roles sidecar gives that database to the API role.
                                env: [
                                    { name: "POSTGRES_USER_FILE", value: credential("username") },
                                    { name: "POSTGRES_PASSWORD_FILE", value: credential("password") },
                                    { name: "POSTGRES_DB", value: s.database },
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
                                          credentialsVolume: "exporter-credentials",
                                          credentialsPath: postgresCredentialsPath,
                                      }),
                                  ]
                                : []),
                        ],
                        volumes: [
                            { name: "scripts", configMap: { name: scripts.metadata.name, defaultMode: 0o555 } },
                            runVolume,
                            tmpVolume,
                            // The runtime's default 64Mi /dev/shm is too small for parallel queries.
                            { name: "shm", emptyDir: { medium: "Memory", sizeLimit: "256Mi" } },
                            rolesTmpVolume,
                            // Each container mounts only the credentials it uses: the server the superuser's,
                            // the exporter its own role's, the roles sidecar all of them.
                            secretVolume("credentials", superuserSecret),
                            secretVolume("api-credentials", secret),
                            secretVolume("exporter-credentials", exporterSecret),
                            secretVolume("backup-credentials", backupSecret),
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
        statefulSetOptions(parent, args.protectData, args.deletion),
    );

    return {
        connection: {
            host: args.namespace.apply((ns) => serviceHost(n.service, ns)),
            port: postgresPort,
            database: s.database,
            secretName: secret.metadata.name,
        },
        backupSecretName: backupSecret.metadata.name,
        topology: { servers: endpoints, clients: endpoints, operatorManaged: false, operatorPorts: [] },
        scaleTarget: { ...appsController("StatefulSet"), name: statefulSet.metadata.name, container: n.container, podSelector, replicas: { min: postgresReplicas, max: postgresReplicas } },
        workloadName: statefulSet.metadata.name,
    };
}
