import { ComputeResources, Environment, ImageSettings, pullPolicies } from "./common";
import { imageDigest, imageRepository, imageTag, Reader, semverTag } from "./reader";

/** The API's settings: image, ports, probe paths, replicas, resources. */

export interface ApiSettings {
    readonly image: ImageSettings;
    readonly port: number;
    readonly metricsPort: number;
    /** Port serving only the health and readiness paths, open to any source. */
    readonly healthPort: number;
    /** Liveness and startup: the process serves (a restart would not bring a dependency back). */
    readonly healthPath: string;
    /** Readiness: the pod has started and is not draining. Never tied to PostgreSQL or Redis: an outage of either must not empty the Service. */
    readonly readyPath: string;
    readonly replicas: { readonly min: number; readonly max: number };
    /** Most PostgreSQL connections one API pod's pool opens (DATABASE_POOL_MAX). */
    readonly databasePoolSize: number;
    readonly resources: ComputeResources;
}

export function readApi(r: Reader, environment: Environment | undefined): Partial<ApiSettings> {
    const repository = r.string("apiImageRepository");
    const tag = r.string("apiImageTag") || undefined;
    const digest = r.string("apiImageDigest") || undefined;
    if (!repository) {
        r.problem("apiImageRepository", "", "the API image's registry and repository, e.g. ghcr.io/acme/healthcare-api");
    } else if (!imageRepository.test(repository)) {
        const hint = /:[^/]*$/.test(repository) && !/:[0-9]+$/.test(repository) ? " (put the tag in apiImageTag)" : "";
        r.problem("apiImageRepository", repository, `an image repository without tag or digest${hint}`);
    }
    if (tag !== undefined && !imageTag.test(tag)) {
        r.problem("apiImageTag", tag, "an image tag ([A-Za-z0-9_.-], at most 128 characters)");
    }
    if (digest !== undefined && !imageDigest.test(digest)) {
        r.problem("apiImageDigest", digest, "a digest of the form sha256:<64 hex digits>");
    }
    // A branch or latest tag is re-pointed by every push: production's pods could run different builds.
    if (environment === "production" && digest === undefined && !(tag !== undefined && semverTag.test(tag))) {
        r.problem(
            "apiImageTag",
            tag ?? "",
            "an immutable version in production: set apiImageDigest (sha256:<64 hex digits>, preferred) or a semantic version tag such as 1.4.2 or v1.4.2; " +
                "a branch tag (main), latest or no tag can change under a running Deployment",
        );
    }
    const pullPolicy = r.oneOf("apiImagePullPolicy", pullPolicies);

    const port = r.port("apiPort");
    const metricsPort = r.port("apiMetricsPort");
    const healthPort = r.port("apiHealthPort");
    if (port !== undefined && port === metricsPort) {
        r.problem("apiMetricsPort", metricsPort, "a port other than apiPort: the metrics port is opened to Prometheus only");
    }
    if (healthPort !== undefined && (healthPort === port || healthPort === metricsPort)) {
        r.problem("apiHealthPort", healthPort, "a port other than apiPort and apiMetricsPort: the health port is open to every source");
    }
    const min = r.integer("apiMinReplicas", 1);
    const max = r.integer("apiMaxReplicas", 1);
    if (min !== undefined && max !== undefined && min > max) {
        r.problem("apiMinReplicas", min, `at most apiMaxReplicas (${max})`);
    }
    return {
        image: {
            repository,
            tag,
            digest,
            ref: `${repository}${tag ? `:${tag}` : ""}${digest ? `@${digest}` : ""}`,
            pullPolicy: pullPolicy!,
        },
        port,
        metricsPort,
        healthPort,
        healthPath: r.path("apiHealthPath"),
        readyPath: r.path("apiReadyPath"),
        replicas: { min: min!, max: max! },
        databasePoolSize: r.integer("apiDatabasePoolSize", 1, 100),
        resources: r.resources("apiResources"),
    };
}
