import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { readFileSync } from "fs";
import * as path from "path";
import { RedisSettings } from "../config";
import { builtInOptions, checkArgs, customResourceOptions, dataAnnotations, dataOptions, NamespacedArgs, statefulSetOptions } from "../lib/args";
import { tcp, WorkloadEndpoints } from "../lib/endpoints";
import { redisExporterContainer, redisExporterPort } from "../lib/exporters";
import { selectorLabels, standardLabels, WorkloadIdentity } from "../lib/labels";
import { contentNamedConfigMap } from "../lib/configMap";
import { names, serviceHost, statefulPodHost } from "../lib/names";
import { appsController, ScaleTarget } from "../lib/scaleTarget";
import { parseBytes } from "../lib/quantity";
import { withEphemeralStorage } from "../lib/resources";
import { caCertificateMount, restrictedContainerSecurityContext, restrictedPodSecurityContext, tokenlessServiceAccount } from "../lib/security";

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

/** Where the nodes' certificate is mounted in the Redis containers (tls.crt, tls.key, ca.crt). */
export const redisTlsDir = "/etc/redis/tls";
/** Where the maintenance Jobs and the exporter find the CA certificate (ca.crt) alone. */
export const redisCaDir = "/etc/redis-ca";

/**
 * The Redis ACL users (Redis 7 ACL rules), each with its own generated password (Secret key
 * `<key>-password`, variable REDIS_<KEY>_PASSWORD). The default user is off: every connection logs in
 * as one of these. Why each may do what it may: docs/redis.md, "TLS and ACL users".
 */
export const redisUsers = {
    /** The API: data commands on any key, and what a cluster client needs to find the slots; nothing @admin or @dangerous. */
    api: {
        name: "healthcare-api",
        rules: "resetchannels ~* -@all +@read +@write +@connection +cluster|info +cluster|slots +cluster|shards -@admin -@dangerous",
    },
    /** redis_exporter (CONFIG GET off: it would return masterauth): INFO, CLUSTER INFO/NODES, SLOWLOG, LATENCY. */
    exporter: {
        name: "exporter",
        rules: "resetkeys resetchannels -@all +ping +info +client|setname +cluster|info +cluster|nodes +slowlog|len +slowlog|get +latency|latest +latency|histogram +command|info",
    },
    /** The maintenance Jobs (reconcile, scale-in): CLUSTER *, moving keys with their slots, the lock key. */
    maintenance: {
        name: "maintenance",
        rules: "resetchannels ~* -@all +ping +info +role +dbsize +cluster +asking +select +migrate +restore-asking +get +set +del +eval",
    },
    /** The node's own probes, preStop hook and certificate reload: cluster state, the handover, CONFIG SET of the TLS files. */
    node: {
        name: "node",
        rules: "resetkeys resetchannels -@all +ping +info +role +cluster|info +cluster|nodes +cluster|myid +cluster|replicas +cluster|failover +config|set",
    },
    /** Replicas log in to their master as this user (masteruser/masterauth): the replication stream only. */
    replication: {
        name: "replication",
        rules: "resetkeys resetchannels -@all +psync +replconf +ping",
    },
} as const;
export type RedisUser = keyof typeof redisUsers;
/** The Secret key holding a user's password. */
export const redisPasswordKey = (user: RedisUser) => `${user}-password`;
/** The environment variable a user's password reaches a container in. */
export const redisPasswordVariable = (user: RedisUser) => `REDIS_${user.toUpperCase()}_PASSWORD`;

/** How the API reaches the cluster. */
export interface CacheConnection {
    /** Every node as host:port; cluster clients need seeds and follow MOVED redirects to all nodes. */
    seedNodes: pulumi.Output<string[]>;
    /** The API's ACL user. */
    username: string;
    /** Secret holding the API user's password under `passwordKey`. */
    secretName: pulumi.Output<string>;
    /** The key of the API user's password in that Secret. */
    passwordKey: string;
    /** With redisTls: the Secret and key of the CA certificate, and the name to verify in the nodes' certificate; undefined: plain TCP. */
    tls?: { caSecretName: pulumi.Input<string>; caKey: string; serverName: string };
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
    /** What the cert-manager Issuers and Certificates wait for (settings.tls): the add-on that brings cert-manager's CRDs, when the stack installs it. */
    crdInstallers?: pulumi.Resource[];
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
    client: "redis-client.sh",
} as const;

/** What the Redis pods run (and what their ConfigMap's content name covers): the start script and what it sources, the probes, the preStop hook. */
export const redisPodScripts = [redisScripts.start, redisScripts.resolve, redisScripts.probe, redisScripts.preStop, redisScripts.client] as const;
/** What the maintenance Jobs run: a change to these re-runs the Jobs and restarts no node. */
export const redisJobScripts = [redisScripts.reconcile, redisScripts.scaleIn, redisScripts.lib, redisScripts.resolve, redisScripts.client] as const;

