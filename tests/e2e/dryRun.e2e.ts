import * as assert from "assert";
import { readdirSync } from "fs";
import * as path from "path";
import { dryRunStacks } from "../../cli/checks/dryRun";
import { ensureToolchain } from "../../harness/engine/toolchain";

/** The server-side dry run of `npm run check:manifests` can fail: it reports what real API servers refuse or warn about. */
describe("e2e: server-side dry runs of rendered objects", function () {
    this.timeout(300_000);

    it("reports an object every API server refuses and a Pod Security warning, and passes a valid object, on the oldest and newest Kubernetes", async function () {
        const toolchain = ensureToolchain();
        const dir = path.join(__dirname, "..", "fixtures", "dry-run");
        const objectFiles = readdirSync(dir)
            .sort()
            .map((f) => path.join(dir, f));
        const { checked, findings } = await dryRunStacks(toolchain, [{ stack: "fixtures", objectFiles }], () => undefined);
        assert.strictEqual(checked, objectFiles.length * toolchain.dryRunKubernetes.length);
        for (const version of toolchain.dryRunKubernetes) {
            const found = findings.filter((f) => f.version === version).map((f) => `${f.where}: ${f.problem}`);
            assert.strictEqual(found.length, 2, `Kubernetes ${version}: ${found.join("\n")}`);
            assert.ok(found.some((f) => /Service "invalid": .*Duplicate value: "http"/.test(f)), found.join("\n"));
            assert.ok(found.some((f) => /would violate PodSecurity "restricted/.test(f)), found.join("\n"));
        }
    });
});
