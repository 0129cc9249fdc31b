import * as k8s from "@pulumi/kubernetes";
import { readFileSync } from "fs";
import * as path from "path";
import { withEphemeralStorage } from "../../lib/resources";
import { restrictedContainerSecurityContext } from "../../lib/security";

/**
 * Data directory layout of the official image. The volume is mounted exactly where the image declares
 * its VOLUME (which moved in PostgreSQL 18) and PGDATA is a subdirectory of it, so the volume's
 * lost+found never makes initdb refuse the directory.
 */
export function dataLayout(majorVersion: number): { mountPath: string; pgdata: string } {
    return majorVersion >= 18
        ? { mountPath: "/var/lib/postgresql", pgdata: "/var/lib/postgresql/data" }
        : { mountPath: "/var/lib/postgresql/data", pgdata: "/var/lib/postgresql/data/pgdata" };
}

/**
 * The start-up guard of the PostgreSQL StatefulSet (components/assets/postgres-data-check.sh): an init
 * container that refuses to let the server start on a volume holding a cluster of another major
 * version, or one in the other data layout's folder, instead of letting the image's entrypoint run
 * initdb beside it and serve an empty database (docs/postgres.md#major-version-upgrades).
 *
 * statefulSet.ts ships `postgresDataCheckScriptFiles()` in a content-named ConfigMap and runs
 * `postgresDataCheckContainer(...)` first among the pod's initContainers.
 */

/** The guard's script (components/assets), the only file its ConfigMap needs: it sources nothing. */
export const postgresDataCheckScript = "postgres-data-check.sh";

/** The scripts the guard's ConfigMap ships (tests/shell-scripts.test.ts checks each is shipped somewhere). */
export const postgresDataCheckScripts = [postgresDataCheckScript] as const;

/** Name of the init container. */
export const postgresDataCheckContainerName = "data-check";

/** Where the init container mounts the data volume (read-only) and its script. */
export const postgresDataCheckPaths = { volume: "/volume", scripts: "/scripts" } as const;

/** The ConfigMap data for the guard: file name to content. */
export function postgresDataCheckScriptFiles(): Record<string, string> {
    return Object.fromEntries(postgresDataCheckScripts.map((file) => [file, readFileSync(path.join(__dirname, "..", "assets", file), "utf8")]));
}

/** The image's data folder inside the volume: `pgdata` before PostgreSQL 18, `data` from 18. */
export function pgdataSubdir(majorVersion: number): string {
    const layout = dataLayout(majorVersion);
    const subdir = path.posix.relative(layout.mountPath, layout.pgdata);
    if (!subdir || subdir.startsWith("..") || subdir.includes("/")) {
        throw new Error(`dataLayout(${majorVersion}) puts PGDATA (${layout.pgdata}) outside a folder of the volume (${layout.mountPath})`);
    }
    return subdir;
}

export interface PostgresDataCheckOptions {
    /** The server's own image (it has sh; no other image needs pulling). */
    image: string;
    /** The image's major version (`PostgresSettings.majorVersion`). */
    majorVersion: number;
    /** The pod's volume name of the data claim (the volumeClaimTemplate's name). */
    volumeName: string;
    /** The pod's volume holding the ConfigMap with `postgresDataCheckScript`. */
    scriptsConfigMapVolume: string;
}

/**
 * The init container: runs the guard as the pod's uid under `restricted`, the data volume mounted
 * read-only (it only looks for PG_VERSION files), with small requests and limits, ephemeral storage
 * included. A refusal fails the container, so the pod stays in Init:CrashLoopBackOff with the message
 * in `kubectl logs postgres-0 -c data-check`, and the server never starts on the volume.
 */
export function postgresDataCheckContainer(opts: PostgresDataCheckOptions): k8s.types.input.core.v1.Container {
    return {
        name: postgresDataCheckContainerName,
        image: opts.image,
        imagePullPolicy: "IfNotPresent",
        command: ["sh", `${postgresDataCheckPaths.scripts}/${postgresDataCheckScript}`],
        env: [
            { name: "DATA_VOLUME", value: postgresDataCheckPaths.volume },
            { name: "EXPECTED_MAJOR", value: String(opts.majorVersion) },
            { name: "EXPECTED_PGDATA_SUBDIR", value: pgdataSubdir(opts.majorVersion) },
        ],
        resources: withEphemeralStorage({ requests: { cpu: "10m", memory: "16Mi" }, limits: { cpu: "100m", memory: "32Mi" } }),
        securityContext: restrictedContainerSecurityContext(),
        volumeMounts: [
            { name: opts.volumeName, mountPath: postgresDataCheckPaths.volume, readOnly: true },
            { name: opts.scriptsConfigMapVolume, mountPath: postgresDataCheckPaths.scripts, readOnly: true },
        ],
    };
}
