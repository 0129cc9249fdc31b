import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { dataAnnotations, dataOptions, statefulSetOptions } from "../../lib/args";
import { tcp, WorkloadEndpoints } from "../../lib/endpoints";
import { selectorLabels, standardLabels, WorkloadIdentity } from "../../lib/labels";
import { postgresExporterContainer, postgresExporterPort } from "../../lib/exporters";
import { contentNamedConfigMap } from "../../lib/configMap";
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

/** Where the credentials Secret is mounted; the image reads POSTGRES_*_FILE, so no credential sits in the environment. */
export const postgresCredentialsPath = "/run/secrets/postgres";

/**
 * A single PostgreSQL server on a StatefulSet (the local stack's engine): headless and client Services,
 * a generated password. Its children belong to `parent` (the `Postgres` component), under the names
 * they had before the engines were split, so existing stacks see no change.
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
    const n = names.postgres;

    // Generated once and kept: the server stores the password at initdb, so a new one would lock the API out.
    const password = new random.RandomPassword(
        "postgres-password",
        { length: 32, special: false },
        { ...dataOptions(parent, args.protectData), additionalSecretOutputs: ["result"] },
    );
    const secret = new k8s.core.v1.Secret(
        n.secret,
        {
            metadata: meta(n.secret),
            type: "Opaque",
            stringData: { username: s.user, password: password.result, database: s.database },
        },
        dataOptions(parent, args.protectData),
    );

    const serviceAccount = tokenlessServiceAccount(n.serviceAccount, meta(n.serviceAccount), parent);

    const ports = endpoints.serving.map((p) => ({ name: p.name, port: p.port, targetPort: p.name, protocol: p.protocol }));
    const headless = new k8s.core.v1.Service(
        n.headlessService,
        { metadata: meta(n.headlessService), spec: { clusterIP: "None", selector: podSelector, ports } },
        { parent },
    );
    new k8s.core.v1.Service(
        n.service,
        { metadata: meta(n.service), spec: { type: "ClusterIP", selector: podSelector, ports } },
        { parent },
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
    // The start-up guard's script: before the server, it refuses a volume of another major version.
    const dataCheckScripts = contentNamedConfigMap(n.dataCheckConfigMap, meta(n.dataCheckConfigMap), postgresDataCheckScriptFiles(), parent);
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
                        // Never let the image's entrypoint initialise an empty database beside data of another major.
                        initContainers: [postgresDataCheckContainer({ image: s.image, majorVersion: s.majorVersion, volumeName: n.volumeClaim, scriptsConfigMapVolume: "data-check-scripts" })],
                        containers: [
                            {
                                name: n.container,
                                image: s.image,
                                imagePullPolicy: "IfNotPresent",
                                ports: endpoints.serving.map((p) => ({ name: p.name, containerPort: p.port, protocol: p.protocol })),
                                // Sized from the stack (apiMaxReplicas x apiDatabasePoolSize + a reserve): the default 100 runs out under the HPA.
                                args: ["-c", `max_connections=${s.maxConnections}`],
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
                            { name: "data-check-scripts", configMap: { name: dataCheckScripts.metadata.name, defaultMode: 0o555 } },
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
        statefulSetOptions(parent, args.protectData),
    );

    return {
        connection: {
            host: args.namespace.apply((ns) => serviceHost(n.service, ns)),
            port: postgresPort,
            database: s.database,
            secretName: secret.metadata.name,
        },
        topology: { servers: endpoints, clients: endpoints, operatorManaged: false, operatorPorts: [] },
        scaleTarget: { ...appsController("StatefulSet"), name: statefulSet.metadata.name, container: n.container, podSelector, replicas: { min: postgresReplicas, max: postgresReplicas } },
        workloadName: statefulSet.metadata.name,
    };
}
