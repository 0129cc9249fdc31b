import * as k8s from "@pulumi/kubernetes";

/**
 * The engine's floor for `npm run bench:engine`: a Pulumi program that registers one ConfigMap (in
 * `default`, through the default provider: the bench's KUBECONFIG). Its preview, `up` and destroy are
 * what the engine, the Automation API and the provider cost with next to nothing to do.
 */
export = async (): Promise<Record<string, unknown>> => {
    const configMap = new k8s.core.v1.ConfigMap("engine-floor", {
        metadata: { name: "engine-floor", namespace: "default" },
        data: { purpose: "the engine's floor for npm run bench:engine" },
    });
    return { name: configMap.metadata.name };
};
