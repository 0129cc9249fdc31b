import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

/**
 * Security contexts that satisfy the Pod Security Standard `restricted`
 * (https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted).
 */

/** Pod-level context: non-root with a fixed uid/gid, files on volumes owned by `fsGroup`, seccomp RuntimeDefault. */
export function restrictedPodSecurityContext(uid: number, gid: number = uid): k8s.types.input.core.v1.PodSecurityContext {
    return {
        runAsNonRoot: true,
        runAsUser: uid,
        runAsGroup: gid,
        fsGroup: gid,
        // Only chown a volume when its root has the wrong group: large volumes otherwise slow every start.
        fsGroupChangePolicy: "OnRootMismatch",
        seccompProfile: { type: "RuntimeDefault" },
    };
}

/**
 * Container-level context: no privilege escalation, every capability dropped, read-only root
 * filesystem. `ids` gives the container its own uid/gid instead of the pod's (a sidecar that owns
 * none of the pod's data); it keeps the pod's `fsGroup` as a supplemental group, through which it
 * reads the Secret files the pod mounts for it.
 */
export function restrictedContainerSecurityContext(ids?: { uid: number; gid: number }): k8s.types.input.core.v1.SecurityContext {
    return {
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
        ...(ids ? { runAsUser: ids.uid, runAsGroup: ids.gid } : {}),
        capabilities: { drop: ["ALL"] },
        seccompProfile: { type: "RuntimeDefault" },
    };
}

/** A ServiceAccount that never mounts an API token: no workload of this stack talks to the Kubernetes API. */
export function tokenlessServiceAccount(name: string, metadata: k8s.types.input.meta.v1.ObjectMeta, opts: pulumi.CustomResourceOptions): k8s.core.v1.ServiceAccount {
    return new k8s.core.v1.ServiceAccount(name, { metadata, automountServiceAccountToken: false }, opts);
}

/** A CA certificate alone, for a container that verifies a server and holds no key of its own. */
export interface CaCertificateMount {
    /** The Secret volume with only that key, read-only for everyone (a CA certificate is public). */
    volume: k8s.types.input.core.v1.Volume;
    /** Where the container finds it. */
    mount: k8s.types.input.core.v1.VolumeMount;
}

/** Key `key` of Secret `secretName` as `<dir>/<file>`, in volume `volumeName`. */
export function caCertificateMount(volumeName: string, secretName: pulumi.Input<string>, key: string, dir: string, file = "ca.crt"): CaCertificateMount {
    return {
        volume: { name: volumeName, secret: { secretName, items: [{ key, path: file }], defaultMode: 0o444 } },
        mount: { name: volumeName, mountPath: dir, readOnly: true },
    };
}
