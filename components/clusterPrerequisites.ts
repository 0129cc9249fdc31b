import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { AddonSettings, AutoscalingSettings, IngressSettings, MonitoringSettings, PostgresBackupSettings, PostgresSettings } from "../config";
import { checkArgs } from "../lib/args";

/** A CustomResourceDefinition the stack's objects need and the cluster must already serve. */
export interface RequiredCrd {
    /** `<plural>.<group>`, the CRD's metadata.name. */
    readonly name: string;
    /** Which setting asks for objects of its kind (for messages and the docs). */
    readonly neededBy: string;
}

/**
 * The CRDs a stack needs from the platform: those of the features it turns on, less those it installs
 * itself (a CRD installed by the stack's own add-ons is created in the same run).
 */
export function requiredCrds(settings: {
    autoscaling: AutoscalingSettings;
    monitoring: MonitoringSettings;
    addons: AddonSettings;
    postgres: PostgresSettings;
    postgresBackup?: PostgresBackupSettings;
    ingress: IngressSettings;
}): RequiredCrd[] {
    const crds: RequiredCrd[] = [];
    // The API's HTTPRoute, and the Gateway when the stack creates its own; Envoy Gateway's chart brings them.
    if (settings.ingress.enabled && settings.ingress.exposure === "gateway" && !settings.addons.envoyGateway) {
        crds.push({ name: "httproutes.gateway.networking.k8s.io", neededBy: "apiExposure" });
        if (settings.ingress.gateway?.className !== undefined) {
            crds.push({ name: "gateways.gateway.networking.k8s.io", neededBy: "gatewayClassName" });
        }
    }
    if (settings.postgres.engine === "cloudnative-pg" && !settings.addons.cloudNativePg) {
        crds.push({ name: "clusters.postgresql.cnpg.io", neededBy: "postgresEngine" });
        if (settings.postgres.pooler) {
            crds.push({ name: "poolers.postgresql.cnpg.io", neededBy: "postgresPoolerInstances" });
        }
        if (settings.postgresBackup?.objectStore) {
            crds.push({ name: "scheduledbackups.postgresql.cnpg.io", neededBy: "postgresBackupSchedule" }, { name: "objectstores.barmancloud.cnpg.io", neededBy: "postgresBackupS3Bucket" });
        }
    }
    if (settings.autoscaling.vpa.enabled && !settings.addons.vpa) {
        crds.push({ name: "verticalpodautoscalers.autoscaling.k8s.io", neededBy: "vpaEnabled" });
    }
    if (settings.monitoring.enabled && !settings.addons.prometheusStack) {
        crds.push({ name: "servicemonitors.monitoring.coreos.com", neededBy: "monitoringEnabled" }, { name: "prometheusrules.monitoring.coreos.com", neededBy: "monitoringEnabled" });
        // CloudNativePG's instances and poolers are scraped through PodMonitors (components/monitoring.ts).
        if (settings.postgres.engine === "cloudnative-pg") {
            crds.push({ name: "podmonitors.monitoring.coreos.com", neededBy: "monitoringEnabled" });
        }
    }
    return crds;
}

/** Args of the check that the cluster serves what the stack needs. */
export interface ClusterPrerequisitesArgs {
    /** CRDs that must exist before anything is created. */
    crds: readonly RequiredCrd[];
}

/**
 * Reads each required CRD from the cluster. A read runs in preview as in `up`, so a cluster without
 * the VPA or the Prometheus Operator fails the preview, naming the CRD, before a single object is
 * created (the namespace depends on these reads); without it, `up` would create most of the stack
 * and then stop at the first VerticalPodAutoscaler.
 */
export class ClusterPrerequisites extends pulumi.ComponentResource {
    /** The reads: the stack's first object depends on them. */
    readonly checks: pulumi.Resource[];

    constructor(name: string, args: ClusterPrerequisitesArgs, opts?: pulumi.ComponentResourceOptions) {
        super("healthcare:platform:ClusterPrerequisites", name, {}, opts);
        checkArgs(
            "ClusterPrerequisites",
            name,
            args.crds.map((crd) => !/^[a-z0-9-]+(\.[a-z0-9-]+)+$/.test(crd.name) && `crds: "${crd.name}" is not a CRD name (<plural>.<group>)`),
        );
        // The logical name says what to do when the read fails: the engine prints it with the error.
        this.checks = args.crds.map((crd) =>
            k8s.apiextensions.v1.CustomResourceDefinition.get(`required-crd-${crd.name}-for-${crd.neededBy}`, crd.name, { parent: this }),
        );
        this.registerOutputs({ crds: args.crds.map((c) => c.name) });
    }
}
