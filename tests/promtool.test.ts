import * as assert from "assert";
import { spawnSync } from "child_process";
import { mkdtempSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { stringify } from "yaml";
import { readMonitoringToolchain } from "../harness/monitoring/toolchain";
import { ProgramRun, runStack } from "../harness/mockProgram";
import { onStatefulSetEngine, shippedStacks, stackConfig } from "../harness/stackConfig";
import { alertFixtures, recordingFixtures, RenderedRule, Scenario } from "./support/ruleFixtures";
import { PROMETHEUS_RULE } from "./support/resourceTypes";

/**
 * The rendered PrometheusRules of every shipped stack, checked and unit-tested by the real promtool
 * (the Prometheus Go module, pinned: harness/monitoring/toolchain.sh): `promtool check rules` on each
 * rule file as the stack renders it, and `promtool test rules` with series for every recording rule
 * and every alert, firing and not firing (tests/support/ruleFixtures.ts).
 */

interface RuleGroup {
    name: string;
    interval?: string;
    rules: RenderedRule[];
}

/** What each variant renders: the shipped stacks, and staging on the other engine. */
const variants: Array<[string, () => Promise<ProgramRun>]> = [
    ...shippedStacks.map((stack): [string, () => Promise<ProgramRun>] => [`Pulumi.${stack}.yaml`, () => runStack(stackConfig(stack), stack)]),
    ["staging on the statefulset engine", () => runStack(stackConfig("staging", onStatefulSetEngine), "staging")],
];

const groupsOf = (run: ProgramRun): RuleGroup[] => run.get(PROMETHEUS_RULE, "healthcare-backend").inputs.spec.groups;
const rulesOf = (groups: RuleGroup[]) => groups.flatMap((g) => g.rules);

function promtool(args: string[], cwd: string): { status: number | null; output: string } {
    const result = spawnSync(readMonitoringToolchain().promtool, args, { cwd, encoding: "utf8" });
    return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** The input series of a scenario, as promtool reads them. */
const inputSeries = (scenario: Scenario) => scenario.series.map((s) => ({ series: s.series, values: s.values }));

/**
 * The promtool unit-test file for a rule set: a test group per scenario. The rules under test keep
 * only their static annotation (runbook_url): promtool compares annotations exactly, and the summary's
 * and description's templates are checked by `promtool check rules` on the file as rendered.
 * `onlyAlert` keeps that alert's scenarios alone (every rule still loads and evaluates).
 */
function unitTests(groups: RuleGroup[], onlyAlert?: string): { rules: unknown; tests: unknown } {
    const rules = rulesOf(groups);
    const testGroups: unknown[] = [];
    for (const rule of rules) {
        if (rule.record) {
            if (onlyAlert !== undefined) {
                continue;
            }
            const fixture = recordingFixtures[rule.record](rules);
            testGroups.push({
                name: `${rule.record}: ${fixture.name}`,
                interval: "1m",
                input_series: inputSeries(fixture),
                promql_expr_test: [
                    {
                        expr: rule.record,
                        eval_time: fixture.evalTime,
                        exp_samples: fixture.samples.map((s) => ({ labels: `${rule.record}{${Object.entries(s.labels).map(([k, v]) => `${k}="${v}"`).join(", ")}}`, value: s.value })),
                    },
                ],
            });
            continue;
        }
        const alert = rule.alert!;
        if (onlyAlert !== undefined && alert !== onlyAlert) {
            continue;
        }
        const fixture = alertFixtures[alert](rule, rules);
        for (const scenario of fixture.firing) {
            testGroups.push({
                name: `${alert} fires: ${scenario.name}`,
                interval: "1m",
                input_series: inputSeries(scenario),
                alert_rule_test: [
                    {
                        eval_time: scenario.evalTime,
                        alertname: alert,
                        exp_alerts: scenario.alerts.map((labels) => ({
                            exp_labels: { ...labels, severity: rule.labels!.severity },
                            exp_annotations: { runbook_url: rule.annotations!.runbook_url },
                        })),
                    },
                ],
            });
        }
        for (const scenario of fixture.quiet) {
            testGroups.push({
                name: `${alert} stays quiet: ${scenario.name}`,
                interval: "1m",
                input_series: inputSeries(scenario),
                alert_rule_test: [{ eval_time: scenario.evalTime, alertname: alert, exp_alerts: [] }],
            });
        }
    }
    const staticRules = groups.map((g) => ({
        ...g,
        rules: g.rules.map((r) => (r.alert ? { ...r, annotations: { runbook_url: r.annotations!.runbook_url } } : r)),
    }));
    return {
        rules: { groups: staticRules },
        tests: { rule_files: ["rules.yaml"], evaluation_interval: "1m", tests: testGroups },
    };
}

/** Writes a unit-test folder for these groups and runs `promtool test rules` there (only `onlyAlert`'s scenarios, when given). */
function testRules(groups: RuleGroup[], onlyAlert?: string): { status: number | null; output: string } {
    const dir = mkdtempSync(path.join(tmpdir(), "promtool-test-"));
    try {
        const { rules, tests } = unitTests(groups, onlyAlert);
        writeFileSync(path.join(dir, "rules.yaml"), stringify(rules));
        writeFileSync(path.join(dir, "tests.yaml"), stringify(tests));
        return promtool(["test", "rules", "tests.yaml"], dir);
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
}

describe("promtool: the rendered PrometheusRules under Prometheus' own rule checker and unit tests", function () {
    // promtool evaluates every rule once a minute over up to two days of series: a few seconds per stack.
    this.timeout(120_000);

    before(() => {
        readMonitoringToolchain();
    });

    for (const [variant, run] of variants) {
        describe(variant, () => {
            it("promtool check rules accepts the rule file exactly as rendered (PromQL, durations, annotation templates)", async () => {
                const dir = mkdtempSync(path.join(tmpdir(), "promtool-check-"));
                try {
                    writeFileSync(path.join(dir, "rules.yaml"), stringify({ groups: groupsOf(await run()) }));
                    const result = promtool(["check", "rules", "rules.yaml"], dir);
                    assert.strictEqual(result.status, 0, result.output);
                    assert.match(result.output, /SUCCESS: \d+ rules found/);
                } finally {
                    rmSync(dir, { recursive: true, force: true });
                }
            });

            it("promtool test rules: every recording rule's samples, every alert firing with its labels and runbook_url, and staying quiet", async () => {
                const groups = groupsOf(await run());
                const missing = rulesOf(groups)
                    .map((r) => r.record ?? r.alert!)
                    .filter((name) => !(name in recordingFixtures) && !(name in alertFixtures));
                assert.deepStrictEqual(missing, [], "every rule has scenarios in tests/support/ruleFixtures.ts");
                const result = testRules(groups);
                assert.strictEqual(result.status, 0, result.output);
                assert.match(result.output, /SUCCESS/);
            });
        });
    }

    it("promtool test rules fails when an alert's threshold, or a metric's name in its rule only, changes: the tests above can fail", async () => {
        const groups = groupsOf(await runStack(stackConfig("production"), "production"));
        const changed = (edit: (rule: RenderedRule) => RenderedRule) => groups.map((g) => ({ ...g, rules: g.rules.map(edit) }));
        // The error rate's threshold raised from 5% to 50%: the 9% scenario no longer fires.
        const threshold = testRules(
            changed((r) => (r.alert === "HealthcareApiHighErrorRate" ? { ...r, expr: r.expr.replace(/> 0\.05$/, "> 0.5") } : r)),
            "HealthcareApiHighErrorRate",
        );
        assert.notStrictEqual(threshold.status, 0, threshold.output);
        assert.match(threshold.output, /HealthcareApiHighErrorRate fires/);
        // A metric renamed in the rule only (the exporter still serves redis_memory_used_bytes): the alert goes silent.
        const renamed = testRules(
            changed((r) => (r.alert === "HealthcareRedisMemoryNearMax" ? { ...r, expr: r.expr.replace("redis_memory_used_bytes", "redis_used_memory_bytes") } : r)),
            "HealthcareRedisMemoryNearMax",
        );
        assert.notStrictEqual(renamed.status, 0, renamed.output);
        assert.match(renamed.output, /HealthcareRedisMemoryNearMax fires/);
    });
});
