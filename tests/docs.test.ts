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
import { mochaSelection, npmScripts, testFiles, unitTestScripts } from "./support/testScripts";
import { anchorOf, anchorsOf } from "./support/markdown";

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

describe("docs: what the pages say the code does", () => {
    /** A glob as docs/testing.md names files: `*` within one folder, `**` across folders, `[!x]`. */
    const globRegExp = (glob: string) =>
        new RegExp(
            `^${glob
                .replace(/[.+^${}()|\\]/g, "\\$&")
                .replace(/\*\*\//g, "\u0000")
                .replace(/\*/g, "[^/]*")
                .replace(/\u0000/g, "(?:[^/]+/)*")
                .replace(/\[!([^\]]+)\]/g, "[^$1/]")}$`,
        );

    it("docs/testing.md: names each test file (or a glob that covers it) and each unit-test script's globs", () => {
        assert.ok(globRegExp("tests/**/redis-scaling*.test.ts").test("tests/sub/redis-scaling-x.test.ts") && globRegExp("tests/**/a.test.ts").test("tests/a.test.ts"));
        const page = read("docs/testing.md");
        // The table's rows, not the prose: the prose names the scripts' globs, which cover every file.
        const rows = page.split("\n").filter((line) => line.startsWith("|")).join("\n");
        const named = [...rows.matchAll(/`(tests\/[^`\s]+\.test\.ts)`/g)].map((m) => m[1]);
        assert.deepStrictEqual(
            testFiles().filter((f) => !named.some((n) => (n.includes("*") ? globRegExp(n).test(f) : n === f))),
            [],
            "every test file has a row in docs/testing.md",
        );
        const scripts = npmScripts();
        for (const script of unitTestScripts) {
            const { spec, ignore } = mochaSelection(scripts[script]);
            for (const glob of [...spec, ...ignore]) {
                assert.ok(page.includes(`\`${glob}\``), `docs/testing.md names ${script}'s glob ${glob}`);
            }
        }
    });

    it("docs/api-image.md: the environment table is exactly what components/api.ts gives the container", async () => {
        const env = new Set<string>();
        for (const stack of ["local", "staging"] as const) {
            const run = await runOf(stack);
            const configMap = run.ofType("kubernetes:core/v1:ConfigMap").find((c) => c.name.startsWith(names.api.deployment))!;
            Object.keys(configMap.inputs.data).forEach((k) => env.add(`${k} ConfigMap`));
            const container = run.get("kubernetes:apps/v1:Deployment", names.api.deployment).inputs.spec.template.spec.containers[0];
            container.env.forEach((e: { name: string; valueFrom?: { secretKeyRef?: unknown } }) => env.add(`${e.name} ${e.valueFrom?.secretKeyRef ? "Secret" : "value"}`));
        }
        const rows = [...read("docs/api-image.md").matchAll(/^\| `([A-Z_]+)` \| (ConfigMap|Secret) \|/gm)].map((m) => `${m[1]} ${m[2]}`);
        assert.deepStrictEqual(rows.sort(), [...env].sort());
    });

    it("docs/monitoring.md: db_connection_pool_usage's row names exactly the metrics its recording rule reads on each engine, and no other formula is given", async () => {
        const metricsOf = (expr: string) => new Set([...expr.matchAll(/([a-z_:]+)\{/g)].map((m) => m[1]));
        const page = read("docs/monitoring.md");
        const row = page.split("\n").find((l) => l.startsWith("| `db_connection_pool_usage` |"))!;
        const [statefulSet, cloudNativePg] = row.split("cloudnative-pg:");
        for (const [stack, text] of [
            ["local", statefulSet],
            ["staging", cloudNativePg],
        ] as const) {
            const run = await runOf(stack);
            const rule = run
                .get("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "healthcare-backend")
                .inputs.spec.groups.flatMap((g: { rules: { record?: string; expr: string }[] }) => g.rules)
                .find((r: { record?: string }) => r.record === "db_connection_pool_usage");
            const spans = [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
            const named = new Set(spans.flatMap((span) => [...span.matchAll(/\b((?:pg|cnpg)_[a-z_]+)/g)].map((m) => m[1])));
            assert.deepStrictEqual([...named].sort(), [...metricsOf(rule.expr)].sort(), stack);
        }
        assert.strictEqual(page.match(/db_connection_pool_usage` = /g), null, "the rule is the table's, not a client-pool ratio");
    });

    it("docs/local-stack.md: the Docker check comes before the cluster, as cli/ops/local.ts runs it, and the laptop is stated", () => {
        const page = read("docs/local-stack.md");
        const steps = page.slice(page.indexOf("In order, it:"), page.indexOf("Running it again changes nothing"));
        assert.ok(steps.indexOf("Docker daemon answers") > 0 && steps.indexOf("Docker daemon answers") < steps.indexOf("creates the kind cluster"));
        const code = read("cli/ops/local.ts");
        const up = code.slice(code.indexOf("export function localUp"));
        assert.ok(up.indexOf("requireDockerDaemon(") > 0 && up.indexOf("requireDockerDaemon(") < up.indexOf("ensureCluster("), "localUp checks Docker before the cluster");
        const laptop = page.slice(page.indexOf("**The laptop it needs**"), page.indexOf("In order, it:"));
        for (const needed of [/\d+ CPUs/, /\d+ GB of memory/, /\d+ GB of free disk/, /\d+-\d+ minutes/, /estimated/]) {
            assert.match(laptop, needed);
        }
    });

    it("README: every .ci/run duration it gives is one docs/capacity-and-benchmarks.md records, each said measured or estimated", () => {
        const readme = read("README.md");
        const paragraph = readme.slice(readme.indexOf("How long `.ci/run` takes"), readme.indexOf("`npm test` alone"));
        const capacity = read("docs/capacity-and-benchmarks.md");
        const section = capacity.slice(capacity.indexOf("## How long CI takes"), capacity.indexOf("## Test suite"));
        const figures = [...paragraph.matchAll(/(\d+(?:\.\d+)?(?:-\d+)?) min/g)].map((m) => m[1]);
        assert.ok(figures.length >= 3, paragraph);
        assert.deepStrictEqual(figures.filter((f) => !section.includes(f)), []);
        for (const sentence of paragraph.split(/;|: /).filter((s) => / min\b/.test(s))) {
            assert.match(sentence, /measured|estimated/, sentence);
        }
        assert.match(paragraph, /empty\s+`HOME`/);
        assert.match(paragraph, /apt packages already installed/);
    });

    it("the pages the program's messages point to exist, with their headings", () => {
        const sources = ["components/clusterPrerequisites.ts", "components/dataChangeGuard.ts"].map(read).join("\n");
        const targets = [...sources.matchAll(/docs\/([a-z-]+\.md)#([a-z0-9-]+)/g)];
        assert.ok(targets.length >= 2);
        for (const [, file, anchor] of targets) {
            assert.ok(anchorsOf(read(`docs/${file}`)).has(anchor), `docs/${file}#${anchor}`);
        }
    });
});