function readScript(file: string): string {
    return readFileSync(path.join(__dirname, "assets", file), "utf8");
}

/**
 * The ACL lines of redis.conf: the default user off, then every user with its rules. A password is
 * named as #{REDIS_<USER>_PASSWORD}: the start script puts the SHA-256 of that variable there, so the
 * config (and the ConfigMap) holds no password.
 */
export function redisAclLines(): string[] {
    return [
        "user default off resetpass resetkeys resetchannels -@all",
        ...(Object.keys(redisUsers) as RedisUser[]).map((u) => `user ${redisUsers[u].name} on #{${redisPasswordVariable(u)}} ${redisUsers[u].rules}`),
        // Replicas authenticate to their master as this user; the start script appends masterauth.
        `masteruser ${redisUsers.replication.name}`,
    ];
}

/**
 * The TLS lines of redis.conf (redisTls): TLS on the data port, for replication and for the cluster bus
 * (the data port + 10000 as ever), the plain-text port closed. Peers present the node certificate
 * on replication and the bus; clients may present none (`optional`): they log in as ACL users.
 */
export function redisTlsLines(): string[] {
    return [
        "port 0",
        `tls-port ${redisPort}`,
        `tls-cert-file ${redisTlsDir}/tls.crt`,
        `tls-key-file ${redisTlsDir}/tls.key`,
        `tls-ca-cert-file ${redisTlsDir}/ca.crt`,
        "tls-auth-clients optional",
        "tls-replication yes",
        "tls-cluster yes",
    ];
}

