/**
 * The third-party checks of rendered manifests: schema validation (kubernetes-validate for built-in
 * kinds, the CRDs' schemas for custom resources, both strict) and the checkov policy scan with the
 * repository's skip list. The tools live in .tools/, installed by `npm run setup:checks`.
 */
import { spawnSync } from "child_process";
import { existsSync, readFileSync } from "fs";
import * as path from "path";
import { parse, parseAllDocuments } from "yaml";
import { projectRoot } from "../../harness/stackConfig";

/**
 * Kubernetes versions every object is validated against: the oldest the project supports (README), so that
 * no newer field slips in, and the newest whose schemas kubernetes-validate ships.
 */
export const kubernetesVersions = ["1.29.0", "1.37.0"] as const;

const toolsDir = path.join(projectRoot, ".tools");
const python = path.join(toolsDir, "venv", "bin", "python");
const checkov = path.join(toolsDir, "venv", "bin", "checkov");
/** Where setup puts the CRDs the custom resources are validated against. */
export const crdDir = path.join(toolsDir, "crds");
const schemaValidator = path.join(__dirname, "validate_schemas.py");
/** The checkov checks that may fail, with reasons. */
export const policySkipsFile = path.join(__dirname, "policy-skips.yaml");

/** Fails with what to run when the checkers are not installed (in `tools`, .tools/ by default). */
export function assertChecksInstalled(tools = toolsDir): void {
    const needed = [python, checkov, crdDir].map((p) => path.join(tools, path.relative(toolsDir, p)));
    const missing = needed.filter((p) => !existsSync(p)).map((p) => path.relative(projectRoot, p));
    if (missing.length > 0) {
        throw new Error(`The manifest checkers are not installed (missing ${missing.join(", ")}): run \`npm run setup:checks\` (or .ci/run) first.`);
    }
}

function run(command: string, args: string[], okStatuses: number[]): string {
    const result = spawnSync(command, args, { cwd: projectRoot, encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
    if (result.error || !okStatuses.includes(result.status ?? -1)) {
        const detail = result.error?.message ?? `exit status ${result.status}`;
        throw new Error(`${path.basename(command)} failed (${detail}):\n${result.stderr}${result.stdout.slice(0, 4000)}`);
    }
    return result.stdout;
}

/** One object that failed schema validation. */
export interface SchemaFinding {
    file: string;
    /** `Kind/name`. */
    object: string;
    /** What it was checked against: `Kubernetes 1.29.0`, `CRD servicemonitors.monitoring.coreos.com`. */
    against: string;
    problem: string;
}

/** What schema validation found: how many checks ran and which failed, in all and per file. */
export interface SchemaReport {
    checked: number;
    failed: SchemaFinding[];
    /** The same figures for one of the files validated. */
    forFile(file: string): { checked: number; failed: SchemaFinding[] };
}

/** Validates every object in `files` against the API schemas of `kubernetesVersions` and the CRDs. */
export function validateSchemas(files: readonly string[]): SchemaReport {
    assertChecksInstalled();
    const versions = kubernetesVersions.flatMap((v) => ["--kubernetes-version", v]);
    const out = run(python, [schemaValidator, ...versions, "--crds", crdDir, "--json", ...files], [0, 1]);
    const report = JSON.parse(out) as { checked: number; failed: SchemaFinding[]; results: { file: string }[] };
    return {
        checked: report.checked,
        failed: report.failed,
        forFile: (file) => ({ checked: report.results.filter((r) => r.file === file).length, failed: report.failed.filter((f) => f.file === file) }),
    };
}

/** One failed checkov check. */
export interface PolicyFinding {
    check: string;
    title: string;
    /** The rendered object (`Kind/name`) whose file the finding is in. */
    object: string;
    /** checkov's resource id. */
    resource: string;
    file: string;
}

/** `Kind/name` of the first object in a manifest file. */
function objectOfFile(file: string): string {
    const first = parseAllDocuments(readFileSync(file, "utf8"))[0]?.toJS() ?? {};
    return `${first.kind}/${first.metadata?.name}`;
}

/** Runs checkov's Kubernetes checks over `files` (one graph, so cross-object checks see every object). */
export function scanPolicies(files: readonly string[]): { passed: number; failed: PolicyFinding[] } {
    assertChecksInstalled();
    const out = run(checkov, ["--framework", "kubernetes", "--skip-download", "--output", "json", "--file", ...files], [0, 1]);
    const report = JSON.parse(out) as any;
    // With nothing to scan checkov prints a bare summary instead of a report.
    const results = report.results ?? { passed_checks: [], failed_checks: [], parsing_errors: [] };
    if (results.parsing_errors?.length > 0) {
        throw new Error(`checkov could not parse ${results.parsing_errors.join(", ")}`);
    }
    const objects = new Map<string, string>();
    const failed = (results.failed_checks as any[]).map((f) => {
        const file: string = f.file_abs_path;
        if (!objects.has(file)) {
            objects.set(file, objectOfFile(file));
        }
        return { check: f.check_id, title: f.check_name, object: objects.get(file)!, resource: f.resource, file };
    });
    return { passed: results.passed_checks.length, failed };
}

/** A checkov check that may fail on some objects, and why. */
export interface PolicySkip {
    check: string;
    reason: string;
    /** `Kind/name` of each object it covers, or `*` for every object. */
    objects: string[];
}

/** Reads and checks the skip list: each entry needs a check id, a one-line reason and its objects. */
export function loadPolicySkips(file = policySkipsFile): PolicySkip[] {
    const document = parse(readFileSync(file, "utf8")) as { skips?: unknown };
    const skips = document?.skips;
    if (!Array.isArray(skips)) {
        throw new Error(`${file}: expected a list under "skips"`);
    }
    return skips.map((entry: any, index) => {
        const problems = [
            !/^CKV2?_K8S_\d+$/.test(entry?.check ?? "") && "check must be a checkov Kubernetes check id (CKV_K8S_n or CKV2_K8S_n)",
            !(typeof entry?.reason === "string" && entry.reason.trim() !== "" && !entry.reason.trim().includes("\n")) && "reason must be one line",
            !(Array.isArray(entry?.objects) && entry.objects.length > 0 && entry.objects.every((o: unknown) => typeof o === "string" && (o === "*" || /^[A-Za-z]+\/[^/]+$/.test(o)))) &&
                'objects must list "Kind/name" entries or "*"',
        ].filter(Boolean);
        if (problems.length > 0) {
            throw new Error(`${file}: skip ${index + 1} (${entry?.check ?? "no check"}): ${problems.join("; ")}`);
        }
        return { check: entry.check, reason: entry.reason.trim(), objects: entry.objects };
    });
}

/** Splits findings into those a skip covers and the rest; reports which skips matched anything. */
export function applySkips(
    findings: readonly PolicyFinding[],
    skips: readonly PolicySkip[],
): { failed: PolicyFinding[]; skipped: Array<PolicyFinding & { reason: string }>; used: Set<PolicySkip> } {
    const used = new Set<PolicySkip>();
    const failed: PolicyFinding[] = [];
    const skipped: Array<PolicyFinding & { reason: string }> = [];
    for (const finding of findings) {
        const skip = skips.find((s) => s.check === finding.check && (s.objects.includes("*") || s.objects.includes(finding.object)));
        if (skip) {
            used.add(skip);
            skipped.push({ ...finding, reason: skip.reason });
        } else {
            failed.push(finding);
        }
    }
    return { failed, skipped, used };
}
