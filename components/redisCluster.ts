import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { createHash } from "crypto";
import { readFileSync } from "fs";
import * as path from "path";
import { RedisSettings } from "../config";
import { checkArgs, dataAnnotations, dataOptions, NamespacedArgs, statefulSetOptions } from "../lib/args";
import { tcp, WorkloadEndpoints } from "../lib/endpoints";
import { redisExporterContainer, redisExporterPort } from "../lib/exporters";
import { selectorLabels, standardLabels, WorkloadIdentity } from "../lib/labels";
import { names, statefulPodHost } from "../lib/names";
import { ScaleTarget } from "../lib/scaleTarget";
import { parseBytes } from "../lib/quantity";
import { withEphemeralStorage } from "../lib/resources";
import { restrictedContainerSecurityContext, restrictedPodSecurityContext, tokenlessServiceAccount } from "../lib/security";

/** The port clients and peers use. */
export const redisPort = 6379;
/** The cluster bus: Redis always uses the data port + 10000. */
export const redisBusPort = redisPort + 10000;

/** uid and gid of the `redis` user in the official image. */
const redisUid = 999;
/** The maintenance Jobs' own uid/gid: redis-cli over the network owns none of the nodes' files. */
const maintenanceUid = 10003;

/** How long a maintenance Job (moving slots with their keys) may run. */
const maintenanceDeadlineSeconds = 3600;

/** Share of the container's memory limit given to data; the rest covers fork copy-on-write and buffers. */
const maxmemoryShare = 0.75;

/** How the API reaches the cluster. */
export interface CacheConnection {
    /** Every node as host:port; cluster clients need seeds and follow MOVED redirects to all nodes. */
    seedNodes: pulumi.Output<string[]>;
    /** Secret holding `password`. */
    secretName: pulumi.Output<string>;
}

/** Args of the Redis Cluster StatefulSet and its maintenance Jobs. */
export interface RedisClusterArgs extends NamespacedArgs {
    /** Image, topology, storage and resources from the stack config. */
    settings: RedisSettings;
    /** Protect the StatefulSet and its Secret from deletion and replacement. */
    protectData: boolean;
    /** A redis_exporter sidecar on every node, from this image; undefined runs none. */
    exporter?: { image: string };
}

/** Scripts shipped to the pods in a ConfigMap; the tests run the same files. */
export const redisScripts = {
    start: "redis-start.sh",
    reconcile: "redis-cluster-reconcile.sh",
    scaleIn: "redis-cluster-scale-in.sh",
    lib: "redis-cluster-lib.sh",
} as const;

function readScript(file: string): string {
    return readFileSync(path.join(__dirname, "assets", file), "utf8");
}

/** redis.conf for every node; the start script appends the password and the pod IP. */
export function redisConfig(settings: RedisSettings): string {
    const maxmemory = Math.floor((parseBytes(settings.resources.limits.memory) ?? 0) * maxmemoryShare);
    return [
        `port ${redisPort}`,
        "bind * -::*",
        "protected-mode no",
        "cluster-enabled yes",
        "cluster-config-file /data/nodes.conf",
        "cluster-node-timeout 5000",
        // The reconcile and scale-in Jobs own the layout: a master emptied by a migration stays an
        // empty master (instead of turning into a replica mid-run, which breaks redis-cli's slot moves).
        "cluster-allow-replica-migration no",
        "dir /data",
        "appendonly yes",
        `maxmemory ${maxmemory}`,
        // Queues and sessions live here: refuse writes when full rather than silently evicting them.
        "maxmemory-policy noeviction",
        "",
    ].join("\n");
}

/**
 * A Redis Cluster: StatefulSet in cluster mode, headless Service, generated password, and two
 * maintenance Jobs that keep every slot served when `settings.nodes` changes: scale-in (before the
 * StatefulSet update) drains the nodes a smaller cluster leaves out, reconcile (after it) forms the
 * cluster or joins new nodes and rebalances.
 */
export class RedisCluster extends pulumi.ComponentResource {
    /** Connection details for clients. */
    readonly connection: CacheConnection;
    /** The Redis pods: clients use the data port, nodes use it and the cluster bus among themselves. */
    readonly endpoints: WorkloadEndpoints;
    /** Labels that select the pods of the cluster's maintenance Jobs (scale-in, reconcile): Redis clients too. */
    readonly maintenanceSelector: Record<string, string>;
    /** Name of the StatefulSet. */
    readonly statefulSetName: pulumi.Output<string>;
    /** The StatefulSet, for the VPA and the disruption budget (its node count is config, not an HPA's). */
    readonly scaleTarget: ScaleTarget;

