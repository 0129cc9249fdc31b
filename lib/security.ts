import * as k8s from "@pulumi/kubernetes";

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

/** Container-level context: no privilege escalation, every capability dropped, read-only root filesystem. */
export function restrictedContainerSecurityContext(): k8s.types.input.core.v1.SecurityContext {
    return {
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
        capabilities: { drop: ["ALL"] },
        seccompProfile: { type: "RuntimeDefault" },
    };
}
