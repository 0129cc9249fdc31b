import * as assert from "assert";
import { mkdtempSync, readFileSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import {
    applySkips,
    assertChecksInstalled,
    kubernetesVersions,
    loadPolicySkips,
    PolicyFinding,
    scanPolicies,
    SchemaFinding,
    SchemaReport,
    validateSchemas,
} from "../cli/checks/manifestChecks";
import { renderStack, writeRendering } from "../cli/render";
import { projectRoot, shippedStacks } from "../harness/stackConfig";

const fixture = (name: string) => path.join(projectRoot, "tests", "fixtures", "manifests", name);
const problemsOf = (failed: SchemaFinding[], against?: string) => failed.filter((f) => !against || f.against === against).map((f) => f.problem).join("\n");

// These tests run the real validators: without them installed they fail (in `before`) and say what to run.
describe("manifest checks: schema validation", function () {
    this.timeout(120_000);
    // One validator run for every fixture (loading the schemas is most of a run's cost); each test reads its file's part.
    const fixtures = ["misspelled-field", "wrong-type", "newer-than-floor", "bad-vpa", "bad-servicemonitor", "unknown-kind", "valid-custom-resources"];
    let report: SchemaReport;
    before(() => {
        assertChecksInstalled();
        report = validateSchemas(fixtures.map((name) => fixture(`${name}.yaml`)));
    });
    const validated = (name: string) => report.forFile(fixture(name));

    it("says what to run when the checkers are missing", () => {
        const empty = mkdtempSync(path.join(tmpdir(), "no-tools-"));
        assert.throws(() => assertChecksInstalled(empty), /The manifest checkers are not installed \(missing .*venv\/bin\/python.*\): run `npm run setup:checks` \(or \.ci\/run\) first/);
    });

    it("rejects a misspelled field against every Kubernetes version", () => {
        const { failed } = validated("misspelled-field.yaml");
        assert.deepStrictEqual(failed.map((f) => f.against).sort(), kubernetesVersions.map((v) => `Kubernetes ${v}`).sort());
        for (const f of failed) {
            assert.match(f.problem, /spec\.template\.spec\.containers\.0: Additional properties are not allowed \('imagePullPolice' was unexpected\)/);
        }
    });

    it("rejects a field of the wrong type", () => {
        const { failed } = validated("wrong-type.yaml");
        assert.strictEqual(failed.length, kubernetesVersions.length);
        assert.match(problemsOf(failed), /spec\.replicas: 'three' is not of type 'integer'/);
    });

    it("rejects a field newer than the oldest supported Kubernetes version", () => {
        const { checked, failed } = validated("newer-than-floor.yaml");
        assert.strictEqual(checked, kubernetesVersions.length);
        assert.deepStrictEqual(failed.map((f) => f.against), ["Kubernetes 1.29.0"]);
        assert.match(failed[0].problem, /'trafficDistribution' was unexpected/);
    });

    it("rejects a VerticalPodAutoscaler that its CRD does not allow", () => {
        const { failed } = validated("bad-vpa.yaml");
        assert.deepStrictEqual(failed.map((f) => [f.object, f.against]), [["VerticalPodAutoscaler/bad-vpa", "CRD verticalpodautoscalers.autoscaling.k8s.io"]]);
        assert.match(failed[0].problem, /spec\.updatePolicy: Additional properties are not allowed \('updateMod' was unexpected\)/);
        assert.match(failed[0].problem, /containerPolicies\.0\.mode: 'Sometimes' is not one of \['Auto', 'Off'\]/);
    });

    it("rejects a ServiceMonitor that its CRD does not allow", () => {
        const { failed } = validated("bad-servicemonitor.yaml");
        assert.deepStrictEqual(failed.map((f) => f.against), ["CRD servicemonitors.monitoring.coreos.com"]);
        assert.match(failed[0].problem, /spec\.endpoints\.0: Additional properties are not allowed \('intervall' was unexpected\)/);
        assert.match(failed[0].problem, /spec\.endpoints\.0\.port: 9090 is not of type 'string'/);
    });

    it("fails an object it has no schema for instead of passing it unchecked", () => {
        const { failed } = validated("unknown-kind.yaml");
        assert.strictEqual(failed.length, kubernetesVersions.length);
        assert.match(problemsOf(failed), /no schema for Widget example\.com\/v1/);
    });

    it("accepts custom resources their CRDs allow (VPA, ServiceMonitor, PrometheusRule)", () => {
        const { checked, failed } = validated("valid-custom-resources.yaml");
        assert.deepStrictEqual(failed, []);
        assert.strictEqual(checked, 3 + kubernetesVersions.length);
    });

    it("accepts every object of every shipped stack", async () => {
        const filesByStack = new Map<string, string[]>();
        for (const stack of shippedStacks) {
            filesByStack.set(stack, writeRendering(await renderStack(stack), mkdtempSync(path.join(tmpdir(), `schemas-${stack}-`)), stack).objectFiles);
        }
        const all = validateSchemas([...filesByStack.values()].flat());
        for (const [stack, objectFiles] of filesByStack) {
            const results = objectFiles.map((file) => all.forFile(file));
            assert.deepStrictEqual(results.flatMap((r) => r.failed), [], stack);
            // Built-in kinds are checked against every Kubernetes version, custom resources once against their CRD.
            const checked = results.reduce((sum, r) => sum + r.checked, 0);
            assert.ok(checked >= objectFiles.length, `${stack}: ${checked} checks for ${objectFiles.length} objects`);
        }
    });
});

describe("manifest checks: policy scan (checkov)", function () {
    this.timeout(120_000);
    before(() => assertChecksInstalled());

    it("flags a privileged container, and the skip list does not excuse it", () => {
        const scan = scanPolicies([fixture("privileged.yaml")]);
        const privileged = scan.failed.filter((f) => f.check === "CKV_K8S_16");
        assert.deepStrictEqual(
            privileged.map((f) => f.object),
            ["Pod/privileged"],
        );
        const { failed } = applySkips(scan.failed, loadPolicySkips());
        assert.ok(failed.some((f) => f.check === "CKV_K8S_16"));
    });
});

describe("policy skip list", () => {
    const finding = (check: string, object: string): PolicyFinding => ({ check, title: "", object, resource: "", file: "" });

    it("excuses only the listed checks on the listed objects, and tells which entries matched", () => {
        const skips = [
            { check: "CKV_K8S_40", reason: "uid 999", objects: ["StatefulSet/postgres"] },
            { check: "CKV_K8S_43", reason: "tags", objects: ["*"] },
            { check: "CKV_K8S_15", reason: "unused", objects: ["*"] },
        ];
        const result = applySkips(
            [finding("CKV_K8S_40", "StatefulSet/postgres"), finding("CKV_K8S_40", "Deployment/healthcare-api"), finding("CKV_K8S_43", "Job/x"), finding("CKV_K8S_16", "Pod/p")],
            skips,
        );
        assert.deepStrictEqual(result.failed.map((f) => `${f.check} ${f.object}`), ["CKV_K8S_40 Deployment/healthcare-api", "CKV_K8S_16 Pod/p"]);
        assert.deepStrictEqual(result.skipped.map((f) => f.reason), ["uid 999", "tags"]);
        assert.deepStrictEqual([...result.used].map((s) => s.check), ["CKV_K8S_40", "CKV_K8S_43"]);
    });

    it("has a check id, a one-line reason and its objects for every entry", () => {
        const skips = loadPolicySkips();
        assert.ok(skips.length > 0);
        const bad = path.join(mkdtempSync(path.join(tmpdir(), "skips-")), "skips.yaml");
        writeFileSync(bad, "skips:\n  - check: CKV_K8S_40\n    objects: [StatefulSet/postgres]\n");
        assert.throws(() => loadPolicySkips(bad), /skip 1 \(CKV_K8S_40\): reason must be one line/);
    });

    it("is docs/manifests-and-checks.md's table of skipped checks, entry for entry, with every reason and object", () => {
        const page = readFileSync(path.join(projectRoot, "docs", "manifests-and-checks.md"), "utf8");
        const start = page.indexOf("\n## Skipped checks\n");
        assert.ok(start >= 0, "docs/manifests-and-checks.md has the section");
        const next = page.indexOf("\n## ", start + 1);
        const section = page.slice(start, next < 0 ? undefined : next);
        const rows = section.split("\n").filter((line) => /^\| `CKV2?_K8S_\d+`/.test(line));
        const skips = loadPolicySkips();
        assert.strictEqual(rows.length, skips.length, "one row per skip");
        skips.forEach((skip, i) => {
            const row = rows[i];
            assert.ok(row.startsWith(`| \`${skip.check}\``) && row.includes(skip.reason), `row ${i + 1} is ${skip.check}: ${skip.reason}`);
            assert.ok(skip.objects.every((o) => row.includes(`\`${o}\``)), `the row for ${skip.check} names ${skip.objects.join(", ")}`);
        });
    });
});
