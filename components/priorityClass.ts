import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { checkArgs } from "../lib/args";
import { sanitizeLabelValue, standardLabels } from "../lib/labels";

/**
 * Priority of the data stores' pods. Above 0, the priority of every pod without a class (the API's),
 * so a full cluster preempts stateless pods, not PostgreSQL or a Redis node; far below the
 * system classes (system-cluster-critical is 2000000000) and the user maximum of 1000000000.
 */
export const dataPriorityValue = 1000000;

/** Args of the data stores' PriorityClass. */
export interface DataPriorityClassArgs {
    /** metadata.name; PriorityClasses are cluster-scoped, so it must be unique on the cluster (each stack's config names its own). */
    className: string;
    /** The Pulumi stack (`app.kubernetes.io/instance`). */
    instance: string;
}

/**
 * A PriorityClass for PostgreSQL and Redis: when the cluster is full, the scheduler preempts
 * (evicts) lower-priority pods, such as API replicas, to place a data store's pod, and the kubelet
 * evicts it last under node pressure. Not a global default: pods that do not name it keep theirs.
 */
export class DataPriorityClass extends pulumi.ComponentResource {
    /** The class's name, for `priorityClassName`: pods that name it wait for it to exist. */
    readonly className: pulumi.Output<string>;

    constructor(name: string, args: DataPriorityClassArgs, opts?: pulumi.ComponentResourceOptions) {
        super("healthcare:scheduling:DataPriorityClass", name, {}, opts);
        checkArgs("DataPriorityClass", name, [
            !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(args.className) && `className "${args.className}" is not a DNS subdomain name`,
            args.className.startsWith("system-") && `className "${args.className}" starts with system-, which Kubernetes reserves`,
            (!args.instance || sanitizeLabelValue(args.instance) !== args.instance) && `instance "${args.instance}" is not a label value`,
        ]);
        const priorityClass = new k8s.scheduling.v1.PriorityClass(
            args.className,
            {
                metadata: { name: args.className, labels: standardLabels({ name: "data-priority", component: "scheduling", instance: args.instance }) },
                value: dataPriorityValue,
                globalDefault: false,
                preemptionPolicy: "PreemptLowerPriority",
                description: `Data stores (PostgreSQL, Redis) of the healthcare-backend stack ${args.instance}: preempt stateless pods rather than wait.`,
            },
            { parent: this },
        );
        this.className = priorityClass.metadata.name;
        this.registerOutputs({ className: this.className });
    }
}
