import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { AutoscalingSettings, evictingVpaModes, Settings, VpaMode } from "../config";
import { builtInOptions, checkArgs, customResourceOptions, NamespaceDeletion } from "../lib/args";
import { objectLabels } from "../lib/labels";
import { hpaMetrics } from "../lib/metrics";
import { names } from "../lib/names";
import { ScaleTarget } from "../lib/scaleTarget";

/**
 * The API's HorizontalPodAutoscaler, VerticalPodAutoscalers for the API, PostgreSQL and Redis, and
 * the PodDisruptionBudgets, built so that they never fight each other or block maintenance:
 * - the HPA scales healthcare-api on CPU, memory and (where an adapter serves them) two business metrics;
 * - no VPA acts on a resource the HPA scales on, and none evicts a single pod unless the stack opts in;
 * - no budget is unsatisfiable: each stays below the fewest pods its workload runs.
 */

/** HPA targets: CPU and memory utilization of the requests, and the business metrics per pod. */
export const hpaTargets = {
    cpuUtilization: 70,
    memoryUtilization: 80,
    requestsPerSecondPerPod: 1000,
    activeAppointmentsPerPod: 500,
} as const;

/**
 * HPA behaviour (the seed's numbers). Scale up fast: after 30 s of sustained need, add the larger
 * of 5 pods or 100% every 15 s (the controller's sync period). Scale down slowly: after 5 minutes of
 * lower need, remove the smaller of 50% or 2 pods per minute.
 */
export const hpaBehavior: k8s.types.input.autoscaling.v2.HorizontalPodAutoscalerBehavior = {
    scaleUp: {
        stabilizationWindowSeconds: 30,
        selectPolicy: "Max",
        policies: [
            { type: "Pods", value: 5, periodSeconds: 15 },
            { type: "Percent", value: 100, periodSeconds: 15 },
        ],
    },
    scaleDown: {
        stabilizationWindowSeconds: 300,
        selectPolicy: "Min",
        policies: [
            { type: "Percent", value: 50, periodSeconds: 60 },
            { type: "Pods", value: 2, periodSeconds: 60 },
        ],
    },
};

/** VPA bounds per workload (the seed's): recommendations stay within them, and below the container's limits. */
export const vpaBounds = {
    api: { minAllowed: { cpu: "250m", memory: "512Mi" }, maxAllowed: { cpu: "4000m", memory: "8Gi" } },
    redis: { minAllowed: { cpu: "100m", memory: "256Mi" }, maxAllowed: { cpu: "2000m", memory: "4Gi" } },
    postgres: { minAllowed: { cpu: "500m", memory: "1Gi" }, maxAllowed: { cpu: "4000m", memory: "16Gi" } },
} as const;

/** The API's fixed replica count, or undefined when the HPA owns the scale (a set value would fight it under server-side apply). */
export function fixedApiReplicas(settings: Settings): number | undefined {
    return settings.autoscaling.hpa.enabled ? undefined : settings.api.replicas.min;
}

/** The HPA's metrics: CPU and memory always, the business metrics only where an adapter serves them. */
export function apiHpaMetrics(customMetrics: boolean): k8s.types.input.autoscaling.v2.MetricSpec[] {
    const utilization = (name: string, averageUtilization: number) => ({
        type: "Resource",
        resource: { name, target: { type: "Utilization", averageUtilization } },
    });
    const perPod = (name: string, averageValue: number) => ({
        type: "Pods",
        pods: { metric: { name }, target: { type: "AverageValue", averageValue: String(averageValue) } },
    });
    return [
        utilization("cpu", hpaTargets.cpuUtilization),
        utilization("memory", hpaTargets.memoryUtilization),
        ...(customMetrics
            ? [perPod(hpaMetrics.requestsPerSecond, hpaTargets.requestsPerSecondPerPod), perPod(hpaMetrics.activeAppointments, hpaTargets.activeAppointmentsPerPod)]
            : []),
    ];
}

/** Args of the autoscalers and disruption budgets. */
export interface AutoscalingArgs {
    /** Namespace to deploy into (the namespace component's output, so objects wait for it). */
    namespace: pulumi.Output<string>;
    /** How its objects go when a run deletes the namespace too (NamespaceDeletion); undefined: each on its own. */
    deletion?: NamespaceDeletion;
    /** HPA, VPA and budget settings from the stack config. */
    settings: AutoscalingSettings;
    /** The API Deployment: scaled by the HPA, sized (or only observed) by its VPA. */
    api: ScaleTarget;
    /** The PostgreSQL StatefulSet. */
    postgres: ScaleTarget;
    /** The Redis Cluster StatefulSet (scaled by redisNodes and its maintenance Jobs, never by an HPA). */
    redis: ScaleTarget;
    /** What installs the VPA CRDs when this stack installs them (cluster add-ons): the VPAs wait for it. */
    crdInstallers?: pulumi.Resource[];
}

/** HPA for the API, VPAs for API, PostgreSQL and Redis (when enabled), and PodDisruptionBudgets. */
export class Autoscaling extends pulumi.ComponentResource {
    /** Name of the API's HPA, when there is one. */
    readonly apiHpaName?: string;

