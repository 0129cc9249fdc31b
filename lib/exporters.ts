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

/** redis_exporter reading the node on 127.0.0.1 with the password in `secretName` (key `password`). */
export function redisExporterContainer(args: { image: string; serverPort: number; secretName: pulumi.Input<string> }) {
    return exporter(args.image, redisExporterPort, [
        { name: "REDIS_ADDR", value: `redis://127.0.0.1:${args.serverPort}` },
        secretEnv("REDIS_PASSWORD", args.secretName, "password"),
    ]);
}
