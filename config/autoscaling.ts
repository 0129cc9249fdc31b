import { ApiSettings } from "./api";
import { ScalarKey } from "./declarations";
import { MonitoringSettings } from "./monitoring";
import { PostgresSettings } from "./postgres";
import { Reader } from "./reader";
import { RedisSettings } from "./redis";

/** Autoscaling and availability: the HPA, the VPAs, the API's budget. */

/** VPA update modes this program accepts (`Auto` is deprecated upstream: an alias of `Recreate`). */
export type VpaMode = "Off" | "Initial" | "Recreate" | "InPlaceOrRecreate";

export const vpaModes: readonly VpaMode[] = ["Off", "Initial", "Recreate", "InPlaceOrRecreate"];

/** The modes in which the VPA updater evicts running pods to resize them. */
export const evictingVpaModes: readonly VpaMode[] = ["Recreate", "InPlaceOrRecreate"];

export interface AutoscalingSettings {
    /** HorizontalPodAutoscaler on the API; when on, the Deployment leaves `replicas` to it. */
    readonly hpa: {
        readonly enabled: boolean;
        /** The cluster serves custom.metrics.k8s.io (prometheus-adapter): add the two business metrics. */
        readonly customMetrics: boolean;
    };
    /** The API's PodDisruptionBudget `minAvailable`; 0 creates none. Always below the API's fewest replicas. */
    readonly apiPdbMinAvailable: number;
    /** VerticalPodAutoscalers (CRD autoscaling.k8s.io/v1) for the API, PostgreSQL and Redis. */
    readonly vpa: {
        readonly enabled: boolean;
        readonly modes: { readonly api: VpaMode; readonly postgres: VpaMode; readonly redis: VpaMode };
        /** The stack accepts that the VPA evicts a workload that runs a single pod (downtime on each resize). */
        readonly evictSingleReplica: boolean;
    };
}

export function readAutoscaling(
    r: Reader,
    api: Partial<ApiSettings>,
    postgres: Partial<PostgresSettings>,
    redis: Partial<RedisSettings>,
    monitoring: MonitoringSettings,
): AutoscalingSettings {
    const hpaEnabled = r.boolean("apiHpaEnabled");
    const customMetrics = r.boolean("apiHpaCustomMetrics");
    if (hpaEnabled && customMetrics && monitoring.enabled === false) {
        r.problem(
            "apiHpaCustomMetrics",
            true,
            "false while monitoringEnabled is false: the HPA's custom metrics are recorded by this stack's PrometheusRule, and an HPA whose metrics never arrive does not scale down",
        );
    }

    // A budget at or above the fewest pods the API runs blocks every voluntary eviction: node drains never finish.
    const minAvailable = r.integer("apiPdbMinAvailable", 0);
    const fewest = api.replicas?.min;
    if (minAvailable !== undefined && minAvailable > 0 && fewest !== undefined && minAvailable >= fewest) {
        r.problem(
            "apiPdbMinAvailable",
            minAvailable,
            `less than apiMinReplicas (${fewest}), or 0 for no budget: with ${fewest} pod${fewest === 1 ? "" : "s"} a budget of ${minAvailable} blocks every voluntary eviction, so node drains never finish`,
        );
    }

    const vpaEnabled = r.boolean("vpaEnabled");
    const evictSingleReplica = r.boolean("vpaEvictSingleReplica");
    const modes = { api: readVpaMode(r, "vpaApiMode"), postgres: readVpaMode(r, "vpaPostgresMode"), redis: readVpaMode(r, "vpaRedisMode") };
    if (vpaEnabled) {
        if (hpaEnabled && modes.api !== undefined && modes.api !== "Off") {
            r.problem(
                "vpaApiMode",
                modes.api,
                `"Off" (recommendations only) while apiHpaEnabled is true: the HPA scales healthcare-api on CPU and memory, and a VPA acting on the same resources fights it`,
            );
        }
        // CloudNativePG sizes its instances' pods from the Cluster's resources: a VPA that changes them
        // fights the operator (components/autoscaling.ts refuses it too, but only after the rest of the
        // stack has registered). Recommendations only.
        const operatorSized = postgres.engine === "cloudnative-pg";
        if (operatorSized && modes.postgres !== undefined && modes.postgres !== "Off") {
            r.problem(
                "vpaPostgresMode",
                modes.postgres,
                `"Off" (recommendations only) with postgresEngine cloudnative-pg: the operator sizes its instances' pods from postgresResources, and a VPA acting on them fights it`,
            );
        }
        const singles: Array<[ScalarKey, VpaMode | undefined, string]> = [
            // The statefulset engine's one server (cloudnative-pg is refused above).
            ...(operatorSized ? [] : [["vpaPostgresMode", modes.postgres, "PostgreSQL runs a single pod"] as [ScalarKey, VpaMode | undefined, string]]),
            ...(redis.nodes === 1 ? [["vpaRedisMode", modes.redis, "the Redis Cluster has a single node (redisNodes = 1)"] as [ScalarKey, VpaMode | undefined, string]] : []),
        ];
        for (const [key, mode, why] of singles) {
            if (mode !== undefined && evictingVpaModes.includes(mode) && evictSingleReplica === false) {
                r.problem(key, mode, `Off or Initial: ${why} and ${mode} evicts it to resize (downtime); set vpaEvictSingleReplica = true to accept that`);
            }
        }
    }
    return {
        hpa: { enabled: hpaEnabled!, customMetrics: customMetrics! },
        apiPdbMinAvailable: minAvailable!,
        vpa: { enabled: vpaEnabled!, modes: modes as AutoscalingSettings["vpa"]["modes"], evictSingleReplica: evictSingleReplica! },
    };
}

/** A VPA update mode; `Auto` is refused with its replacement named. */
function readVpaMode(r: Reader, key: ScalarKey): VpaMode | undefined {
    if (r.string(key) === "Auto") {
        r.problem(key, "Auto", `one of ${vpaModes.join(", ")}: Auto is deprecated upstream (it means Recreate), say Recreate if eviction is intended`);
        return undefined;
    }
    return r.oneOf(key, vpaModes);
}
