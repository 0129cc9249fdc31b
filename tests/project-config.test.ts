import * as assert from "assert";
import { readdirSync, readFileSync } from "fs";
import * as path from "path";
import { parse } from "yaml";
import { objectSettings, scalarSettings } from "../config";
import { projectRoot, readProject, readStackFile, shippedStacks } from "../harness/stackConfig";

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

describe("npm test", () => {
    // package.json lists the files in an order (the real-Redis files first, they take longest);
    // a file no pattern matches would silently never run, one two patterns match would run twice.
    it("runs every test file exactly once", () => {
        const script: string = JSON.parse(readFileSync(path.join(projectRoot, "package.json"), "utf8")).scripts.test;
        const patterns = [...script.matchAll(/"(tests\/[^"]+)"/g)].map((m) => m[1]);
        assert.ok(patterns.length > 0, `test patterns in ${script}`);
        // The glob forms used there: `*` (no slash) and `[!x]`.
        const toRegExp = (glob: string) =>
            new RegExp(`^${glob.replace(/[.+^${}()|\\]/g, "\\$&").replace(/\[!/g, "[^").replace(/\*/g, "[^/]*")}$`);
        const files = readdirSync(path.join(projectRoot, "tests"))
            .filter((f) => f.endsWith(".test.ts"))
            .map((f) => `tests/${f}`);
        const matchedBy = files.map((file) => ({ file, count: patterns.filter((p) => toRegExp(p).test(file)).length }));
        assert.deepStrictEqual(matchedBy.filter((m) => m.count !== 1), []);
    });
});
