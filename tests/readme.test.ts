import * as assert from "assert";
import { readFileSync } from "fs";
import * as path from "path";
import { names } from "../lib/names";
import { ProgramRun, runStack } from "../harness/mockProgram";
import { readmeWithTable } from "../cli/settingsTable";
import { projectRoot, shippedStacks, stackConfig } from "../harness/stackConfig";

const readme = () => readFileSync(path.join(projectRoot, "README.md"), "utf8");

/** The first Markdown table after `heading`: its header cells and its rows by their first cell. */
function tableAfter(text: string, heading: string): { header: string[]; rows: Map<string, string[]> } {
    const start = text.indexOf(`\n${heading}\n`);
    assert.ok(start >= 0, `README has a section ${heading}`);
    const lines = text.slice(start).split("\n");
    const first = lines.findIndex((l) => l.startsWith("|"));
    const table = lines.slice(first, first + lines.slice(first).findIndex((l) => !l.startsWith("|")));
    const cells = (line: string) => line.slice(1, -1).split("|").map((c) => c.trim());
    const [header, , ...body] = table.map(cells);
    return { header, rows: new Map(body.map((r) => [r[0], r.slice(1)])) };
}

/** A cell's fact: the text without its parenthesised explanations ("none (1 pod)" -> "none"). */
const fact = (cell: string) => cell.replace(/\s*\([^()]*\)/g, "").trim();

/** The autoscaling table's cells for one stack, from what the program registers on it. */
function autoscalingCells(run: ProgramRun): Record<string, string> {
    const n = names.autoscaling;
    const hpa = run.ofType("kubernetes:autoscaling/v2:HorizontalPodAutoscaler").find((r) => r.name === n.apiHpa)?.inputs.spec;
    const resourceNames: Record<string, string> = { cpu: "CPU", memory: "memory" };
    const metrics = hpa?.metrics ?? [];
    const resources = metrics.filter((m: any) => m.type === "Resource").map((m: any) => resourceNames[m.resource.name]);
    const custom = metrics.filter((m: any) => m.type === "Pods").length;
    const vpaMode = (name: string) => run.ofType("kubernetes:autoscaling.k8s.io/v1:VerticalPodAutoscaler").find((r) => r.name === name)?.inputs.spec.updatePolicy.updateMode;
    const modes = [n.apiVpa, n.postgresVpa, n.redisVpa].map(vpaMode);
    const budget = (name: string) => {
        const spec = run.ofType("kubernetes:policy/v1:PodDisruptionBudget").find((r) => r.name === name)?.inputs.spec;
        return spec ? (spec.minAvailable !== undefined ? `\`minAvailable: ${spec.minAvailable}\`` : `\`maxUnavailable: ${spec.maxUnavailable}\``) : "none";
    };
    return {
        "HPA `healthcare-api`": hpa ? [`${hpa.minReplicas}-${hpa.maxReplicas} pods`, ...resources, ...(custom > 0 ? [`${custom} custom metrics`] : [])].join(", ") : "none",
        "VPA (API / PostgreSQL / Redis)": modes.every((m) => m === undefined) ? "none" : modes.map((m) => (m ? `\`${m}\`` : "none")).join(" / "),
        "PDB API": budget(n.apiPdb),
        "PDB Redis": budget(n.redisPdb),
        "PDB PostgreSQL": budget(n.postgresPdb),
    };
}

describe("README", () => {
    it("has the settings table as generated from Pulumi.yaml and the stack files (npm run docs:settings)", () => {
        const text = readme();
        assert.strictEqual(text, readmeWithTable(text), "the README's settings table is stale: run npm run docs:settings");
    });

    it("states each shipped stack's autoscalers and budgets as the program registers them (Autoscaling and availability)", async () => {
        const { header, rows } = tableAfter(readme(), "## Autoscaling and availability");
        assert.deepStrictEqual(header.slice(1), [...shippedStacks]);
        for (const [column, stack] of shippedStacks.entries()) {
            const cells = autoscalingCells(await runStack(stackConfig(stack), stack));
            assert.deepStrictEqual([...rows.keys()], Object.keys(cells), "the table's rows");
            for (const [row, expected] of Object.entries(cells)) {
                assert.strictEqual(fact(rows.get(row)![column]), expected, `${row}, ${stack}`);
            }
        }
    });

    it("reads the table's facts, not its explanations", () => {
        assert.strictEqual(fact("none (1 pod, `apiPdbMinAvailable: 0`)"), "none");
        assert.strictEqual(fact("`Off` / `Initial` / `Initial`"), "`Off` / `Initial` / `Initial`");
        const { rows } = tableAfter("\n## T\n\n| | a |\n|---|---|\n| x | 1 (one) |\n\nafter\n", "## T");
        assert.deepStrictEqual([...rows], [["x", ["1 (one)"]]]);
    });
});
