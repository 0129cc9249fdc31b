import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { Api } from "./components/api";
import { Autoscaling, fixedApiReplicas } from "./components/autoscaling";
import { Monitoring } from "./components/monitoring";
import { Postgres } from "./components/postgres";
import { RedisCluster } from "./components/redisCluster";
import { RestrictedNamespace } from "./components/restrictedNamespace";
import { loadSettings } from "./config";

// Validates everything before the first resource is registered.
const settings = loadSettings();

// An explicit provider: the stack deploys to the context its config names, never to whatever is current.
const provider = new k8s.Provider("kubernetes", {
    context: settings.cluster.context,
    kubeconfig: settings.cluster.kubeconfig,
});

const namespace = new RestrictedNamespace("namespace", { name: settings.namespace, instance: settings.stack }, { provider });
const workload = { namespace: namespace.name, instance: settings.stack };

const exporters = settings.monitoring.exporters;
const postgres = new Postgres(
    "postgres",
    { ...workload, settings: settings.postgres, protectData: settings.protectData, exporter: exporters && { image: exporters.postgresImage } },
    { provider },
);
const redis = new RedisCluster(
    "redis-cluster",
    { ...workload, settings: settings.redis, protectData: settings.protectData, exporter: exporters && { image: exporters.redisImage } },
    { provider },
);
const api = new Api(
    "api",
    {
        ...workload,
        settings: settings.api,
        replicas: fixedApiReplicas(settings),
        database: postgres.connection,
        cache: redis.connection,
        ingress: settings.ingress,
    },
    { provider },
);

const autoscaling = new Autoscaling(
    "autoscaling",
    { namespace: namespace.name, settings: settings.autoscaling, api: api.scaleTarget, postgres: postgres.scaleTarget, redis: redis.scaleTarget },
    { provider },
);
// CRD-backed (Prometheus Operator): only where the stack says the cluster has it.
if (settings.monitoring.enabled) {
    new Monitoring(
        "monitoring",
        {
            namespace: namespace.name,
            settings: settings.monitoring,
            api: api.endpoints,
            postgres: postgres.endpoints,
            redis: redis.endpoints,
            apiHpa: autoscaling.apiHpaName,
        },
        { provider },
    );
}

export const environment = settings.environment;
export const kubeContext = settings.cluster.context ?? "(current context)";
export const namespaceName = namespace.name;
export const apiUrl = api.url ?? "(ingress disabled)";
export const apiImage = settings.api.image.ref;
export const apiDeployment = api.deploymentName;
export const apiServiceHost = pulumi.interpolate`${api.serviceName}.${namespace.name}.svc.cluster.local`;
export const postgresHost = postgres.connection.host;
export const postgresSecretName = postgres.connection.secretName;
export const redisSeedNodes = redis.connection.seedNodes;
export const redisSecretName = redis.connection.secretName;
