/**
 * Who may read the files of a Secret or ConfigMap volume, as the kubelet lays them out, and as whom a
 * container's process runs. Written from the Kubernetes documentation and the kubelet's volume code,
 * not from the program's components, so that tests can hold the components' pod specs against it.
 *
 * - A container's process: uid `runAsUser` and primary gid `runAsGroup` of the container's security
 *   context, else the pod's; supplemental groups: the pod's `supplementalGroups` and its `fsGroup`
 *   ("a special supplemental group that applies to all containers in a pod", API reference,
 *   PodSecurityContext.fsGroup). Groups the image's /etc/group gives the uid are left out: the
 *   program's uids have none there.
 * - A Secret or ConfigMap file: owned by root; mode the item's `mode`, else the volume's `defaultMode`,
 *   else 0644. With an fsGroup the kubelet gives the file to that group and adds group read to the
 *   mode of read-only volumes such as these (SetVolumeOwnership, pkg/volume/volume_linux.go:
 *   chown to fsGroup, chmod mode | 0440).
 */

/** The identity a container's process runs with. */
export interface ProcessIdentity {
    uid: number | undefined;
    gid: number | undefined;
    groups: number[];
}

/** The uid, primary gid and supplemental groups of `container`'s process in the pod `spec`. */
export function processIdentity(spec: any, container: any): ProcessIdentity {
    const pod = spec.securityContext ?? {};
    const own = container.securityContext ?? {};
    const uid = own.runAsUser ?? pod.runAsUser;
    const gid = own.runAsGroup ?? pod.runAsGroup;
    const groups = [...(pod.supplementalGroups ?? []), ...(pod.fsGroup !== undefined ? [pod.fsGroup] : [])];
    return { uid, gid, groups };
}

/** Owner, group and mode of the files of a Secret or ConfigMap volume (every item, or the named key). */
export function volumeFiles(spec: any, volumeName: string): { key: string; owner: number; group: number; mode: number }[] {
    const volume = (spec.volumes ?? []).find((v: any) => v.name === volumeName);
    const source = volume?.secret ?? volume?.configMap;
    if (!source) {
        throw new Error(`volume ${volumeName} is not a Secret or ConfigMap volume`);
    }
    const fsGroup: number | undefined = spec.securityContext?.fsGroup;
    const defaultMode: number = source.defaultMode ?? 0o644;
    const items: { key: string; mode?: number }[] = source.items ?? [{ key: "*" }];
    return items.map((item) => ({
        key: item.key,
        owner: 0,
        group: fsGroup ?? 0,
        mode: (item.mode ?? defaultMode) | (fsGroup !== undefined ? 0o440 : 0),
    }));
}

/** Whether `identity` may read a file with that owner, group and mode (root reads everything). */
export function canRead(identity: ProcessIdentity, file: { owner: number; group: number; mode: number }): boolean {
    if (identity.uid === 0) {
        return true;
    }
    if (identity.uid === file.owner) {
        return (file.mode & 0o400) !== 0;
    }
    if (identity.gid === file.group || identity.groups.includes(file.group)) {
        return (file.mode & 0o040) !== 0;
    }
    return (file.mode & 0o004) !== 0;
}
