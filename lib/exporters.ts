import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { NamedPort, tcp } from "./endpoints";
import { withEphemeralStorage } from "./resources";
import { restrictedContainerSecurityContext } from "./security";

/**
 * Prometheus exporter sidecars for the data stores. Each runs in the pod of the server it watches,
 * talks to it over loopback, reads its credentials from the server's Secret (mounted files where the
 * exporter reads them, else the environment; never argv), is probed on its metrics port, and runs
 * under the restricted security context like every other container.
 */

/** The name of every exporter sidecar container. */
export const exporterContainerName = "exporter";

/** The port the PostgreSQL exporter serves /metrics on (its default). */
export const postgresExporterPort: NamedPort = tcp("metrics", 9187);

/** The port the Redis exporter serves /metrics on (its default). */
export const redisExporterPort: NamedPort = tcp("metrics", 9121);

/** Small and fixed: an exporter answers one scrape at a time. */
const exporterResources = withEphemeralStorage({ requests: { cpu: "10m", memory: "32Mi" }, limits: { cpu: "100m", memory: "64Mi" } });

/**
 * The exporters' own uid/gid: they own none of the data store's files, so they do not run as its
 * user (999 in the official images) and cannot touch its data or signal its processes. They read
 * the credentials mounted for them through the pod's fsGroup, which every container of a pod
 * keeps as a supplemental group.
 */
export const exporterIds = { uid: 10002, gid: 10002 } as const;

const secretEnv = (name: string, secretName: pulumi.Input<string>, key: string) => ({ name, valueFrom: { secretKeyRef: { name: secretName, key } } });

function exporter(
    image: string,
    port: NamedPort,
    env: k8s.types.input.core.v1.EnvVar[],
    volumeMounts?: k8s.types.input.core.v1.VolumeMount[],
): k8s.types.input.core.v1.Container {
    // Both exporters answer /metrics even while the server is down (reporting it as down): the probes
    // restart a hung exporter, never the server's pod for the server's sake.
    const metrics = { httpGet: { path: "/metrics", port: port.name }, timeoutSeconds: 5 };
    return {
        name: exporterContainerName,
        image,
        imagePullPolicy: "IfNotPresent",
        ports: [{ name: port.name, containerPort: port.port, protocol: port.protocol }],
        env,
        resources: exporterResources,
        securityContext: restrictedContainerSecurityContext(exporterIds),
        readinessProbe: { ...metrics, periodSeconds: 30 },
        livenessProbe: { ...metrics, periodSeconds: 60, failureThreshold: 3 },
        volumeMounts,
    };
}

/**
 * postgres_exporter reading the server on 127.0.0.1 as the user whose credentials the pod mounts
 * (volume `credentialsVolume` with files `username` and `password`) at `credentialsPath`.
 */
export function postgresExporterContainer(args: { image: string; serverPort: number; database: string; credentialsVolume: string; credentialsPath: string }) {
    return exporter(
        args.image,
        postgresExporterPort,
        [
            // Loopback inside the pod: the server does not offer TLS there.
            { name: "DATA_SOURCE_URI", value: `127.0.0.1:${args.serverPort}/${args.database}?sslmode=disable` },
            { name: "DATA_SOURCE_USER_FILE", value: `${args.credentialsPath}/username` },
            { name: "DATA_SOURCE_PASS_FILE", value: `${args.credentialsPath}/password` },
        ],
        [{ name: args.credentialsVolume, mountPath: args.credentialsPath, readOnly: true }],
    );
}

/**
 * redis_exporter reading the node on 127.0.0.1 as ACL user `user`, with its password from `secretName`
 * (key `passwordKey`). With `tls`, over TLS (`rediss://`), verifying the node's certificate against
 * the CA certificate mounted from volume `tls.volume` at `tls.caDir` (the certificate names 127.0.0.1).
 * CONFIG GET is off (REDIS_EXPORTER_CONFIG_COMMAND "-"): its user may not run it, since it returns
 * masterauth; the metrics the stack uses come from INFO and CLUSTER INFO.
 */
export function redisExporterContainer(args: {
    image: string;
    serverPort: number;
    user: string;
    secretName: pulumi.Input<string>;
    passwordKey: string;
    tls?: { volume: string; caDir: string };
}) {
    return exporter(
        args.image,
        redisExporterPort,
        [
            { name: "REDIS_ADDR", value: `${args.tls ? "rediss" : "redis"}://127.0.0.1:${args.serverPort}` },
            { name: "REDIS_USER", value: args.user },
            secretEnv("REDIS_PASSWORD", args.secretName, args.passwordKey),
            { name: "REDIS_EXPORTER_CONFIG_COMMAND", value: "-" },
            ...(args.tls ? [{ name: "REDIS_EXPORTER_TLS_CA_CERT_FILE", value: `${args.tls.caDir}/ca.crt` }] : []),
        ],
        args.tls ? [{ name: args.tls.volume, mountPath: args.tls.caDir, readOnly: true }] : undefined,
    );
}
