import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { readFileSync } from "fs";
import * as path from "path";
import { RedisSettings } from "../config";
import { checkArgs, dataAnnotations, dataOptions, NamespacedArgs, statefulSetOptions } from "../lib/args";
import { tcp, WorkloadEndpoints } from "../lib/endpoints";
import { redisExporterContainer, redisExporterPort } from "../lib/exporters";
import { selectorLabels, standardLabels, WorkloadIdentity } from "../lib/labels";
import { contentNamedConfigMap } from "../lib/configMap";
import { names, serviceHost, statefulPodHost } from "../lib/names";
import { appsController, ScaleTarget } from "../lib/scaleTarget";
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
/** How often the periodic reconcile checks the cluster's shape (a failed Job, a node back empty after a lost volume). */
export const reconcileSchedule = "*/15 * * * *";

/** How long a node may take to start: waiting for its peers' names, then loading its AOF/RDB (startupProbe). */
export const redisStartupBudgetSeconds = 600;
const startupProbePeriodSeconds = 5;

/** How long the start script waits for every peer's name to resolve before leaving the rest to gossip. */
const peerWaitSeconds = 30;

/** A name every healthy cluster DNS answers: "a pod name does not resolve" means "no such pod" only while it does. */
export const dnsCanary = "kubernetes.default.svc.cluster.local";

/** The node label the scheduler spreads the nodes over and Kubernetes >= 1.35 copies onto each pod (PodTopologyLabels). */
export const zoneLabel = "topology.kubernetes.io/zone";

/**
 * Share of the container's memory limit given to data (`maxmemory`). The rest of the cgroup is for
 * what Redis does not count against maxmemory but the kernel does: the copy-on-write pages of a fork
 * (AOF rewrite, the RDB of a full resync a restarted replica asks for), the replica output buffer,
 * allocator fragmentation and the process itself. Figures: docs/redis.md, "Memory".
 */
export const maxmemoryShare = 0.5;
/** A replica's output buffer (a full resync's stream) may use this share of the limit for good; the connection is cut above it. */
export const replicaBufferHardShare = 1 / 16;
/** ... or half that for 60 s. */
export const replicaBufferSoftShare = 1 / 32;

/** How long the preStop waits for a master's replica to take over (CLUSTER FAILOVER and the role swap). */
export const preStopFailoverSeconds = 30;
/** What the shutdown itself may take once SIGTERM arrives: Redis waits up to shutdown-timeout (10 s) for replicas to catch up, then fsyncs the AOF. */
const shutdownSeconds = 30;
/** The grace period covers the handover and the shutdown: the kubelet counts the preStop hook against it. */
export const redisTerminationGraceSeconds = preStopFailoverSeconds + shutdownSeconds;
/** Readiness after a start: a few probe periods on top of the startup budget. */
const readinessAfterStartSeconds = 30;

/**
 * How long Pulumi may wait for the StatefulSet to be ready: a roll takes the nodes one at a time, and
 * each may use its grace period, its startup budget (loading its AOF, a resync) and its readiness.
 * Pulumi's default (10 minutes) is shorter than one node's startup budget.
 */
export function redisRolloutSeconds(nodes: number): number {
    return nodes * (redisTerminationGraceSeconds + redisStartupBudgetSeconds + readinessAfterStartSeconds) + 300;
}

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
    /** PriorityClass of the Redis pods (the data stores' class); undefined leaves the cluster's default. */
    priorityClassName?: pulumi.Input<string>;
    /** What admits the maintenance Jobs' traffic (their allow NetworkPolicies), or a promise of it: the Jobs start only once it exists. */
    networkPolicies?: pulumi.Resource[] | Promise<pulumi.Resource[]>;
}

/** Scripts shipped to the pods and Jobs in ConfigMaps; the tests run the same files. */
export const redisScripts = {
    start: "redis-start.sh",
    probe: "redis-probe.sh",
    resolve: "redis-resolve.sh",
    reconcile: "redis-cluster-reconcile.sh",
    scaleIn: "redis-cluster-scale-in.sh",
    lib: "redis-cluster-lib.sh",
    preStop: "redis-prestop.sh",
} as const;

