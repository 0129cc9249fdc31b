import * as assert from "assert";
import { spawnSync } from "child_process";
import { readdirSync, readFileSync } from "fs";
import * as path from "path";
import { postgresDataCheckScripts } from "../components/postgres/dataDirectory";
import { postgresRolesScript } from "../components/postgres/statefulSet";
import { postgresBackupScripts } from "../components/postgresBackup";
import { redisJobScripts, redisPodScripts, redisScripts } from "../components/redisCluster";
import { projectRoot } from "../harness/stackConfig";

const assets = path.join(projectRoot, "components", "assets");

describe("shell scripts shipped to the pods and Jobs", () => {
    it("pass shellcheck as POSIX sh (the images run them with sh)", () => {
        if (spawnSync("sh", ["-c", "command -v shellcheck"]).status !== 0) {
            throw new Error("shellcheck is not installed: run .ci/run, or: apt-get install shellcheck");
        }
        const scripts = readdirSync(assets).filter((f) => f.endsWith(".sh"));
        assert.ok(scripts.length >= 6, scripts.join(", "));
        const result = spawnSync("shellcheck", ["-s", "sh", "-x", ...scripts], { cwd: assets, encoding: "utf8" });
        assert.strictEqual(result.status, 0, result.stdout + result.stderr);
    });

    it("are all shipped: each one in the Redis pods', the Redis Jobs', the backup pods', the PostgreSQL start-up guard's or the PostgreSQL pod's ConfigMap, and everything a script sources ships beside it", () => {
        const backupScripts = Object.values(postgresBackupScripts);
        const postgresPodScripts = [postgresRolesScript];
        const groups = [redisPodScripts, redisJobScripts, backupScripts, postgresDataCheckScripts, postgresPodScripts] as readonly (readonly string[])[];
        const shipped = new Set<string>(groups.flat());
        assert.deepStrictEqual(readdirSync(assets).filter((f) => f.endsWith(".sh") && !shipped.has(f)), [], "every script is mounted somewhere");
        for (const group of groups) {
            for (const file of group) {
                for (const sourced of readFileSync(path.join(assets, file), "utf8").matchAll(/^\s*\. "\$\(dirname "\$0"\)\/(\S+)"$/gm)) {
                    assert.ok(group.includes(sourced[1]), `${file} sources ${sourced[1]}, which must ship in the same ConfigMap`);
                }
            }
        }
        // The library sourced by the Job scripts sources the resolver in turn.
        assert.ok((redisJobScripts as readonly string[]).includes(redisScripts.resolve));
    });

    it("never set the DNS stand-in outside the tests", () => {
        for (const file of readdirSync(assets).filter((f) => f.endsWith(".sh"))) {
            for (const line of readFileSync(path.join(assets, file), "utf8").split("\n")) {
                assert.doesNotMatch(line, /STANDIN_HOSTS_FILE_FOR_TESTS=/, `${file} assigns the test stand-in: ${line}`);
            }
        }
    });
});
