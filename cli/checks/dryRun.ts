import { spawnSync } from "child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "fs";
import * as os from "os";
import * as path from "path";
import { startControlPlane } from "../../harness/engine/controlPlane";
import { kubernetesBinary, Toolchain } from "../../harness/engine/toolchain";
import { crdDir } from "./manifestChecks";

/** One object the API server refused, or admitted with a Pod Security warning, in a server-side dry run. */
export interface DryRunFinding {
    /** Kubernetes version of the API server. */
    version: string;
    stack: string;
    /** The rendered file, or the object when kubectl names it. */
    where: string;
    problem: string;
}

/**
 * Server-side dry runs of rendered objects against real API servers of each version: etcd and
 * kube-apiserver only, started for this check, with the CRDs of the custom resources. Each stack's
 * namespaces are created for real (a namespaced object needs its namespace); every other object is
 * applied with `--dry-run=server`, so admission (Pod Security `restricted` warns on a workload whose
 * pod template would be refused), defaulting and validation run exactly as on a cluster.
 */
export async function dryRunStacks(
    toolchain: Toolchain,
    stacks: ReadonlyArray<{ stack: string; objectFiles: readonly string[]; releaseNamespaces?: readonly string[] }>,
    say: (line: string) => void,
): Promise<{ checked: number; findings: DryRunFinding[] }> {
    const findings: DryRunFinding[] = [];
    let checked = 0;
    for (const version of toolchain.dryRunKubernetes) {
        const dir = mkdtempSync(path.join(os.tmpdir(), `healthcare-dry-run-${version}-`));
        const started = process.hrtime.bigint();
        const cluster = await startControlPlane({ dir: path.join(dir, "control-plane"), toolchain, version, mode: "apiserver", contexts: ["dry-run"] });
        try {
            const crds = readdirSync(crdDir).filter((f) => f.endsWith(".yaml")).map((f) => path.join(crdDir, f));
            cluster.kubectl(["apply", "--server-side", ...crds.flatMap((f) => ["-f", f])]);
            cluster.kubectl(["wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"]);
            for (const { stack, objectFiles, releaseNamespaces = [] } of stacks) {
                const isNamespace = (file: string) => /^kind: Namespace$/m.test(readFileSync(file, "utf8"));
                // The stack's Helm releases create their namespaces (createNamespace), where the add-ons' own
                // objects (Envoy Gateway's EnvoyProxy) live: created for real too, as the releases would.
                const releaseNamespaceFile = path.join(dir, `${stack}-release-namespaces.yaml`);
                writeFileSync(releaseNamespaceFile, releaseNamespaces.map((name) => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n`).join("---\n"));
                const namespaces = [...objectFiles.filter(isNamespace), ...(releaseNamespaces.length > 0 ? [releaseNamespaceFile] : [])];
                const others = objectFiles.filter((f) => !isNamespace(f));
                const kubectl = kubernetesBinary(toolchain, toolchain.e2eKubernetes, "kubectl");
                const apply = (files: readonly string[], dryRun: boolean) =>
                    spawnSync(
                        kubectl,
                        ["--kubeconfig", cluster.kubeconfig, "apply", "--server-side", "--field-manager=healthcare-check", ...(dryRun ? ["--dry-run=server"] : []), ...files.flatMap((f) => ["-f", f])],
                        { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
                    );
                for (const result of [apply(namespaces, false), apply(others, true)]) {
                    const found = problemsIn(result.stderr, version, stack);
                    findings.push(...found);
                    if (result.status !== 0 && !found.some((f) => f.where !== "pod template")) {
                        // kubectl failed in a way the parser does not know: report all it said.
                        findings.push({ version, stack, where: "kubectl", problem: `exit ${result.status}: ${result.stderr.trim()}` });
                    }
                }
                checked += objectFiles.length;
            }
        } finally {
            cluster.stop();
            rmSync(dir, { recursive: true, force: true });
        }
        say(`  server-side dry run, Kubernetes ${version}: ${stacks.map((s) => s.objectFiles.length).reduce((a, b) => a + b, 0)} objects (${(Number(process.hrtime.bigint() - started) / 1e9).toFixed(1)} s)`);
    }
    return { checked, findings };
}

/** kubectl's errors and Pod Security warnings, one finding each. */
export function problemsIn(stderr: string, version: string, stack: string): DryRunFinding[] {
    const findings: DryRunFinding[] = [];
    for (const line of stderr.split("\n")) {
        // `Error from server (Invalid): ...` (with `for: "<file>"` from some kubectl versions), or the
        // server-side apply form `The Service "x" is invalid: ...`.
        const error = /^Error from server \([^)]*\): (?:.*?for: "([^"]+)": )?(.*)$/.exec(line) ?? /^()(The \S+ "[^"]+" is invalid: .*)$/.exec(line);
        const warning = /^Warning: (would violate PodSecurity.*)$/.exec(line);
        if (error) {
            const object = /^(?:The )?(\S+ "[^"]+")/.exec(error[2])?.[1];
            findings.push({ version, stack, where: error[1] ? path.basename(error[1]) : (object ?? "kubectl"), problem: error[2] });
        } else if (warning) {
            findings.push({ version, stack, where: "pod template", problem: warning[1] });
        } else if (/^error:/.test(line)) {
            findings.push({ version, stack, where: "kubectl", problem: line });
        }
    }
    return findings;
}