/** What the Redis pods run (and what their ConfigMap's content name covers): the start script and what it sources, the probes, the preStop hook. */
export const redisPodScripts = [redisScripts.start, redisScripts.resolve, redisScripts.probe, redisScripts.preStop] as const;
/** What the maintenance Jobs run: a change to these re-runs the Jobs and restarts no node. */
export const redisJobScripts = [redisScripts.reconcile, redisScripts.scaleIn, redisScripts.lib, redisScripts.resolve] as const;

function readScript(file: string): string {
    return readFileSync(path.join(__dirname, "assets", file), "utf8");
}

/** redis.conf for every node; the start script appends the password, the pod IP and the announced hostname. */
export function redisConfig(settings: RedisSettings): string {
    const limit = parseBytes(settings.resources.limits.memory) ?? 0;
    const maxmemory = Math.floor(limit * maxmemoryShare);
    const mb = (share: number) => `${Math.floor((limit * share) / 2 ** 20)}mb`;
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
        // One persistence mode: the AOF (with its RDB preamble). No RDB save points: each one would be
        // another fork, and its copy-on-write pages, in the same cgroup.
        "appendonly yes",
        'save ""',
        `maxmemory ${maxmemory}`,
        // A replica in full resync reads a stream buffered on its master, outside maxmemory: capped,
        // so that a slow resync costs the replica its connection, not the master its memory.
        `client-output-buffer-limit replica ${mb(replicaBufferHardShare)} ${mb(replicaBufferSoftShare)} 60`,
        // Queues and sessions live here: refuse writes when full rather than silently evicting them.
        "maxmemory-policy noeviction",
        "",
    ].join("\n");
}

