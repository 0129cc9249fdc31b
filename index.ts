import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { Api } from "./components/api";
import { Autoscaling, fixedApiReplicas } from "./components/autoscaling";
import { ClusterAddons, clusterAddonsName, localGatewayPorts } from "./components/clusterAddons";
import { ClusterPrerequisites, platformRequirements } from "./components/clusterPrerequisites";
import { Dashboards, stackDashboards } from "./components/dashboards";
import { DataChangeGuard, DataFacts } from "./components/dataChangeGuard";
import { DefaultDeny } from "./components/defaultDeny";
import { Gateway } from "./components/gateway";
import { KubernetesApiEndpoints } from "./components/kubernetesApiEndpoints";
import { MonitoredVolume, Monitoring, prometheusAdapterRules } from "./components/monitoring";
import { NetworkSecurity } from "./components/networkSecurity";
import { Postgres } from "./components/postgres";
import { clusterNames } from "./components/postgres/cloudNativePg";
import { PostgresBackup } from "./components/postgresBackup";
import { NamedRead, PreviewerAccess } from "./components/previewerAccess";
import { DataPriorityClass } from "./components/priorityClass";
import { RedisCluster } from "./components/redisCluster";
import { RestrictedNamespace } from "./components/restrictedNamespace";
import { loadSettings, Settings } from "./config";
import { releaseConfig } from "./config/release";
import { allChecks, NamespaceDeletion } from "./lib/args";
import { names, previewerClusterRoleName } from "./lib/names";

/**
 * The program. An async function, so that the checks against the stack's last deployment
 * (DataChangeGuard) and the cluster (ClusterPrerequisites) are awaited before the first Kubernetes
 * object is registered: a refusal rejects this function, which the engine reports as the preview's or
 * update's error, with no object registered.
 */
export = async (): Promise<Record<string, unknown>> => {
    // The Redis Jobs wait for their allow policies, which NetworkSecurity builds later from the
    // cluster's own endpoints: a promise kept once the policies are declared. Kept empty when the
    // program fails before that (a promise of the policies that never settles would hold the Jobs' registration open).
    let declare: (policies: pulumi.Resource[]) => void = () => undefined;
    const redisPolicies = new Promise<pulumi.Resource[]>((resolve) => (declare = resolve));
    try {
        return await program(redisPolicies, declare);
    } finally {
        declare([]);
    }
};

