import * as assert from "assert";
import { objectSettings, scalarSettings } from "../config";
import { readProject, readStackFile, shippedStacks } from "../harness/stackConfig";

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