/**
 * A Redis Cluster: StatefulSet in cluster mode, headless Service, generated password, and two
 * maintenance Jobs that keep every slot served when `settings.nodes` changes: scale-in (before the
 * StatefulSet update) drains the nodes a smaller cluster leaves out, reconcile (after it) forms the
 * cluster or joins new nodes, rebalances and places replicas by zone; the same reconcile runs every
 * 15 minutes (CronJob) to heal a failed Job or a node back empty. Each node's start script refreshes
 * its peers' addresses from their stable names, so the cluster comes back after every pod restarted
 * at once on new IPs; its preStop hook hands a master's slots to its replica before each stop.
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

        // Two ConfigMaps, each named for its content (lib/configMap.ts): the pods' template
        // changes (and the nodes restart, one at a time) only when what the pods run changes, and a Job
        // script change only replaces the Jobs. A new name is created before the old one goes, so no
        // change replaces the StatefulSet the way a fixed-name ConfigMap's delete-before-create would.
        const podData: Record<string, string> = { "redis.conf": redisConfig(s), ...Object.fromEntries(redisPodScripts.map((f) => [f, readScript(f)])) };
        const jobData: Record<string, string> = Object.fromEntries(redisJobScripts.map((f) => [f, readScript(f)]));
        // Kept when a change names a new one (retainOnDelete): a StatefulSet rollback, a pod of the
        // previous revision restarting mid-roll, or a Job retry can still mount the previous one.
        const configMap = contentNamedConfigMap(n.configMap, meta(n.configMap), podData, this, { retainOnDelete: true });
        const jobScripts = contentNamedConfigMap(n.jobScriptsConfigMap, meta(n.jobScriptsConfigMap), jobData, this, { retainOnDelete: true });

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
        const probe = (mode: "startup" | "liveness" | "readiness") => ({ exec: { command: ["sh", `/scripts/${redisScripts.probe}`, mode] } });
        const dnsCanaryEnv = { name: "REDIS_DNS_CANARY", value: dnsCanary };
        const nodeAddresses = args.namespace.apply((ns) =>
            Array.from({ length: s.nodes }, (_, i) => `${statefulPodHost(n.statefulSet, i, n.headlessService, ns)}:${redisPort}`),
        );
        // The maintenance pod, shared by the Jobs and the periodic reconcile: the desired nodes in, redis-cli against them.
        const maintenanceJobSpec = (container: string, script: string, extraEnv: { name: string; value: string }[] = []) => ({
            backoffLimit: 4,
            activeDeadlineSeconds: maintenanceDeadlineSeconds,
            template: {
                metadata: {
                    labels: standardLabels(maintenanceIdentity),
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
                                dnsCanaryEnv,
                                passwordEnv("REDISCLI_AUTH"),
                                ...extraEnv,
                            ],
                            resources: withEphemeralStorage({ requests: { cpu: "50m", memory: "32Mi" }, limits: { cpu: "200m", memory: "64Mi" } }),
                            securityContext: restrictedContainerSecurityContext(),
                            volumeMounts: [{ name: "scripts", mountPath: "/scripts" }],
                        },
                    ],
                    volumes: [{ name: "scripts", configMap: { name: jobScripts.metadata.name, defaultMode: 0o555 } }],
                },
            },
        });
        // The Jobs wait for their allow policies: on a fresh install, a Job started while only the
        // default deny exists fails its first attempts (and, with backoff, for minutes).
        const policies: Promise<pulumi.Resource[]> = Promise.resolve(args.networkPolicies ?? []);
        // One Job per maintenance script, all alike. A Job is replaced (and so runs again) when the
        // desired nodes or the scripts change; both scripts are no-ops when the cluster already has the desired shape.
        const maintenanceJob = (jobName: string, container: string, script: string, after: pulumi.Resource[]) => {
            const dependsOn: Promise<pulumi.Resource[]> = policies.then((p) => [...p, ...after]);
            return new k8s.batch.v1.Job(
                jobName,
                {
                    metadata: {
                        ...meta(jobName),
                        labels: standardLabels(maintenanceIdentity),
                        // Moving the slots of a large node takes a while; Pulumi waits as long as the Job may run.
                        annotations: { "pulumi.com/timeoutSeconds": String(maintenanceDeadlineSeconds + 60) },
                    },
                    spec: maintenanceJobSpec(container, script),
                },
                { parent: this, dependsOn },
            );
        };

        // The reconcile again every 15 minutes: a failed Job stays failed until the next change, and a
        // node whose pod came back with an empty volume is Ready while the cluster is a replica short.
        // It changes only a formed cluster whose desired nodes all answer, none beyond them, and only
        // while no other run holds the maintenance lock (redis-cluster-lib.sh); otherwise it leaves the
        // cluster to the deployment's Jobs. Updated before them (the scale-in Job waits for it), so it
        // never works from the previous node list while they move slots.
        const periodicReconcile =
            s.nodes > 1
                ? new k8s.batch.v1.CronJob(
                      n.reconcileCronJob,
                      {
                          metadata: { ...meta(n.reconcileCronJob), labels: standardLabels(maintenanceIdentity) },
                          spec: {
                              schedule: reconcileSchedule,
                              concurrencyPolicy: "Forbid",
                              startingDeadlineSeconds: 300,
                              successfulJobsHistoryLimit: 1,
                              failedJobsHistoryLimit: 3,
                              jobTemplate: {
                                  metadata: { labels: standardLabels(maintenanceIdentity) },
                                  spec: maintenanceJobSpec("reconcile", redisScripts.reconcile, [{ name: "RECONCILE_MODE", value: "periodic" }]),
                              },
                          },
                      },
                      { parent: this, dependsOn: policies },
                  )
                : undefined;

        // Before the StatefulSet update: a node leaves only after its slots have moved. A fast no-op on a
        // fresh install and whenever no node is above the desired count.
        const scaleIn = maintenanceJob(n.scaleInJob, "scale-in", redisScripts.scaleIn, periodicReconcile ? [periodicReconcile] : []);

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
                        metadata: { labels },
                        spec: {
                            serviceAccountName: serviceAccount.metadata.name,
                            automountServiceAccountToken: false,
                            priorityClassName: args.priorityClassName,
                            securityContext: restrictedPodSecurityContext(redisUid),
                            // The preStop handover plus the shutdown (the kubelet's default 30 s covers neither with margin).
                            terminationGracePeriodSeconds: redisTerminationGraceSeconds,
                            // Across zones when the cluster has them (the reconcile Job then keeps each
                            // replica out of its master's zone); ScheduleAnyway: fewer zones than
                            // nodes, or a full zone, still schedules.
                            topologySpreadConstraints: [
                                { maxSkew: 1, topologyKey: zoneLabel, whenUnsatisfiable: "ScheduleAnyway", labelSelector: { matchLabels: podSelector } },
                            ],
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
                                        // Empty before Kubernetes 1.35 (no PodTopologyLabels admission) or without zones.
                                        { name: "REDIS_ZONE", valueFrom: { fieldRef: { fieldPath: `metadata.labels['${zoneLabel}']` } } },
                                        // The failure domain where the zone is unknown: the Jobs keep a replica off its master's host.
                                        { name: "REDIS_NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
                                        // Peers resolve as <pod>.<domain> through the headless Service, ready or not.
                                        { name: "REDIS_PEER_DOMAIN", value: pulumi.all([headless.metadata.name, args.namespace]).apply(([svc, ns]) => serviceHost(svc, ns)) },
                                        { name: "REDIS_PEER_WAIT_SECONDS", value: String(peerWaitSeconds) },
                                        { name: "REDIS_PORT", value: String(redisPort) },
                                        { name: "PRESTOP_FAILOVER_SECONDS", value: String(preStopFailoverSeconds) },
                                        dnsCanaryEnv,
                                    ],
                                    // The run volume is memory-backed: only logs count as ephemeral storage.
                                    resources: withEphemeralStorage(s.resources),
                                    securityContext: restrictedContainerSecurityContext(),
                                    // Loading a large AOF/RDB answers -LOADING: the startup budget covers it, liveness waits.
                                    startupProbe: {
                                        ...probe("startup"),
                                        periodSeconds: startupProbePeriodSeconds,
                                        timeoutSeconds: 5,
                                        failureThreshold: redisStartupBudgetSeconds / startupProbePeriodSeconds,
                                    },
                                    // Any reply is alive (-LOADING, -BUSY included); only silence restarts the node.
                                    livenessProbe: { ...probe("liveness"), periodSeconds: 15, timeoutSeconds: 5, failureThreshold: 4 },
                                    // cluster_state:ok and, on a replica, its link up: a rolling restart waits for each node to rejoin.
                                    readinessProbe: { ...probe("readiness"), periodSeconds: 5, timeoutSeconds: 5, failureThreshold: 3 },
                                    // A master hands its slots to an in-sync replica before SIGTERM: a roll fails no write.
                                    lifecycle: { preStop: { exec: { command: ["sh", `/scripts/${redisScripts.preStop}`] } } },
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
                                {
                                    name: "scripts",
                                    configMap: { name: configMap.metadata.name, defaultMode: 0o555, items: redisPodScripts.map((f) => ({ key: f, path: f })) },
                                },
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
            {
                ...statefulSetOptions(this, args.protectData),
                dependsOn: [scaleIn],
                // A roll takes every node in turn: Pulumi's default 10 minutes would fail `up` part-way,
                // skipping the reconcile Job and everything after it. The provider honours customTimeouts first.
                customTimeouts: { create: `${redisRolloutSeconds(s.nodes)}s`, update: `${redisRolloutSeconds(s.nodes)}s` },
            },
        );

        // After the StatefulSet has its pods: forms the cluster, or joins new nodes and rebalances.
        maintenanceJob(n.reconcileJob, "reconcile", redisScripts.reconcile, [statefulSet]);


        this.statefulSetName = statefulSet.metadata.name;
        this.scaleTarget = { ...appsController("StatefulSet"), name: this.statefulSetName, container: n.container, podSelector, replicas: { min: s.nodes, max: s.nodes } };
        this.connection = { seedNodes: nodeAddresses, secretName: secret.metadata.name };
        this.registerOutputs({ connection: this.connection, statefulSetName: this.statefulSetName });
    }
}
