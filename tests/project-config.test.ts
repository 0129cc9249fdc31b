import * as assert from "assert";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { parse } from "yaml";
import { objectSettings, scalarSettings } from "../config";
import { projectRoot, readProject, readStackFile, shippedStacks } from "../harness/stackConfig";
import { npmScripts, runsPerFile, selectionProblems, testFiles } from "./support/testScripts";

describe("Pulumi.yaml and the settings module agree", () => {
    const project = readProject();
    const declared = project.config ?? {};

    it("is the healthcare-backend project on the nodejs runtime", () => {
        assert.strictEqual(project.name, "healthcare-backend");
        assert.strictEqual((project as any).runtime.name, "nodejs");
    });

    it("declares exactly the scalar settings the program reads", () => {
        assert.deepStrictEqual(Object.keys(declared).sort(), Object.keys(scalarSettings).sort());
    });

    for (const [key, spec] of Object.entries(scalarSettings)) {
        it(`declares ${key} with its type, default and a description`, () => {
            const declaration = declared[key];
            assert.ok(declaration, `${key} is declared`);
            assert.strictEqual(declaration.type, spec.type);
            assert.strictEqual(declaration.default, spec.default);
            assert.ok((declaration.description ?? "").length > 10, `${key} has a description`);
        });
    }

    for (const stack of shippedStacks) {
        it(`Pulumi.${stack}.yaml carries config only: no secrets provider, salt or key made on someone's machine`, () => {
            // A salt made while a tool ran with a throwaway passphrase would encrypt the real stack's secrets under it.
            const file = parse(readFileSync(path.join(projectRoot, `Pulumi.${stack}.yaml`), "utf8"));
            assert.deepStrictEqual(Object.keys(file), ["config"]);
        });

        it(`Pulumi.${stack}.yaml sets only known settings, and every structured one`, () => {
            const keys = Object.keys(readStackFile(stack)).map((k) => k.replace(/^healthcare-backend:/, ""));
            const known = new Set<string>([...Object.keys(scalarSettings), ...objectSettings]);
            assert.deepStrictEqual(keys.filter((k) => !known.has(k)), []);
            for (const key of objectSettings) {
                assert.ok(keys.includes(key), `${stack} sets ${key}`);
            }
        });
    }
});

describe("the unit-test scripts: npm test and npm run test:data", () => {
    // A file no script runs would silently never be tested (a file in a subfolder, or one named like
    // rollout.test.ts, under the former single-folder globs); one two scripts run would run twice in CI.
    it("run every tests/**/*.test.ts exactly once between them, and none of the e2e folder", () => {
        assert.ok(testFiles().length > 30, testFiles().join(", "));
        assert.deepStrictEqual(selectionProblems(), []);
    });

    it("npm run test:data runs tests/data (the suites on real data-store processes) and npm test the rest", () => {
        const perFile = runsPerFile();
        const data = perFile.filter((f) => f.runs["test:data"] === 1).map((f) => f.file);
        assert.deepStrictEqual(data, testFiles().filter((f) => f.startsWith("tests/data/")));
        // The slot migrations, the restarts and the rolls, and the PostgreSQL backup scripts are among them.
        for (const file of ["tests/data/redis-scaling.test.ts", "tests/data/redis-restart.test.ts", "tests/data/redis-roll.test.ts", "tests/data/postgres-backup-scripts.test.ts"]) {
            assert.ok(data.includes(file), `${file} runs in test:data: ${data.join(", ")}`);
        }
        assert.ok(perFile.find((f) => f.file === "tests/render.test.ts")?.runs.test === 1);
    });

    describe("on a fixture tree", () => {
        let root: string;
        const write = (file: string, text: string) => {
            mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
            writeFileSync(path.join(root, file), text);
        };
        const withScripts = (scripts: Record<string, string>) => write("package.json", JSON.stringify({ scripts }));
        before(() => {
            root = mkdtempSync(path.join(tmpdir(), "test-scripts-"));
            for (const file of ["a.test.ts", "render.test.ts", "manifest-checks.test.ts", "postgres-x.test.ts", "rollout.test.ts", "redis-probes.test.ts", "redis-scaling-x.test.ts", "sub/b.test.ts", "sub/redis-scaling-y.test.ts", "data/d.test.ts", "data/sub/e.test.ts", "e2e/c.e2e.ts", "support/helper.ts"]) {
                write(`tests/${file}`, "");
            }
        });
        after(() => rmSync(root, { recursive: true, force: true }));

        it("the shipped scripts run every file once, subfolders included, and the e2e's files in neither", () => {
            withScripts(npmScripts());
            assert.deepStrictEqual(selectionProblems(root), []);
            const perFile = Object.fromEntries(runsPerFile(root).map((f) => [f.file, f.runs]));
            assert.deepStrictEqual(perFile["tests/sub/b.test.ts"], { test: 1, "test:data": 0 });
            assert.deepStrictEqual(perFile["tests/rollout.test.ts"], { test: 1, "test:data": 0 });
            assert.deepStrictEqual(perFile["tests/sub/redis-scaling-y.test.ts"], { test: 1, "test:data": 0 });
            assert.deepStrictEqual(perFile["tests/data/d.test.ts"], { test: 0, "test:data": 1 });
            assert.deepStrictEqual(perFile["tests/data/sub/e.test.ts"], { test: 0, "test:data": 1 });
        });

        it("flags a *.test.ts in the e2e folder: npm run e2e takes only *.e2e.ts there", () => {
            withScripts(npmScripts());
            write("tests/e2e/stray.test.ts", "");
            try {
                assert.deepStrictEqual(
                    selectionProblems(root).map((p) => p.split(":")[0]),
                    ["tests/e2e/stray.test.ts"],
                );
            } finally {
                rmSync(path.join(root, "tests/e2e/stray.test.ts"));
            }
        });

        it("flags the former single-folder globs: a subfolder's file and rollout.test.ts never ran, a scaling file would run twice", () => {
            withScripts({
                test: 'npm run typecheck && mocha --parallel --jobs 4 "tests/redis-*.test.ts" "tests/[!r]*.test.ts" "tests/re[!d]*.test.ts"',
                "test:data": 'mocha --parallel "tests/redis-scaling*.test.ts"',
            });
            assert.deepStrictEqual(selectionProblems(root).map((p) => p.split(":")[0]), [
                "tests/data/d.test.ts",
                "tests/data/sub/e.test.ts",
                "tests/redis-scaling-x.test.ts",
                "tests/rollout.test.ts",
                "tests/sub/b.test.ts",
                "tests/sub/redis-scaling-y.test.ts",
            ]);
        });
    });
});
