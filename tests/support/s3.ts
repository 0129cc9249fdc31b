import { ChildProcess, spawn, spawnSync } from "child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { scalarSettings } from "../../config";
import { projectRoot } from "../../harness/stackConfig";
import { freePort, stopProcess } from "./processes";

/**
 * A real S3-compatible server for the backup tests: moto's server (PyPI `moto[s3]`, pinned with hashes
 * in cli/checks/s3server-requirements.txt and installed into .tools/s3server by npm run
 * setup:checks), and the S3 client the backup pods run: rclone, the version of the image the program
 * ships (postgresBackupS3ClientImage), built from the Go module proxy by .ci/run.
 */

/** The rclone version the program's default client image runs (`rclone/rclone:1.75.1` -> 1.75.1). */
export const shippedRcloneVersion = scalarSettings.postgresBackupS3ClientImage.default.split(":")[1];

function onPath(name: string): string | undefined {
    const found = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).stdout.trim();
    return found || undefined;
}

/** rclone: $RCLONE, on PATH, or where `go install` puts it; fails unless it is the shipped image's version. */
export function rcloneBinary(): string {
    const gopath = spawnSync("go", ["env", "GOPATH"], { encoding: "utf8" }).stdout?.trim();
    const candidates = [process.env.RCLONE, onPath("rclone"), gopath ? path.join(gopath, "bin", "rclone") : undefined].filter((c): c is string => !!c && existsSync(c));
    const install = `npm run setup:checks (go install github.com/rclone/rclone@v${shippedRcloneVersion})`;
    if (candidates.length === 0) {
        throw new Error(`rclone is not installed: the backup tests run the S3 client the backup pods run. Run: ${install}`);
    }
    const version = spawnSync(candidates[0], ["version"], { encoding: "utf8" }).stdout.split("\n")[0];
    // `go install` builds report v1.75.1-DEV; the release image reports v1.75.1.
    if (!new RegExp(`^rclone v${shippedRcloneVersion.replace(/\./g, "\\.")}(-DEV)?$`).test(version)) {
        throw new Error(`${candidates[0]} is "${version}", not the v${shippedRcloneVersion} of the image the program ships (postgresBackupS3ClientImage). Run: ${install}`);
    }
    return candidates[0];
}

/** moto's server: $MOTO_SERVER, .tools/s3server (npm run setup:checks), or on PATH. */
function motoServerBinary(): string {
    const candidates = [process.env.MOTO_SERVER, path.join(projectRoot, ".tools", "s3server", "bin", "moto_server"), onPath("moto_server")];
    const found = candidates.find((c): c is string => !!c && existsSync(c));
    if (!found) {
        throw new Error("moto_server is not installed: the backup tests upload to a real S3-compatible server. Run: npm run setup:checks (or .ci/run)");
    }
    return found;
}


export interface S3Server {
    endpoint: string;
    /** Folder with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, as the Secret is mounted in the pods. */
    credentialsDir: string;
    rclone: string;
    /** Runs rclone against the server (same configuration the scripts build); throws on failure. */
    run(...args: string[]): string;
    /** Creates a bucket. */
    createBucket(bucket: string): void;
    /** Every object under `bucket/prefix` as `<relative path> <bytes>`, sorted. */
    objects(bucket: string, prefix?: string): string[];
    stop(): Promise<void>;
}

export async function startS3Server(): Promise<S3Server> {
    const rclone = rcloneBinary();
    const port = await freePort();
    const server: ChildProcess = spawn(motoServerBinary(), ["-H", "127.0.0.1", "-p", String(port)], { stdio: ["ignore", "ignore", "pipe"] });
    let serverLog = "";
    server.stderr?.on("data", (d) => (serverLog = (serverLog + d).slice(-4000)));
    const endpoint = `http://127.0.0.1:${port}`;
    const credentialsDir = mkdtempSync(path.join(tmpdir(), "s3-credentials-"));
    writeFileSync(path.join(credentialsDir, "AWS_ACCESS_KEY_ID"), "test-access-key");
    writeFileSync(path.join(credentialsDir, "AWS_SECRET_ACCESS_KEY"), "test-secret-key");
    const env = {
        ...process.env,
        RCLONE_CONFIG: "",
        RCLONE_S3_PROVIDER: "Other",
        RCLONE_S3_ENDPOINT: endpoint,
        RCLONE_S3_REGION: "us-east-1",
        RCLONE_S3_ACCESS_KEY_ID: "test-access-key",
        RCLONE_S3_SECRET_ACCESS_KEY: "test-secret-key",
    };
    const run = (...args: string[]) => {
        const result = spawnSync(rclone, args, { env, encoding: "utf8" });
        if (result.status !== 0) {
            throw new Error(`rclone ${args.join(" ")} failed: ${result.stderr}`);
        }
        return result.stdout;
    };
    const deadline = Date.now() + 60000;
    for (;;) {
        const ok = await fetch(endpoint).then(
            () => true,
            () => false,
        );
        if (ok) {
            break;
        }
        if (server.exitCode !== null || Date.now() > deadline) {
            throw new Error(`moto_server did not start on port ${port}:\n${serverLog}`);
        }
        await new Promise((r) => setTimeout(r, 200));
    }
    return {
        endpoint,
        credentialsDir,
        rclone,
        run,
        createBucket: (bucket) => void run("mkdir", `:s3:${bucket}`),
        objects: (bucket, prefix) =>
            run("lsf", "-R", "--files-only", "--format", "ps", "--separator", " ", `:s3:${bucket}${prefix ? `/${prefix}` : ""}`)
                .split("\n")
                .filter(Boolean)
                .sort(),
        async stop() {
            await stopProcess(server, "SIGTERM");
            rmSync(credentialsDir, { recursive: true, force: true });
        },
    };
}