    constructor(name: string, args: RedisClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("healthcare:data:RedisCluster", name, {}, opts);
        const s = args.settings;
        checkArgs("RedisCluster", name, [
            s.masters * (1 + s.replicasPerMaster) !== s.nodes &&
                `settings.masters (${s.masters}) x (1 + replicasPerMaster ${s.replicasPerMaster}) != nodes (${s.nodes})`,
            s.nodes > 1 && s.masters < 3 && `settings.masters is ${s.masters}; a multi-node Redis Cluster needs at least 3`,
            parseBytes(s.resources.limits.memory) === undefined && `settings.resources.limits.memory "${s.resources.limits.memory}" is not a byte quantity`,
        ]);

        const identity: WorkloadIdentity = { name: "redis-cluster", component: "cache", instance: args.instance, version: s.version };
        const labels = standardLabels(identity);
        const podSelector = selectorLabels(identity);
        const data = tcp("redis", redisPort);
        this.endpoints = {
            podSelector,
            serving: [data],
            peer: [data, tcp("cluster-bus", redisBusPort)],
            metrics: args.exporter ? [redisExporterPort] : [],
            health: [],
        };
        const peerPorts = this.endpoints.peer;
        const maintenanceIdentity: WorkloadIdentity = { ...identity, component: "cache-maintenance" };
        this.maintenanceSelector = selectorLabels(maintenanceIdentity);
        const n = names.redis;
        const meta = (metadataName: string) => ({ name: metadataName, namespace: args.namespace, labels });

        const password = new random.RandomPassword(
            "redis-password",
            { length: 32, special: false },
            { ...dataOptions(this, args.protectData), additionalSecretOutputs: ["result"] },
        );
        const secret = new k8s.core.v1.Secret(
            n.secret,
            { metadata: meta(n.secret), type: "Opaque", stringData: { password: password.result } },
            dataOptions(this, args.protectData),
        );

        const scripts = Object.fromEntries(Object.values(redisScripts).map((file) => [file, readScript(file)]));
        const configData = { "redis.conf": redisConfig(s), ...scripts };
        const configChecksum = createHash("sha256").update(JSON.stringify(configData)).digest("hex");
        const configMap = new k8s.core.v1.ConfigMap(n.configMap, { metadata: meta(n.configMap), data: configData }, { parent: this });

        const serviceAccount = tokenlessServiceAccount(n.serviceAccount, meta(n.serviceAccount), this);

        const headless = new k8s.core.v1.Service(
            n.headlessService,
            {
                metadata: meta(n.headlessService),
                spec: {
                    clusterIP: "None",
                    // Nodes must resolve each other before they are ready: readiness needs the cluster formed.
                    publishNotReadyAddresses: true,
                    selector: podSelector,
                    ports: peerPorts.map((p) => ({ name: p.name, port: p.port, targetPort: p.name, protocol: p.protocol })),
                },
            },
            { parent: this },
        );

        const passwordEnv = (envName: string) => ({ name: envName, valueFrom: { secretKeyRef: { name: secret.metadata.name, key: "password" } } });
        const ping = { exec: { command: ["sh", "-c", `redis-cli -h 127.0.0.1 -p ${redisPort} ping | grep -q PONG`] } };
        const scriptsVolume = { name: "scripts", configMap: { name: configMap.metadata.name, defaultMode: 0o555 } };
        const nodeAddresses = args.namespace.apply((ns) =>
            Array.from({ length: s.nodes }, (_, i) => `${statefulPodHost(n.statefulSet, i, n.headlessService, ns)}:${redisPort}`),
        );
        // One Job per maintenance script, all alike: the desired nodes in, redis-cli against them. A Job
        // is replaced (and so runs again) when the desired nodes or the scripts change; both scripts are
        // no-ops when the cluster already has the desired shape.
        const maintenanceJob = (jobName: string, container: string, script: string, dependsOn: pulumi.Resource[]) =>
            new k8s.batch.v1.Job(
                jobName,
                {
                    metadata: {
                        ...meta(jobName),
                        labels: standardLabels(maintenanceIdentity),
                        // Moving the slots of a large node takes a while; Pulumi waits as long as the Job may run.
                        annotations: { "pulumi.com/timeoutSeconds": String(maintenanceDeadlineSeconds + 60) },
                    },
                    spec: {
                        backoffLimit: 4,
                        activeDeadlineSeconds: maintenanceDeadlineSeconds,
                        template: {
                            metadata: {
                                labels: standardLabels(maintenanceIdentity),
                                annotations: { "healthcare.example.com/config-checksum": configChecksum },
                            },
                            spec: {
                                restartPolicy: "OnFailure",
                                serviceAccountName: serviceAccount.metadata.name,
                                automountServiceAccountToken: false,
                                securityContext: restrictedPodSecurityContext(maintenanceUid),
                                containers: [
                                    {
                                        name: container,
                                        image: s.image,
                                        imagePullPolicy: "IfNotPresent",
                                        command: ["sh", `/scripts/${script}`],
                                        env: [
                                            { name: "REDIS_NODES", value: nodeAddresses.apply((a) => a.join(" ")) },
                                            { name: "REDIS_REPLICAS", value: String(s.replicasPerMaster) },
                                            { name: "WAIT_SECONDS", value: "300" },
                                            passwordEnv("REDISCLI_AUTH"),
                                        ],
                                        resources: withEphemeralStorage({ requests: { cpu: "50m", memory: "32Mi" }, limits: { cpu: "200m", memory: "64Mi" } }),
                                        securityContext: restrictedContainerSecurityContext(),
                                        volumeMounts: [{ name: "scripts", mountPath: "/scripts" }],
                                    },
                                ],
                                volumes: [scriptsVolume],
                            },
                        },
                    },
                },
                { parent: this, dependsOn },
            );

        // Before the StatefulSet update: a node leaves only after its slots have moved. A fast no-op on a
        // fresh install and whenever no node is above the desired count.
        const scaleIn = maintenanceJob(n.scaleInJob, "scale-in", redisScripts.scaleIn, []);

        const statefulSet = new k8s.apps.v1.StatefulSet(
            n.statefulSet,
            {
                metadata: { ...meta(n.statefulSet), annotations: dataAnnotations(args.protectData) },
                spec: {
                    serviceName: headless.metadata.name,
                    replicas: s.nodes,
                    // All nodes start together: forming the cluster needs every one of them up.
                    podManagementPolicy: "Parallel",
                    selector: { matchLabels: podSelector },
                    persistentVolumeClaimRetentionPolicy: { whenDeleted: "Retain", whenScaled: "Retain" },
                    template: {
                        metadata: { labels, annotations: { "healthcare.example.com/config-checksum": configChecksum } },
                        spec: {
                            serviceAccountName: serviceAccount.metadata.name,
                            automountServiceAccountToken: false,
                            securityContext: restrictedPodSecurityContext(redisUid),
                            affinity: {
                                // Preferred, not required: a cluster with fewer hosts than nodes still schedules.
                                podAntiAffinity: {
                                    preferredDuringSchedulingIgnoredDuringExecution: [
                                        {
                                            weight: 100,
                                            podAffinityTerm: { topologyKey: "kubernetes.io/hostname", labelSelector: { matchLabels: podSelector } },
                                        },
                                    ],
                                },
                            },
                            containers: [
                                {
                                    name: n.container,
                                    image: s.image,
                                    imagePullPolicy: "IfNotPresent",
                                    command: ["sh", `/scripts/${redisScripts.start}`],
                                    ports: peerPorts.map((p) => ({ name: p.name, containerPort: p.port, protocol: p.protocol })),
                                    env: [
                                        passwordEnv("REDIS_PASSWORD"),
                                        // redis-cli in the probes reads the password from here, not from argv.
                                        passwordEnv("REDISCLI_AUTH"),
                                        { name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
                                        // Announced as the node's hostname: the maintenance scripts tell ordinals by it.
                                        { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
                                    ],
                                    // The run volume is memory-backed: only logs count as ephemeral storage.
                                    resources: withEphemeralStorage(s.resources),
                                    securityContext: restrictedContainerSecurityContext(),
                                    // Ready means "answers": the cluster is formed only once every node is up.
                                    readinessProbe: { ...ping, periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 3 },
                                    livenessProbe: { ...ping, initialDelaySeconds: 15, periodSeconds: 15, timeoutSeconds: 5, failureThreshold: 4 },
                                    volumeMounts: [
                                        { name: n.volumeClaim, mountPath: "/data" },
                                        { name: "config", mountPath: "/etc/redis" },
                                        { name: "scripts", mountPath: "/scripts" },
                                        { name: "run", mountPath: "/run/redis" },
                                    ],
                                },
                                ...(args.exporter
                                    ? [redisExporterContainer({ image: args.exporter.image, serverPort: redisPort, secretName: secret.metadata.name })]
                                    : []),
                            ],
                            volumes: [
                                { name: "config", configMap: { name: configMap.metadata.name, items: [{ key: "redis.conf", path: "redis.conf" }] } },
                                scriptsVolume,
                                { name: "run", emptyDir: { medium: "Memory", sizeLimit: "1Mi" } },
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
            { ...statefulSetOptions(this, args.protectData), dependsOn: [scaleIn] },
        );

        // After the StatefulSet has its pods: forms the cluster, or joins new nodes and rebalances.
        maintenanceJob(n.reconcileJob, "reconcile", redisScripts.reconcile, [statefulSet]);

        this.statefulSetName = statefulSet.metadata.name;
        this.scaleTarget = { kind: "StatefulSet", name: this.statefulSetName, container: n.container, podSelector, replicas: { min: s.nodes, max: s.nodes } };
        this.connection = { seedNodes: nodeAddresses, secretName: secret.metadata.name };
        this.registerOutputs({ connection: this.connection, statefulSetName: this.statefulSetName });
    }
}
