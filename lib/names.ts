/**
 * The stable `metadata.name` of every object the program creates. Other components, the
 * operations scripts and the README refer to objects by these names, so they live in one place.
 */
export const names = {
    api: {
        deployment: "healthcare-api",
        container: "api",
        service: "healthcare-api",
        serviceAccount: "healthcare-api",
        configMap: "healthcare-api-config",
        ingress: "healthcare-api",
    },
    postgres: {
        statefulSet: "postgres",
        container: "postgres",
        service: "postgres",
        headlessService: "postgres-headless",
        serviceAccount: "postgres",
        secret: "postgres-credentials",
        volumeClaim: "data",
    },
    redis: {
        statefulSet: "redis-cluster",
        container: "redis",
        headlessService: "redis-cluster-headless",
        serviceAccount: "redis-cluster",
        secret: "redis-credentials",
        configMap: "redis-cluster-config",
        bootstrapJob: "redis-cluster-bootstrap",
        volumeClaim: "data",
    },
    networkPolicy: {
        defaultDeny: "default-deny-all",
        api: "allow-healthcare-api",
        postgres: "allow-postgres",
        redis: "allow-redis-cluster",
        redisMaintenance: "allow-redis-cluster-maintenance",
    },
} as const;

/** The in-cluster DNS name of a Service. */
export function serviceHost(service: string, namespace: string): string {
    return `${service}.${namespace}.svc.cluster.local`;
}

/** The stable DNS name of one StatefulSet pod behind its headless Service. */
export function statefulPodHost(statefulSet: string, ordinal: number, headlessService: string, namespace: string): string {
    return `${statefulSet}-${ordinal}.${headlessService}.${namespace}.svc.cluster.local`;
}