async function program(redisPolicies: Promise<pulumi.Resource[]>, redisPoliciesDeclared: (policies: pulumi.Resource[]) => void): Promise<Record<string, unknown>> {
    // Validates everything before the first resource is registered.
    const settings = loadSettings();

    // What the stack's data is in, compared with its last deployment's before anything is created: a change
    // the data cannot survive (an engine switch, a major version the engine cannot upgrade to, a protected
    // backup volume going) fails the preview.
    const facts: DataFacts = {
        postgresEngine: settings.postgres.engine,
        postgresMajorVersion: settings.postgres.majorVersion,
        postgresBackupVolume: settings.postgres.engine === "statefulset" && settings.postgresBackup !== undefined,
        ...(settings.postgres.engine === "cloudnative-pg"
            ? {
                  postgresCluster: settings.postgres.cluster,
                  postgresClusters: clusterNames(settings.postgres).sort(),
                  ...(settings.postgres.importSource ? { postgresImportSource: true } : {}),
                  ...(settings.postgres.recovery ? { postgresRecovery: { cluster: settings.postgres.recovery.cluster, targetTime: settings.postgres.recovery.targetTime } } : {}),
              }
            : {}),
        redisTransport: settings.redis.tls ? "tls-acl" : "plain-acl",
        redisNodes: settings.redis.nodes,
    };
    const dataGuard = new DataChangeGuard("data-change-guard", {
        stackName: `${pulumi.getOrganization()}/${settings.project}/${settings.stack}`,
        facts,
        rules: { protectData: settings.protectData, releaseBackupVolume: settings.releaseBackupVolume, upgradeFromMajor: settings.upgradeFromMajor, release: settings.release, redisTransportSwitch: settings.redis.transportSwitch },
    });

    // An explicit provider: the stack deploys to the context its config names, never to whatever is current.
    const provider = new k8s.Provider("kubernetes", { context: settings.cluster.context, kubeconfig: settings.cluster.kubeconfig });

    // What the platform must provide (Kubernetes 1.35 or later, the APIs the stack does not install, the
    // named ClusterIssuer): checked before anything else is registered, the add-ons included, so that a
    // cluster without them fails the preview, naming every missing piece at once, not a half-done `up`.
    const requirements = platformRequirements(settings);
    const prerequisites = new ClusterPrerequisites(
        "cluster-prerequisites",
        { apis: requirements.apis, clusterIssuer: requirements.clusterIssuer, context: settings.cluster.context },
        { provider },
    );
    // Both checks side by side (neither creates anything); a run either refuses names every problem of both.
    const [, prerequisiteReads] = await allChecks(dataGuard.allowed, prerequisites.checks);

    // Cluster add-ons the stack installs (Helm releases; none where the platform provides them). Objects
    // that need their CRDs wait for them; prometheus-adapter serves the HPA's custom metrics by these rules.
    const addons = new ClusterAddons(
        clusterAddonsName,
        {
            settings: settings.addons,
            environment: settings.environment,
            adapterRules: prometheusAdapterRules(),
            dashboardLabel: settings.monitoring.enabled ? settings.monitoring.dashboardLabel : undefined,
            gatewayApi: settings.ingress.enabled && settings.ingress.exposure === "gateway",
        },
        { provider },
    );

    const namespace = new RestrictedNamespace("namespace", { name: settings.namespace, instance: settings.stack, protectData: settings.protectData }, { provider, dependsOn: prerequisiteReads });
    // Every object of the namespace is created after its default-deny NetworkPolicy: no pod starts unrestricted.
    // A destroy deletes the namespace alone, as `kubectl delete namespace` does: its objects skip their own
    // deletes and waits (lib/args.ts NamespaceDeletion). Custom resources too, unless the stack installs the
    // add-ons, whose operators the same destroy deletes.
    const deletion: NamespaceDeletion = { namespace: namespace.namespace, customResources: addons.readyFor.length === 0 };
    const defaultDeny = new DefaultDeny("default-deny", { namespace: namespace.name, instance: settings.stack, deletion }, { provider });
    const workload = { namespace: defaultDeny.namespace, instance: settings.stack, deletion };

    // The data stores outrank the API when the cluster is full (staging, production); cluster-scoped.
    const dataPriority = settings.dataPriorityClassName
        ? new DataPriorityClass("data-priority", { className: settings.dataPriorityClassName, instance: settings.stack }, { provider })
        : undefined;

    const exporters = settings.monitoring.exporters;
    const onStatefulSet = settings.postgres.engine === "statefulset";
    const postgres = new Postgres(
        "postgres",
        {
            ...workload,
            settings: settings.postgres,
            backup: onStatefulSet ? undefined : settings.postgresBackup,
            protectData: settings.protectData,
            // The statefulset engine's server keeps its sidecar while it is an import's source: its pod does not roll.
            exporter: (onStatefulSet || settings.postgres.importSource) && exporters ? { image: exporters.postgresImage } : undefined,
            priorityClassName: dataPriority?.className,
            crdInstallers: addons.readyFor,
        },
        { provider },
    );
    // The statefulset engine's scheduled backups: dumps on their own volume (and in object storage when
    // configured). CloudNativePG backs up continuously itself.
    const postgresBackup =
        onStatefulSet && settings.postgresBackup
            ? new PostgresBackup(
                  "postgres-backup",
                  {
                      ...workload,
                      settings: settings.postgresBackup,
                      postgresImage: settings.postgres.image,
                      database: postgres.connection,
                      // Its own role (pg_read_all_data), never the API's or the superuser's.
                      credentialsSecretName: postgres.backupSecretName!,
                      protectData: settings.protectData,
                  },
                  { provider },
              )
            : undefined;
    const redis = new RedisCluster(
        "redis-cluster",
        {
            ...workload,
            settings: settings.redis,
            protectData: settings.protectData,
            exporter: exporters && { image: exporters.redisImage },
            priorityClassName: dataPriority?.className,
            networkPolicies: redisPolicies,
            crdInstallers: addons.readyFor,
        },
        { provider },
    );
    // The API's public entry: an HTTPRoute on a Gateway (the platform's, or one the stack creates here:
    // local's, on the add-on's Envoy Gateway), or an Ingress.
    const entry = settings.ingress;
    const ownGateway =
        entry.enabled && entry.gateway?.className
            ? new Gateway(
                  "gateway",
                  {
                      ...workload,
                      name: entry.gateway.name,
                      className: entry.gateway.className,
                      host: entry.host,
                      ports: settings.environment === "local" ? { http: localGatewayPorts.http.port, https: localGatewayPorts.https.port } : { http: 80, https: 443 },
                      tls: entry.tls.enabled ? { secretName: entry.tls.secretName, clusterIssuer: entry.tls.clusterIssuer } : undefined,
                      crdInstallers: addons.readyFor,
                  },
                  { provider },
              )
            : undefined;
    const api = new Api(
        "api",
        {
            ...workload,
            settings: settings.api,
            replicas: fixedApiReplicas(settings),
            database: postgres.connection,
            cache: redis.connection,
            ingress: entry,
            gateway: entry.gateway && { name: entry.gateway.name, namespace: entry.gateway.namespace, sectionName: ownGateway?.apiListener ?? entry.gateway.sectionName },
            crdInstallers: [...addons.readyFor, ...(ownGateway ? [ownGateway] : [])],
        },
        { provider },
    );

    // CloudNativePG's instance managers reach the API server: its addresses, read from the cluster.
    const apiEndpointSlice = { namespace: "default", name: "kubernetes" };
    const kubernetesApi = postgres.topology.operatorManaged
        ? new KubernetesApiEndpoints("kubernetes-api", { endpointSlice: `${apiEndpointSlice.namespace}/${apiEndpointSlice.name}` }, { provider })
        : undefined;

    // Read-only access for CI previews: what a refresh of this stack reads, nothing it could write.
    if (settings.previewerAccess) {
        const clusterReads: NamedRead[] = [
            { group: "", resource: "namespaces", name: settings.namespace },
            ...(settings.dataPriorityClassName ? [{ group: "scheduling.k8s.io", resource: "priorityclasses", name: settings.dataPriorityClassName }] : []),
            // The prerequisites read the served APIs through discovery (open to every account) and the ClusterIssuer by name.
            ...(requirements.clusterIssuer ? [{ group: "cert-manager.io", resource: "clusterissuers", name: requirements.clusterIssuer.name }] : []),
            ...(kubernetesApi ? [{ group: "discovery.k8s.io", resource: "endpointslices", name: apiEndpointSlice.name }] : []),
        ];
        new PreviewerAccess("previewer-access", { ...workload, clusterRoleName: previewerClusterRoleName(settings.namespace), clusterReads }, { provider });
    }

    // Exactly the connections the workloads above need, on top of the default deny.
    const networkSecurity = new NetworkSecurity(
        "network-security",
        {
            ...workload,
            api: api.endpoints,
            postgres: postgres.topology,
            kubernetesApi: kubernetesApi?.destinations,
            postgresObjectStore: onStatefulSet ? [] : settings.postgresBackup?.objectStore?.egress ?? [],
            redis: redis.endpoints,
            redisMaintenance: redis.maintenanceSelector,
            postgresBackup: postgresBackup && { podSelector: postgresBackup.podSelector, objectStore: settings.postgresBackup?.objectStore?.egress ?? [] },
            publicEntry: settings.ingress.enabled ? settings.network.publicEntry : undefined,
            acmeHttp01Solvers: settings.ingress.tls.http01Solvers,
            settings: settings.network,
        },
        { provider },
    );
    redisPoliciesDeclared([networkSecurity]);

    const autoscaling = new Autoscaling(
        "autoscaling",
        {
            namespace: workload.namespace,
            deletion,
            settings: settings.autoscaling,
            api: api.scaleTarget,
            postgres: postgres.scaleTarget,
            redis: redis.scaleTarget,
            crdInstallers: addons.readyFor,
        },
        { provider },
    );
    // CRD-backed (Prometheus Operator): only where the stack says the cluster has it.
    if (settings.monitoring.enabled) {
        const volumes = monitoredVolumes(settings, !!postgresBackup);
        // Plain ConfigMaps: Grafana's sidecar (kube-prometheus-stack's) loads them wherever it runs.
        if (settings.monitoring.dashboardLabel) {
            new Dashboards(
                "dashboards",
                {
                    namespace: workload.namespace,
                    deletion,
                    sidecarLabel: settings.monitoring.dashboardLabel,
                    dashboards: stackDashboards({
                        namespace: settings.namespace,
                        postgresEngine: settings.postgres.engine,
                        exporters: !!settings.monitoring.exporters,
                        apiHpa: autoscaling.apiHpaName,
                        backupCronJob: postgresBackup ? names.postgresBackup.cronJob : undefined,
                        objectStoreBackups: !onStatefulSet && !!settings.postgresBackup,
                        volumeClaims: volumes.map((v) => v.claims).join("|"),
                    }),
                },
                { provider },
            );
        }
        new Monitoring(
            "monitoring",
            {
                namespace: workload.namespace,
                deletion,
                settings: settings.monitoring,
                api: api.endpoints,
                // The statefulset engine: the exporter's Service and the backup CronJob; CloudNativePG: the
                // instances' and the pooler's PodMonitors, and its object-storage backups' schedule.
                postgres:
                    settings.postgres.engine === "statefulset"
                        ? {
                              engine: "statefulset",
                              servers: postgres.topology.servers,
                              backup: postgresBackup && { cronJob: postgresBackup.cronJobName, longestGapSeconds: settings.postgresBackup!.longestGapSeconds },
                          }
                        : {
                              engine: "cloudnative-pg",
                              servers: postgres.topology.servers,
                              pooler: postgres.topology.pooler,
                              instances: settings.postgres.instances,
                              backup: settings.postgresBackup && { longestGapSeconds: settings.postgresBackup.longestGapSeconds },
                          },
                redis: redis.endpoints,
                redisTopology: { nodes: settings.redis.nodes, replicasPerMaster: settings.redis.replicasPerMaster },
                apiHpa: autoscaling.apiHpaName,
                volumes,
                // The platform Gateway's certificate when the stack names it; else the stack's own, which
                // cert-manager issues (named after its Secret) when an issuer is set for the Ingress or own Gateway.
                certificate:
                    settings.monitoring.certificate ??
                    (entry.enabled && entry.tls.enabled && entry.tls.clusterIssuer && (ownGateway || !entry.gateway)
                        ? { namespace: settings.namespace, name: entry.tls.secretName }
                        : undefined),
                crdInstallers: addons.readyFor,
            },
            { provider },
        );
    }

    return {
        environment: settings.environment,
        /** Read back by the next run's DataChangeGuard. */
        dataFacts: facts,
        kubeContext: settings.cluster.context ?? "(current context)",
        namespaceName: namespace.name,
        apiUrl: api.url ?? "(ingress disabled)",
        apiImage: settings.api.image.ref,
        apiDeployment: api.deploymentName,
        apiServiceHost: pulumi.interpolate`${api.serviceName}.${namespace.name}.svc.cluster.local`,
        postgresHost: postgres.connection.host,
        postgresSecretName: postgres.connection.secretName,
        postgresBackupCronJob: postgresBackup
            ? postgresBackup.cronJobName
            : !onStatefulSet && settings.postgresBackup
              ? `(cloudnative-pg: ScheduledBackup ${names.cloudNativePg.scheduledBackupOf(settings.postgres.cluster)} and the WAL archive)`
              : "(no scheduled backups)",
        redisSeedNodes: redis.connection.seedNodes,
        redisSecretName: redis.connection.secretName,
        networkPolicies: [defaultDeny.policyName, ...networkSecurity.policyNames],
        clusterAddons: addons.installed,
        /** What this stack runs, as config values: promotion copies them from staging to production. */
        release: releaseConfig(settings),
    };
}

