import * as assert from "assert";
import { readFileSync } from "fs";
import * as path from "path";
import { readmeWithTable } from "../tools/settingsTable";
import { projectRoot } from "../tools/stackConfig";

describe("README", () => {
    it("has the settings table as generated from Pulumi.yaml and the stack files (npm run docs:settings)", () => {
        const readme = readFileSync(path.join(projectRoot, "README.md"), "utf8");
        assert.strictEqual(readme, readmeWithTable(readme), "the README's settings table is stale: run npm run docs:settings");
    });
});
