import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { contentName } from "./names";

/**
 * An immutable ConfigMap named for its content (`<base>-<hash>`, `contentName`). A change of content
 * is a new ConfigMap, created before the old one is deleted; whatever refers to it (a pod template,
 * a Job) then changes in place and rolls. A fixed name would be replaced delete-before-create, and
 * Pulumi would replace every Deployment, StatefulSet or CronJob that refers to it along with it.
 */
export function contentNamedConfigMap(
    base: string,
    metadata: Omit<k8s.types.input.meta.v1.ObjectMeta, "name">,
    data: pulumi.Input<Record<string, string>>,
    opts: pulumi.CustomResourceOptions,
): k8s.core.v1.ConfigMap {
    const name = pulumi.output(data).apply((d) => contentName(base, d));
    // retainOnDelete: the replaced generation stays in the cluster (what still names it keeps working);
    // safe here, since a new generation always has a new name and never collides with the kept one.
    return new k8s.core.v1.ConfigMap(base, { metadata: { ...metadata, name }, immutable: true, data }, opts);
}
