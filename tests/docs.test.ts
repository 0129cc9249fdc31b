/**
 * The README and docs/ held to the code: generated tables and pictures equal what their generators
 * produce now, tables of facts equal what the program registers, and every link, path, `npm run`
 * script and `make` target the pages name exists.
 */
import * as assert from "assert";
import { existsSync, readdirSync, readFileSync } from "fs";
import * as path from "path";
import { names } from "../lib/names";
import { cellText, plotMatrix } from "../analysis/network/matrixSvg";
import { Matrix, Universe } from "../analysis/network/reachabilityMatrix";
import { runAutoscaler } from "../analysis/capacity/stackHpa";
import { parseCapacityArgs, summary } from "../cli/capacity";
import { reachabilityPicture, reachabilitySvg } from "../cli/reachabilitySvg";
import { settingsPage, withSettingsTable } from "../cli/settingsTable";
import { ProgramRun, runStack } from "../harness/mockProgram";
import { projectRoot, shippedStacks, ShippedStack, stackConfig } from "../harness/stackConfig";

const read = (file: string) => readFileSync(path.join(projectRoot, file), "utf8");

/** One program run per shipped stack, shared by the checks below (each run costs a second or two). */
const runs = new Map<string, Promise<ProgramRun>>();
const runOf = (stack: ShippedStack) => {
    if (!runs.has(stack)) {
        runs.set(stack, runStack(stackConfig(stack), stack));
    }
    return runs.get(stack)!;
};
const docsDir = path.join(projectRoot, "docs");
/** The README and every page of docs/, by path from the project root. */
const pages = () => ["README.md", ...readdirSync(docsDir).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];

/** The first Markdown table after `heading`: its header cells and its rows by their first cell. */
function tableAfter(text: string, heading: string): { header: string[]; rows: Map<string, string[]> } {
    const start = text.indexOf(`\n${heading}\n`);
    assert.ok(start >= 0, `the page has a section ${heading}`);
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
        // On CloudNativePG the operator makes PostgreSQL's budgets; the program makes none.
        "PDB PostgreSQL": run.ofType("kubernetes:postgresql.cnpg.io/v1:Cluster").length > 0 && budget(n.postgresPdb) === "none" ? "the operator's" : budget(n.postgresPdb),
    };
}

/** The text between `<!-- <name>:start ... -->` and `<!-- <name>:end -->`, trimmed. */
function between(text: string, name: string): string {
    const start = text.indexOf(`<!-- ${name}:start`);
    const end = text.indexOf(`<!-- ${name}:end -->`);
    assert.ok(start >= 0 && end > start, `markers ${name}:start ... ${name}:end`);
    return text.slice(text.indexOf("-->", start) + 3, end).trim();
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
export function anchorOf(heading: string): string {
    return heading
        .replace(/`/g, "")
        .toLowerCase()
        .replace(/[^\p{L}\p{N} _-]/gu, "")
        .replace(/ /g, "-");
}

/** Every anchor of a Markdown page (repeated headings get -1, -2, ... as on GitHub). */
function anchorsOf(text: string): Set<string> {
    const seen = new Map<string, number>();
    const anchors = new Set<string>();
    let fenced = false;
    for (const line of text.split("\n")) {
        if (line.startsWith("```")) {
            fenced = !fenced;
        }
        const heading = !fenced && /^#{1,6} (.*)$/.exec(line);
        if (heading) {
            const base = anchorOf(heading[1].trim());
            const n = seen.get(base) ?? 0;
            seen.set(base, n + 1);
            anchors.add(n === 0 ? base : `${base}-${n}`);
        }
    }
    return anchors;
}

/** A page's text outside fenced code blocks (links and inline code there count; commands in examples are checked separately). */
const prose = (text: string) => text.replace(/^```[\s\S]*?^```/gm, "");