/** redis.conf for every node; the start script resolves the ACL passwords and appends masterauth, the pod IP and the announced hostname. */
export function redisConfig(settings: RedisSettings): string {
    const limit = parseBytes(settings.resources.limits.memory) ?? 0;
    const maxmemory = Math.floor(limit * maxmemoryShare);
    const mb = (share: number) => `${Math.floor((limit * share) / 2 ** 20)}mb`;
    return [
        ...(settings.tls ? redisTlsLines() : [`port ${redisPort}`]),
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
        ...redisAclLines(),
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
        const builtIn = builtInOptions(this, args.deletion);

        // One generated password per ACL user, all in one Secret; each container gets only the ones it uses.
        // The API's is the cluster's former single password (alias): a protected resource cannot leave
        // the program, so an existing stack keeps it, as the API user's.
        const users = Object.keys(redisUsers) as RedisUser[];
        const passwords = users.map(
            (u) =>
                new random.RandomPassword(
                    `redis-${u}-password`,
                    { length: 32, special: false },
                    { ...dataOptions(this, args.protectData), additionalSecretOutputs: ["result"], aliases: u === "api" ? [{ name: "redis-password" }] : [] },
                ),
        );
        const secret = new k8s.core.v1.Secret(
            n.secret,
            { metadata: meta(n.secret), type: "Opaque", stringData: Object.fromEntries(users.map((u, i) => [redisPasswordKey(u), passwords[i].result])) },
            dataOptions(this, args.protectData, args.deletion),
        );

        // TLS (settings.tls): an issuer of the stack's own, in its namespace. A self-signed Issuer signs
        // only the CA; the CA Issuer signs the nodes' certificate, which cert-manager renews before it
        // expires (the liveness probe then reloads it, redis-probe.sh). The CA keeps its key when it
        // renews, so a client that read the CA certificate at start keeps verifying the nodes.
        // The pods mount the Secret by its fixed name, not through the Certificate's outputs: the
        // Certificate has no await, so waiting for it proved nothing (its Secret appears when
        // cert-manager issues it; the kubelet retries the mount until then, and the StatefulSet's and
        // Jobs' awaits still wait for those pods), and put four cert-manager objects in series before
        // the Redis Jobs and StatefulSet on every first install.
        const tlsSecretName = s.tls ? this.certificates(args, meta) : undefined;

        // Two ConfigMaps, each named for its content (lib/configMap.ts): the pods' template
        // changes (and the nodes restart, one at a time) only when what the pods run changes, and a Job
        // script change only replaces the Jobs. A new name is created before the old one goes, so no
        // change replaces the StatefulSet the way a fixed-name ConfigMap's delete-before-create would.
        const podData: Record<string, string> = { "redis.conf": redisConfig(s), ...Object.fromEntries(redisPodScripts.map((f) => [f, readScript(f)])) };
        const jobData: Record<string, string> = Object.fromEntries(redisJobScripts.map((f) => [f, readScript(f)]));
        // Kept when a change names a new one (retainOnDelete): a StatefulSet rollback, a pod of the
        // previous revision restarting mid-roll, or a Job retry can still mount the previous one.
        const configMap = contentNamedConfigMap(n.configMap, meta(n.configMap), podData, { ...builtIn, retainOnDelete: true });
        const jobScripts = contentNamedConfigMap(n.jobScriptsConfigMap, meta(n.jobScriptsConfigMap), jobData, { ...builtIn, retainOnDelete: true });

        const serviceAccount = tokenlessServiceAccount(n.serviceAccount, meta(n.serviceAccount), builtIn);

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
            builtIn,
        );

        const passwordEnv = (envName: string, user: RedisUser) => ({ name: envName, valueFrom: { secretKeyRef: { name: secret.metadata.name, key: redisPasswordKey(user) } } });
        // How a container's redis-cli logs in (redis-client.sh): its user, its password through REDISCLI_AUTH, TLS with the CA.
        const clientEnv = (user: RedisUser, caDir: string) => [
            { name: "REDIS_USER", value: redisUsers[user].name },
            passwordEnv("REDISCLI_AUTH", user),
            ...(s.tls ? [{ name: "REDIS_TLS", value: "1" }, { name: "REDIS_TLS_CA_FILE", value: `${caDir}/ca.crt` }] : []),
        ];
        // The CA certificate alone, for containers that verify the nodes but hold no key of theirs.
        const caVolumeName = "redis-ca";
        const ca = tlsSecretName ? caCertificateMount(caVolumeName, tlsSecretName, "ca.crt", redisCaDir) : undefined;
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
                                ...clientEnv("maintenance", redisCaDir),
                                ...extraEnv,
                            ],
                            resources: withEphemeralStorage({ requests: { cpu: "50m", memory: "32Mi" }, limits: { cpu: "200m", memory: "64Mi" } }),
                            securityContext: restrictedContainerSecurityContext(),
                            volumeMounts: [{ name: "scripts", mountPath: "/scripts" }, ...(ca ? [ca.mount] : [])],
                        },
                    ],
                    volumes: [{ name: "scripts", configMap: { name: jobScripts.metadata.name, defaultMode: 0o555 } }, ...(ca ? [ca.volume] : [])],
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
                { ...builtIn, dependsOn },
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
                      { ...builtIn, dependsOn: policies },
                  )
                : undefined;

        // Before the StatefulSet update: a node leaves only after its slots have moved. A fast no-op on a
        // fresh install and whenever no node is above the desired count. Not in a transport switch's
        // window: it would talk the new way to nodes that still talk the old one (the node count cannot
        // change in that deployment: DataChangeGuard).
        const scaleIn = s.transportSwitch ? undefined : maintenanceJob(n.scaleInJob, "scale-in", redisScripts.scaleIn, periodicReconcile ? [periodicReconcile] : []);

        const statefulSet = new k8s.apps.v1.StatefulSet(
            n.statefulSet,
            {
                metadata: { ...meta(n.statefulSet), annotations: dataAnnotations(args.protectData) },
                spec: {
                    serviceName: headless.metadata.name,
                    replicas: s.nodes,
                    // All nodes start together: forming the cluster needs every one of them up.
                    podManagementPolicy: "Parallel",
                    // A transport switch (redisTransportSwitch): no node restarts on its own, since a roll would
                    // split the cluster; the operator deletes them all at once (docs/redis.md).
                    updateStrategy: s.transportSwitch ? { type: "OnDelete" } : { type: "RollingUpdate" },
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
                                        // Every user's password, for the ACL lines the start script writes (as hashes) and masterauth.
                                        ...users.map((u) => passwordEnv(redisPasswordVariable(u), u)),
                                        // redis-cli in the probes and the preStop hook logs in as the node's own user (redis-client.sh), never through argv.
                                        ...clientEnv("node", redisTlsDir),
                                        ...(s.tls ? [{ name: "REDIS_TLS_DIR", value: redisTlsDir }] : []),
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
                                        // The key pair and CA; the kubelet swaps the files in place when cert-manager renews them (no subPath: it would not).
                                        ...(tlsSecretName ? [{ name: "tls", mountPath: redisTlsDir, readOnly: true }] : []),
                                    ],
                                },
                                ...(args.exporter
                                    ? [
                                          redisExporterContainer({
                                              image: args.exporter.image,
                                              serverPort: redisPort,
                                              user: redisUsers.exporter.name,
                                              secretName: secret.metadata.name,
                                              passwordKey: redisPasswordKey("exporter"),
                                              tls: ca ? { volume: caVolumeName, caDir: redisCaDir } : undefined,
                                          }),
                                      ]
                                    : []),
                            ],
                            volumes: [
                                { name: "config", configMap: { name: configMap.metadata.name, items: [{ key: "redis.conf", path: "redis.conf" }] } },
                                {
                                    name: "scripts",
                                    configMap: { name: configMap.metadata.name, defaultMode: 0o555, items: redisPodScripts.map((f) => ({ key: f, path: f })) },
                                },
                                { name: "run", emptyDir: { medium: "Memory", sizeLimit: "1Mi" } },
                                // Readable by redis (the pod's fsGroup), by no other user.
                                ...(tlsSecretName ? [{ name: "tls", secret: { secretName: tlsSecretName, defaultMode: 0o440 } }] : []),
                                ...(ca && args.exporter ? [ca.volume] : []),
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
                ...statefulSetOptions(this, args.protectData, args.deletion),
                dependsOn: scaleIn ? [scaleIn] : [],
                // A roll takes every node in turn: Pulumi's default 10 minutes would fail `up` part-way,
                // skipping the reconcile Job and everything after it. The provider honours customTimeouts first.
                customTimeouts: { create: `${redisRolloutSeconds(s.nodes)}s`, update: `${redisRolloutSeconds(s.nodes)}s` },
            },
        );

        // After the StatefulSet has its pods: forms the cluster, or joins new nodes and rebalances.
        maintenanceJob(n.reconcileJob, "reconcile", redisScripts.reconcile, [statefulSet]);


        this.statefulSetName = statefulSet.metadata.name;
        this.scaleTarget = { ...appsController("StatefulSet"), name: this.statefulSetName, container: n.container, podSelector, replicas: { min: s.nodes, max: s.nodes } };
        this.connection = {
            seedNodes: nodeAddresses,
            username: redisUsers.api.name,
            secretName: secret.metadata.name,
            passwordKey: redisPasswordKey("api"),
            tls: tlsSecretName === undefined ? undefined : { caSecretName: tlsSecretName, caKey: "ca.crt", serverName: n.tlsServerName },
        };
        this.registerOutputs({ connection: this.connection, statefulSetName: this.statefulSetName });
    }

    /**
     * The self-signed Issuer, the CA Certificate, the CA Issuer and the nodes' Certificate; returns the
     * name of the Secret cert-manager writes the nodes' key pair and CA into. The nodes' certificate
     * names every pod (*.<headless service>.<namespace>.svc.cluster.local), the headless Service, the
     * fixed name clients verify (names.redis.tlsServerName) and 127.0.0.1 (the exporter in the pod).
     */
    private certificates(args: RedisClusterArgs, meta: (name: string) => { name: string; namespace: pulumi.Output<string>; labels: Record<string, string> }): string {
        const n = names.redis;
        const opts = { ...customResourceOptions(this, args.deletion), dependsOn: args.crdInstallers ?? [] };
        const certManager = (name: string, kind: string, spec: pulumi.Input<Record<string, unknown>>, dependsOn: pulumi.Resource[] = []) =>
            new k8s.apiextensions.CustomResource(
                `${name}-${kind.toLowerCase()}`,
                { apiVersion: "cert-manager.io/v1", kind, metadata: meta(name), spec },
                { ...opts, dependsOn: [...opts.dependsOn, ...dependsOn] },
            );
        const selfSigned = certManager(n.selfSignedIssuer, "Issuer", { selfSigned: {} });
        const ca = certManager(
            n.caCertificate,
            "Certificate",
            {
                isCA: true,
                commonName: `${n.statefulSet} CA`,
                secretName: n.caCertificate,
                duration: `${10 * 365 * 24}h`,
                renewBefore: `${365 * 24}h`,
                // The same key across renewals: clients that loaded the previous CA certificate keep trusting the nodes.
                privateKey: { algorithm: "ECDSA", size: 256, rotationPolicy: "Never" },
                issuerRef: { name: n.selfSignedIssuer, kind: "Issuer", group: "cert-manager.io" },
            },
            [selfSigned],
        );
        const caIssuer = certManager(n.caIssuer, "Issuer", { ca: { secretName: n.caCertificate } }, [ca]);
        certManager(
            n.certificate,
            "Certificate",
            args.namespace.apply((ns) => ({
                secretName: n.certificate,
                commonName: n.tlsServerName,
                dnsNames: [n.tlsServerName, n.headlessService, serviceHost(n.headlessService, ns), `*.${serviceHost(n.headlessService, ns)}`],
                ipAddresses: ["127.0.0.1"],
                duration: `${90 * 24}h`,
                renewBefore: `${30 * 24}h`,
                // Server auth for clients and peers, client auth for a node's replication and cluster-bus connections.
                usages: ["server auth", "client auth", "digital signature", "key encipherment"],
                privateKey: { algorithm: "ECDSA", size: 256, rotationPolicy: "Always" },
                issuerRef: { name: n.caIssuer, kind: "Issuer", group: "cert-manager.io" },
            })),
            [caIssuer],
        );
        return n.certificate;
    }
}