/**
 * The PVCs the volume alerts watch, by what they hold: PostgreSQL's data (the StatefulSet's claim per
 * ordinal, or each CloudNativePG instance's `<cluster>-<n>`), its WAL volumes (`<cluster>-<n>-wal`),
 * the dump backups' volume, and every Redis node's data.
 */
function monitoredVolumes(settings: Settings, dumpBackups: boolean): MonitoredVolume[] {
    const pg = settings.postgres;
    const statefulSetData: MonitoredVolume = { holds: "postgres-data", claims: `${names.postgres.volumeClaim}-${names.postgres.statefulSet}-[0-9]+` };
    // A point-in-time recovery's Cluster runs beside the serving one until the switch.
    const clusters = [pg.cluster, ...(pg.recovery ? [pg.recovery.cluster] : [])].join("|");
    const postgres: MonitoredVolume[] =
        pg.engine === "statefulset"
            ? [statefulSetData]
            : [
                  { holds: "postgres-data", claims: `(${clusters})-[0-9]+` },
                  ...(pg.walStorage ? [{ holds: "postgres-wal" as const, claims: `(${clusters})-[0-9]+-wal` }] : []),
                  // The statefulset server stays while a Cluster imports its database.
                  ...(pg.importSource ? [statefulSetData] : []),
              ];
    return [
        ...postgres,
        ...(dumpBackups ? [{ holds: "postgres-backups" as const, claims: names.postgresBackup.volumeClaim }] : []),
        { holds: "redis-data", claims: `${names.redis.volumeClaim}-${names.redis.statefulSet}-[0-9]+` },
    ];
}