describe("docs: generated tables and pictures are current", () => {
    it("docs/settings.md has the settings table as generated from Pulumi.yaml and the stack files (npm run docs:settings)", () => {
        const text = readFileSync(settingsPage, "utf8");
        assert.strictEqual(text, withSettingsTable(text), "docs/settings.md's table is stale: run npm run docs:settings");
    });

    for (const stack of shippedStacks) {
        it(`docs/reachability-${stack}.svg is what the program's NetworkPolicies allow (npm run docs:reachability)`, async () => {
            const file = reachabilityPicture(stack);
            assert.ok(existsSync(file), `${path.relative(projectRoot, file)} exists: run npm run docs:reachability`);
            assert.strictEqual(readFileSync(file, "utf8"), await reachabilitySvg(stack, await runOf(stack)), `${path.relative(projectRoot, file)} is stale: run npm run docs:reachability`);
        });
    }

    it("docs/capacity-and-benchmarks.md has each stack's 10x spike as npm run capacity -- --summary --startup 30,120 gives it", async () => {
        const options = parseCapacityArgs(["--summary", "--startup", "30,120"]);
        const { text, failed } = await summary(options, async (stack, manifest) => runAutoscaler(await runOf(stack as ShippedStack), stack, manifest));
        assert.strictEqual(failed, 0);
        assert.strictEqual(between(read("docs/capacity-and-benchmarks.md"), "capacity"), text.trim());
    });

    it("docs/autoscaling.md states each shipped stack's autoscalers and budgets as the program registers them", async () => {
        const { header, rows } = tableAfter(read("docs/autoscaling.md"), "## What each stack runs");
        assert.deepStrictEqual(header.slice(1), [...shippedStacks]);
        for (const [column, stack] of shippedStacks.entries()) {
            const cells = autoscalingCells(await runOf(stack));
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

describe("docs: the reachability picture", () => {
    const universe: Universe = {
        namespace: "ns",
        namespaces: [{ name: "ns" }, { name: "other" }],
        probes: [],
        roles: [
            { name: "outside", description: "a pod elsewhere", pods: [] },
            { name: "web", description: "Deployment/web", pods: [] },
            { name: "db", description: "StatefulSet/db", pods: [] },
        ],
    };
    const matrix: Matrix = new Map([
        ["outside", new Map<string, string[] | undefined>([["outside", undefined], ["web", ["8080/TCP"]], ["db", []]])],
        ["web", new Map<string, string[] | undefined>([["outside", []], ["web", []], ["db", ["5432/TCP", "53/UDP", "53/TCP"]]])],
        ["db", new Map<string, string[] | undefined>([["outside", []], ["web", []], ["db", []]])],
    ]);
    const svg = plotMatrix(universe, matrix, { title: "t", subtitle: "s", programRoles: ["web", "db"] });

    it("writes ports for the eye: by number, TCP bare, UDP marked, both as tcp/udp", () => {
        assert.strictEqual(cellText(["5432/TCP", "53/UDP", "53/TCP"]), "53 tcp/udp, 5432");
        assert.strictEqual(cellText(["53/UDP"]), "53/udp");
        assert.strictEqual(cellText(["9090/TCP", "8081/TCP"]), "8081, 9090");
    });

    it("has one cell per pair, saying what is allowed, nothing, or not governed", () => {
        const titles = [...svg.matchAll(/<title>([^<]*)<\/title>/g)].map((m) => m[1]);
        assert.strictEqual(titles.length, 9);
        assert.ok(titles.includes("web → db: 5432/TCP, 53/UDP, 53/TCP"), titles.join("; "));
        assert.ok(titles.includes("outside → web: 8080/TCP"));
        assert.ok(titles.includes("outside → db: nothing allowed"));
        assert.ok(titles.includes("outside → outside: not governed by the program"));
        assert.match(svg, />53 tcp\/udp, 5432<\/text>/);
    });

    it("draws the program's pods first, then the cast around them, with every role explained", () => {
        const rowLabels = [...svg.matchAll(/text-anchor="end" fill="[^"]*">([^<]*)<\/text>/g)].map((m) => m[1]);
        assert.deepStrictEqual(rowLabels, ["web", "db", "outside"]);
        for (const line of ["web: Deployment/web", "db: StatefulSet/db", "outside: a pod elsewhere"]) {
            assert.ok(svg.includes(`>${line}</text>`), line);
        }
        assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"[^>]*>[\s\S]*<\/svg>\n$/);
    });
});

describe("docs: what the pages name exists", () => {
    const scripts = Object.keys(JSON.parse(read("package.json")).scripts);
    const makeTargets = [...read("Makefile").matchAll(/^([a-z0-9][a-z0-9-]*):/gm)].map((m) => m[1]);

    it("the README links every page of docs/", () => {
        const readme = read("README.md");
        const unlinked = pages()
            .filter((p) => p !== "README.md")
            .filter((p) => !readme.includes(`](${p})`) && !readme.includes(`](${p}#`));
        assert.deepStrictEqual(unlinked, []);
    });

    for (const page of pages()) {
        describe(page, () => {
            const text = read(page);
            const dir = path.dirname(path.join(projectRoot, page));

            it("links only to files that exist, and to headings that exist", () => {
                const broken: string[] = [];
                for (const [, target] of prose(text).matchAll(/\]\(([^)\s]+)\)/g)) {
                    if (/^[a-z]+:/.test(target)) {
                        continue; // https:, mailto:
                    }
                    const [file, anchor] = target.split("#");
                    const resolved = file === "" ? path.join(projectRoot, page) : path.resolve(dir, file);
                    if (!existsSync(resolved)) {
                        broken.push(`${target}: no file ${path.relative(projectRoot, resolved)}`);
                    } else if (anchor !== undefined && resolved.endsWith(".md") && !anchorsOf(readFileSync(resolved, "utf8")).has(anchor)) {
                        broken.push(`${target}: no heading #${anchor} in ${path.relative(projectRoot, resolved)}`);
                    }
                }
                assert.deepStrictEqual(broken, []);
            });

            it("names only paths of the repository that exist", () => {
                const roots = /^(?:index\.ts|config\.ts|Makefile|Pulumi\.[a-z]+\.yaml|Pulumi\.yaml|package\.json|tsconfig\.json|\.mocharc\.json|\.ci\/|\.github\/|components\/|lib\/|cli\/|analysis\/|harness\/|tests\/|app\/|docs\/)/;
                const missing = [...text.matchAll(/`([^`\s]+)`/g)]
                    .map((m) => m[1])
                    // Placeholders (`Pulumi.<stack>.yaml`, `postgres-*.sh`) and commands are not paths.
                    .filter((p) => roots.test(p) && !/[<>*{}$]/.test(p))
                    .filter((p) => !existsSync(path.join(projectRoot, p)));
                assert.deepStrictEqual([...new Set(missing)], []);
            });

            it("names only npm scripts and make targets that exist", () => {
                const npm = [...text.matchAll(/npm run (?:-s |--silent )?([a-z][\w:-]*)/g)].map((m) => m[1]).filter((s) => !scripts.includes(s));
                const make = [...text.matchAll(/`make ([a-z][\w-]*)/g)].map((m) => m[1]).filter((t) => !makeTargets.includes(t));
                assert.deepStrictEqual({ npm: [...new Set(npm)], make: [...new Set(make)] }, { npm: [], make: [] });
            });
        });
    }

    it("finds GitHub's anchors", () => {
        assert.strictEqual(anchorOf("The API's contract: metrics"), "the-apis-contract-metrics");
        assert.strictEqual(anchorOf("Replacing a protected StatefulSet (growing a volume, an immutable field)"), "replacing-a-protected-statefulset-growing-a-volume-an-immutable-field");
        assert.strictEqual(anchorOf("How `npm test` runs"), "how-npm-test-runs");
        assert.deepStrictEqual([...anchorsOf("# A\n## B\n```\n# not a heading\n```\n## B\n")], ["a", "b", "b-1"]);
    });
});
