import { ComputeResources, Environment, StorageSettings } from "./common";
import { imageRepository, Reader } from "./reader";

/** The Redis Cluster's settings: topology, storage, resources. */

export interface RedisSettings {
    /** repository:version, with @sha256:... when redisImageDigest pins it. */
    readonly image: string;
    /** redisImageDigest, when set. */
    readonly imageDigest?: string;
    readonly version: string;
    /** Total nodes (pods) in the cluster. */
    readonly nodes: number;
    readonly replicasPerMaster: number;
    /** Derived: nodes / (1 + replicasPerMaster). */
    readonly masters: number;
    readonly storage: StorageSettings;
    readonly resources: ComputeResources;
    /** redisTls: clients, replication and the cluster bus over TLS with cert-manager's certificates; the plain-text port closed. */
    readonly tls: boolean;
    /** redisTransportSwitch: this deployment changes how the nodes talk (TLS, ACL users); they restart together when deleted, not one by one. */
    readonly transportSwitch: boolean;
}

export function readRedis(r: Reader, environment: Environment | undefined): Partial<RedisSettings> {
    const repository = r.matching("redisImageRepository", imageRepository, "an image repository without tag, e.g. redis");
    const version = r.matching(
        "redisVersion",
        /^([7-9]|[1-9]\d+)\.\d+\.\d+(-[a-z0-9.]+)?$/,
        "an exact Redis version 7.0.0 or later, such as 8.2.3 (the cluster scripts rely on cluster-announce-hostname)",
    );
    const nodes = r.integer("redisNodes", 1);
    const replicas = r.integer("redisReplicasPerMaster", 0);
    let masters: number | undefined;
    if (nodes !== undefined && replicas !== undefined) {
        const perShard = 1 + replicas;
        const single = nodes === 1 && replicas === 0;
        if (!single && (nodes % perShard !== 0 || nodes / perShard < 3)) {
            r.problem(
                "redisNodes",
                nodes,
                `a node count that forms a Redis Cluster with redisReplicasPerMaster=${replicas}: ` +
                    `1 node (single master, no replicas) or masters × ${perShard} nodes with at least 3 masters (${3 * perShard}, ${4 * perShard}, ...)`,
            );
        } else {
            masters = nodes / perShard;
        }
        if (environment === "production" && replicas < 1) {
            r.problem("redisReplicasPerMaster", replicas, "at least 1 in production: a master without a replica loses its slots with its node");
        }
    }
    const digest = r.digest("redisImageDigest");
    return {
        image: `${repository}:${version}${digest ? `@${digest}` : ""}`,
        imageDigest: digest,
        version,
        nodes,
        replicasPerMaster: replicas,
        masters,
        storage: r.storage("redisStorageSize", "redisStorageClass"),
        resources: r.resources("redisResources"),
        tls: r.boolean("redisTls"),
        transportSwitch: r.boolean("redisTransportSwitch"),
    };
}
