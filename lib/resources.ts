import { parseBytes } from "./quantity";

/**
 * Ephemeral storage for every container: what it may write to the node's disk outside persistent
 * volumes. With requests the scheduler places pods where there is room; with limits the kubelet
 * evicts a runaway pod instead of letting it fill the node's disk for every other pod there.
 *
 * A pod's usage is its containers' logs and writable layers plus its disk-backed emptyDirs, held
 * against the sum of its containers' limits: each container's limit covers its own logs and the
 * emptyDirs it mounts (memory-backed ones count as memory, not disk).
 */

const mebibyte = 1024 * 1024;

/**
 * Every container's own share. Logs: the kubelet keeps up to containerLogMaxFiles (5) files of
 * containerLogMaxSize (10Mi) per container by default, 50Mi; the read-only root filesystem keeps the
 * writable layer empty. The request is what a container typically holds.
 */
export const containerScratch = { requestMi: 64, limitMi: 128 } as const;

/** The part of a volume this needs: whether it is a disk-backed emptyDir, and its size limit. */
export interface ScratchVolume {
    readonly name: string;
    readonly emptyDir?: { readonly medium?: string; readonly sizeLimit?: string };
}

/** A container's requests and limits (any resources), as Kubernetes quantities. */
type Resources = { readonly requests: Readonly<Record<string, string>>; readonly limits: Readonly<Record<string, string>> };

/**
 * `resources` with `ephemeral-storage` added: the container's share as request, and as limit its
 * share plus the size limit of every disk-backed emptyDir among `mounted` (the volumes it mounts).
 * Throws on a disk-backed emptyDir without a size limit: its use would be unbounded.
 */
export function withEphemeralStorage<R extends Resources>(resources: R, mounted: readonly ScratchVolume[] = []): R & Resources {
    const disk = mounted.filter((v) => v.emptyDir && v.emptyDir.medium !== "Memory");
    const bytes = disk.map((v) => {
        const limit = parseBytes(v.emptyDir!.sizeLimit ?? "");
        if (limit === undefined) {
            throw new Error(`emptyDir ${v.name} has no valid sizeLimit ("${v.emptyDir!.sizeLimit ?? ""}"): a container's ephemeral-storage limit must cover it`);
        }
        return limit;
    });
    const limitMi = containerScratch.limitMi + Math.ceil(bytes.reduce((a, b) => a + b, 0) / mebibyte);
    return {
        ...resources,
        requests: { ...resources.requests, "ephemeral-storage": `${containerScratch.requestMi}Mi` },
        limits: { ...resources.limits, "ephemeral-storage": `${limitMi}Mi` },
    };
}
