import type { scalarSettings } from "./declarations";
import type { Settings } from "./index";

/**
 * The settings that make up a release: what staging tested and promotion carries to production
 * unchanged (cli/promote/promotion.ts). The image, the contract the image serves (ports, probe paths) and
 * the data-store versions (and image digests) it was tested with. Everything else (replica ranges, sizes, storage,
 * hosts, TLS, contexts, add-ons) belongs to the environment and never travels.
 */
export const releaseKeys = [
    "apiImageRepository",
    "apiImageTag",
    "apiImageDigest",
    "apiPort",
    "apiMetricsPort",
    "apiHealthPort",
    "apiHealthPath",
    "apiReadyPath",
    "postgresVersion",
    "postgresImageDigest",
    "redisVersion",
    "redisImageDigest",
] as const satisfies ReadonlyArray<keyof typeof scalarSettings>;

export type ReleaseKey = (typeof releaseKeys)[number];

/** The release settings of a stack, as config strings (`pulumi config set` values; empty when unset). */
export function releaseConfig(settings: Settings): Record<ReleaseKey, string> {
    const api = settings.api;
    return {
        apiImageRepository: api.image.repository,
        apiImageTag: api.image.tag ?? "",
        apiImageDigest: api.image.digest ?? "",
        apiPort: String(api.port),
        apiMetricsPort: String(api.metricsPort),
        apiHealthPort: String(api.healthPort),
        apiHealthPath: api.healthPath,
        apiReadyPath: api.readyPath,
        postgresVersion: settings.postgres.version,
        postgresImageDigest: settings.postgres.imageDigest ?? "",
        redisVersion: settings.redis.version,
        redisImageDigest: settings.redis.imageDigest ?? "",
    };
}