    constructor(name: string, args: AutoscalingArgs, opts?: pulumi.ComponentResourceOptions) {
        super("healthcare:scaling:Autoscaling", name, {}, opts);
        const s = args.settings;
        const minAvailable = s.apiPdbMinAvailable;
        checkArgs("Autoscaling", name, [
            args.api.replicas.min < 1 && `api.replicas.min ${args.api.replicas.min} is below 1`,
            args.api.replicas.min > args.api.replicas.max && `api.replicas.min ${args.api.replicas.min} is above max ${args.api.replicas.max}`,
            minAvailable > 0 && minAvailable >= args.api.replicas.min &&
                `settings.apiPdbMinAvailable ${minAvailable} would block every eviction with ${args.api.replicas.min} API pod(s)`,
            s.vpa.enabled && args.postgres.operatorManaged && s.vpa.modes.postgres !== "Off" &&
                `settings.vpa.modes.postgres is ${s.vpa.modes.postgres}; it must be Off where an operator sizes PostgreSQL's pods (it would undo the VPA's changes)`,
            s.vpa.enabled && s.hpa.enabled && s.vpa.modes.api !== "Off" &&
                `settings.vpa.modes.api is ${s.vpa.modes.api}; it must be Off while the HPA scales the API on CPU and memory`,
        ]);
        const n = names.autoscaling;
        const meta = (metadataName: string, target: ScaleTarget) => ({ name: metadataName, namespace: args.namespace, labels: objectLabels(target.podSelector) });
        const targetRef = (target: ScaleTarget) => ({ apiVersion: target.apiVersion, kind: target.kind, name: target.name });

        if (s.hpa.enabled) {
            this.apiHpaName = n.apiHpa;
            new k8s.autoscaling.v2.HorizontalPodAutoscaler(
                n.apiHpa,
                {
                    metadata: meta(n.apiHpa, args.api),
                    spec: {
                        scaleTargetRef: targetRef(args.api),
                        minReplicas: args.api.replicas.min,
                        maxReplicas: args.api.replicas.max,
                        metrics: apiHpaMetrics(s.hpa.customMetrics),
                        behavior: hpaBehavior,
                    },
                },
                builtInOptions(this, args.deletion),
            );
        }

        if (s.vpa.enabled) {
            const vpa = (metadataName: string, target: ScaleTarget, mode: VpaMode, bounds: (typeof vpaBounds)[keyof typeof vpaBounds]) => {
                // The updater leaves controllers with fewer than 2 pods alone by default; a stack that
                // opted in to evicting a single pod says so here, or the mode would silently do nothing.
                const single = target.replicas.min === 1 && evictingVpaModes.includes(mode);
                return new k8s.apiextensions.CustomResource(
                    metadataName,
                    {
                        apiVersion: "autoscaling.k8s.io/v1",
                        kind: "VerticalPodAutoscaler",
                        metadata: meta(metadataName, target),
                        spec: {
                            targetRef: targetRef(target),
                            updatePolicy: { updateMode: mode, ...(single ? { minReplicas: 1 } : {}) },
                            resourcePolicy: {
                                containerPolicies: [
                                    {
                                        containerName: target.container,
                                        minAllowed: bounds.minAllowed,
                                        maxAllowed: bounds.maxAllowed,
                                        controlledResources: ["cpu", "memory"],
                                        // Requests only: limits stay the stack's deliberate ceiling (Redis derives
                                        // maxmemory from its limit), and the VPA caps requests at them.
                                        controlledValues: "RequestsOnly",
                                    },
                                    // Sidecars (exporters) keep the resources they were given.
                                    { containerName: "*", mode: "Off" },
                                ],
                            },
                        },
                    },
                    { ...customResourceOptions(this, args.deletion), dependsOn: args.crdInstallers },
                );
            };
            vpa(n.apiVpa, args.api, s.vpa.modes.api, vpaBounds.api);
            vpa(n.postgresVpa, args.postgres, s.vpa.modes.postgres, vpaBounds.postgres);
            vpa(n.redisVpa, args.redis, s.vpa.modes.redis, vpaBounds.redis);
        }

        // Budgets only where they can be met: a budget at or above the fewest pods blocks every drain.
        const budget = (metadataName: string, target: ScaleTarget, rule: { minAvailable: number } | { maxUnavailable: number }) =>
            new k8s.policy.v1.PodDisruptionBudget(
                metadataName,
                {
                    metadata: meta(metadataName, target),
                    spec: {
                        selector: { matchLabels: target.podSelector },
                        ...rule,
                        // A crash-looping pod must not hold a drain hostage.
                        unhealthyPodEvictionPolicy: "AlwaysAllow",
                    },
                },
                builtInOptions(this, args.deletion),
            );
        if (minAvailable > 0) {
            budget(n.apiPdb, args.api, { minAvailable });
        }
        // Data stores go one pod at a time: a Redis master and its replica are never drained together.
        // A single PostgreSQL (or one-node Redis) gets no budget: it could only block every drain.
        if (args.redis.replicas.min > 1) {
            budget(n.redisPdb, args.redis, { maxUnavailable: 1 });
        }
        if (args.postgres.replicas.min > 1 && !args.postgres.operatorManaged) {
            budget(n.postgresPdb, args.postgres, { maxUnavailable: 1 });
        }

        this.registerOutputs({ apiHpaName: this.apiHpaName });
    }
}
