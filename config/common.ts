/** Types the settings of several areas share. */

export type Environment = "local" | "staging" | "production";

export const environments: readonly Environment[] = ["local", "staging", "production"];

export type PullPolicy = "Always" | "IfNotPresent" | "Never";

export const pullPolicies: readonly PullPolicy[] = ["Always", "IfNotPresent", "Never"];

/** CPU and memory for one side (requests or limits) of a container's resources (a type, not an interface, so it fits Kubernetes' string maps). */
export type ComputeQuantities = {
    readonly cpu: string;
    readonly memory: string;
};

/** A container's requests and limits, as Kubernetes quantities. */
export interface ComputeResources {
    readonly requests: ComputeQuantities;
    readonly limits: ComputeQuantities;
}

/** A container image, split so that validation can reason about tag and digest. */
export interface ImageSettings {
    /** Registry and repository, without tag or digest. */
    readonly repository: string;
    /** Tag, when set. */
    readonly tag?: string;
    /** `sha256:` digest, when set; it wins over the tag at pull time. */
    readonly digest?: string;
    /** The full reference given to Kubernetes. */
    readonly ref: string;
    readonly pullPolicy: PullPolicy;
}

/** A persistent volume per pod. */
export interface StorageSettings {
    readonly size: string;
    /** StorageClass name; undefined uses the cluster's default class. */
    readonly className?: string;
}

