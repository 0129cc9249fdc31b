import { spawnSync } from "child_process";
import { existsSync, readFileSync } from "fs";
import * as path from "path";

/** Where harness/engine/toolchain.sh put the real engine and the control plane (its toolchain.json). */
export interface Toolchain {
    readonly pulumi: string;
    readonly pulumiVersion: string;
    readonly kubernetesProvider: string;
    /** The version the provider reports: @pulumi/kubernetes's, so the engine picks this build. */
    readonly kubernetesProviderVersion: string;
    /** The Go module the provider was built from (4.25.0 code). */
    readonly kubernetesProviderSource: string;
    readonly etcd: string;
    readonly kwok: string;
    /** kwok's stage definitions (nodes, pods, volumes). */
    readonly kwokStages: string;
    /** The Kubernetes version the e2e and the sandbox run. */
    readonly e2eKubernetes: string;
    /** The versions rendered manifests are dry-run against (oldest and newest served). */
    readonly dryRunKubernetes: readonly string[];
    readonly kubernetesBin: string;
}

/** The toolchain's cache folder ($HEALTHCARE_E2E_CACHE or ~/.cache/healthcare-backend/e2e). */
export function toolchainCache(env: NodeJS.ProcessEnv = process.env): string {
    return env.HEALTHCARE_E2E_CACHE || path.join(env.HOME ?? "/root", ".cache", "healthcare-backend", "e2e");
}

/** A Kubernetes binary of one version from the toolchain (`kube-apiserver`, `kubectl`, ...). */
export function kubernetesBinary(toolchain: Toolchain, version: string, name: string): string {
    return path.join(toolchain.kubernetesBin, `k8s-${version}`, name);
}

/**
 * Builds what is missing (harness/engine/toolchain.sh: seconds when warm, about 23 minutes cold on 2 cores) and
 * returns where everything is.
 */
export function ensureToolchain(say: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Toolchain {
    const script = path.join(__dirname, "toolchain.sh");
    say("e2e: checking the toolchain (harness/engine/toolchain.sh; about 23 minutes the first time on 2 cores)");
    const result = spawnSync("bash", [script], { stdio: ["ignore", "pipe", "inherit"], encoding: "utf8" });
    if (result.status !== 0) {
        throw new Error(`harness/engine/toolchain.sh failed (exit ${result.status}): see its messages above`);
    }
    return readToolchain(result.stdout.trim());
}

/** The toolchain already built in `cache`; fails with the command to run when it is not. */
export function readToolchain(cache: string = toolchainCache()): Toolchain {
    const file = path.join(cache, "toolchain.json");
    if (!existsSync(file)) {
        throw new Error(`no e2e toolchain in ${cache}: run \`npm run e2e:toolchain\` (about 23 minutes the first time on 2 cores)`);
    }
    return JSON.parse(readFileSync(file, "utf8")) as Toolchain;
}
