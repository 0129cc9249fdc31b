import * as assert from "assert";
import { spawnSync } from "child_process";
import { readdirSync } from "fs";
import * as path from "path";
import { projectRoot } from "../tools/stackConfig";

const assets = path.join(projectRoot, "components", "assets");

describe("shell scripts shipped to the pods and Jobs", () => {
    it("pass shellcheck as POSIX sh (the images run them with sh)", () => {
        if (spawnSync("sh", ["-c", "command -v shellcheck"]).status !== 0) {
            throw new Error("shellcheck is not installed: run .ci/run, or: apt-get install shellcheck");
        }
        const scripts = readdirSync(assets).filter((f) => f.endsWith(".sh"));
        assert.ok(scripts.length >= 4, scripts.join(", "));
        const result = spawnSync("shellcheck", ["-s", "sh", "-x", ...scripts], { cwd: assets, encoding: "utf8" });
        assert.strictEqual(result.status, 0, result.stdout + result.stderr);
    });
});
