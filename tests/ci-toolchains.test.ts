import * as assert from "assert";
import { spawnSync } from "child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { projectRoot } from "../harness/stackConfig";

/** The commands .ci/toolchains.sh uses besides node and go, linked into a PATH of their own. */
const baseCommands = ["bash", "sed", "sort", "head", "tail", "cp", "rm", "mkdir", "chmod", "dirname", "cat"];

/** A PATH holding only the base commands and the given test stand-ins (executable scripts). */
function standinPath(dir: string, standins: Record<string, string>): string {
    const bin = path.join(dir, "standin-bin");
    mkdirSync(bin, { recursive: true });
    for (const command of baseCommands) {
        const found = spawnSync("bash", ["-c", `command -v ${command}`], { encoding: "utf8" }).stdout.trim();
        symlinkSync(found, path.join(bin, command));
    }
    for (const [name, script] of Object.entries(standins)) {
        writeFileSync(path.join(bin, name), `#!/bin/bash\n# Test stand-in for ${name}: reports a version, records nothing else.\n${script}\n`);
        chmodSync(path.join(bin, name), 0o755);
    }
    return bin;
}

/** Sources .ci/toolchains.sh and runs `body` (bash) with the stand-ins first on PATH. */
function source(dir: string, standins: Record<string, string>, body: string) {
    const bin = standinPath(dir, standins);
    return spawnSync(path.join(bin, "bash"), ["-c", `set -euo pipefail; CI_ROOT='${projectRoot}'; . '${projectRoot}/.ci/toolchains.sh'; ${body}`], {
        encoding: "utf8",
        env: { PATH: bin, HOME: path.join(dir, "home"), TMPDIR: dir },
    });
}

/** A stand-in go that reports `version` (and what GOTOOLCHAIN switches it to). */
const goReporting = (version: string, switched = "") =>
    `if [ "$1" = version ]; then if [ -n "${switched}" ] && [ "\${GOTOOLCHAIN:-}" = "${switched}" ]; then echo "go version ${switched} linux/amd64"; else echo "go version go${version} linux/amd64"; fi; exit 0; fi\n` +
    'if [ "$1 $2" = "env GOHOSTOS" ]; then echo linux; exit 0; fi\nif [ "$1 $2" = "env GOHOSTARCH" ]; then echo amd64; exit 0; fi\nif [ "$1 $2" = "env GOPROXY" ]; then echo https://proxy.golang.org; exit 0; fi';

describe(".ci/run on a fresh machine: Node.js and Go new enough (.ci/toolchains.sh, with test stand-ins for node and go)", () => {
    let dir: string;
    beforeEach(() => {
        dir = mkdtempSync(path.join(tmpdir(), "ci-toolchains-"));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it("stops on Node.js 18 (apt's on Debian 12 and Ubuntu 24.04), saying what to install", () => {
        const result = source(dir, { node: "echo v18.19.0" }, "ensure_node; echo went-on");
        assert.strictEqual(result.status, 1);
        assert.doesNotMatch(result.stdout, /went-on/);
        assert.match(result.stderr, /Node\.js 20 or later is needed \(found: v18\.19\.0/);
        assert.match(result.stderr, /Install Node\.js 20 or later, then run \.ci\/run again: NodeSource/);
    });

    it("stops without Node.js, and goes on with 20 or later", () => {
        assert.match(source(dir, {}, "ensure_node").stderr, /found: none/);
        for (const version of ["v20.19.5", "v22.11.0"]) {
            const result = source(mkdtempSync(path.join(dir, "n")), { node: `echo ${version}` }, "ensure_node; echo went-on");
            assert.strictEqual(result.status, 0, result.stderr);
            assert.match(result.stdout, /went-on/);
        }
    });

    it("needs the newest go line of the wrapper modules, which is what CI's pinned toolchain satisfies", () => {
        const result = source(dir, {}, "go_needed; echo $ci_go_toolchain");
        const [needed, pinned] = result.stdout.trim().split("\n");
        const lines = readFileSync(path.join(projectRoot, "harness/engine/modules/pulumi/go.mod"), "utf8");
        assert.match(lines, /^go \d/m);
        assert.match(needed, /^1\.2[6-9]\.\d+$/);
        const [n, p] = [needed, pinned.replace(/^go/, "")].map((v) => v.split(".").map(Number));
        assert.ok(p[0] > n[0] || (p[0] === n[0] && (p[1] > n[1] || (p[1] === n[1] && p[2] >= n[2]))), `${pinned} satisfies ${needed}`);
    });

    it("Go 1.22 (Ubuntu 24.04's golang-go): switches to the pinned toolchain through GOTOOLCHAIN", () => {
        const result = source(dir, { go: goReporting("1.22.2", "go1.26.8") }, 'ensure_go; echo "GOTOOLCHAIN=$GOTOOLCHAIN"; go version');
        assert.strictEqual(result.status, 0, result.stderr);
        assert.match(result.stdout, /^GOTOOLCHAIN=go1\.26\.8\ngo version go1\.26\.8/);
        assert.match(result.stderr, /Go 1\.22\.2 is older than the modules' 1\.26\.\d+: using go1\.26\.8 through GOTOOLCHAIN/);
    });

    it("Go 1.19 (Debian 12's): fetches golang.org/toolchain with go mod download and puts a runnable copy first on PATH", () => {
        // What `go mod download -json` leaves in the module cache: a GOROOT without executable bits.
        const cached = path.join(dir, "modcache", "golang.org", "toolchain@v0.0.1-go1.26.8.linux-amd64");
        mkdirSync(path.join(cached, "bin"), { recursive: true });
        mkdirSync(path.join(cached, "pkg", "tool", "linux_amd64"), { recursive: true });
        writeFileSync(path.join(cached, "bin", "go"), '#!/bin/bash\n# Test stand-in for the downloaded go.\necho "go version go1.26.8 linux/amd64"\n', { mode: 0o444 });
        writeFileSync(path.join(cached, "pkg", "tool", "linux_amd64", "compile"), "", { mode: 0o444 });
        const download = `if [ "$1 $2" = "mod download" ]; then echo "$*" > '${dir}/download-args'; printf '{\\n\\t"Path": "golang.org/toolchain",\\n\\t"Dir": "${cached}",\\n\\t"Sum": "h1:x"\\n}\\n'; exit 0; fi`;
        const result = source(dir, { go: `${download}\n${goReporting("1.19.8")}` }, 'ensure_go; echo "GOTOOLCHAIN=$GOTOOLCHAIN"; command -v go; go version');
        assert.strictEqual(result.status, 0, result.stderr);
        assert.strictEqual(readFileSync(path.join(dir, "download-args"), "utf8").trim(), "mod download -json golang.org/toolchain@v0.0.1-go1.26.8.linux-amd64");
        const copy = path.join(dir, "home", ".cache", "healthcare-backend", "go", "go1.26.8");
        assert.deepStrictEqual(result.stdout.trim().split("\n"), ["GOTOOLCHAIN=local", path.join(copy, "bin", "go"), "go version go1.26.8 linux/amd64"]);
        assert.match(result.stderr, /cannot switch toolchains: fetching golang\.org\/toolchain@v0\.0\.1-go1\.26\.8\.linux-amd64 from the Go module proxy/);
    });

    it("a toolchain that does not answer as asked stops with what to install; a new enough go is left alone", () => {
        const stuck = source(dir, { go: goReporting("1.22.2") }, "ensure_go");
        assert.strictEqual(stuck.status, 1);
        assert.match(stuck.stderr, /asked for go1\.26\.8 but go reports 1\.22\.2: install Go 1\.26\.\d+ or later/);
        const current = source(mkdtempSync(path.join(dir, "g")), { go: goReporting("1.26.8") }, 'ensure_go; echo "GOTOOLCHAIN=${GOTOOLCHAIN:-unset}"');
        assert.strictEqual(current.status, 0, current.stderr);
        assert.match(current.stdout, /GOTOOLCHAIN=unset/);
        assert.match(source(mkdtempSync(path.join(dir, "h")), {}, "ensure_go").stderr, /no go on PATH: install golang-go/);
    });

    it(".ci/run calls the checks before npm and go are used, and every CI and tooling script passes ShellCheck", () => {
        const run = readFileSync(path.join(projectRoot, ".ci", "run"), "utf8");
        const at = (text: string) => run.indexOf(text);
        assert.ok(at("\nensure_node") > 0 && at("\nensure_node") < at("apt-get install"), "Node.js before anything is installed");
        assert.ok(at("apt-get install") < at("\nensure_go") && at("\nensure_go") < at("go env GOPATH") && at("\nensure_go") < at("npm ci"), "Go after apt, before any go command");
        const scripts = [".ci/run", ".ci/toolchains.sh", "cli/ops/local.sh", "cli/checks/setup.sh", "harness/engine/toolchain.sh", "harness/engine/pin-kubernetes.sh", "harness/monitoring/toolchain.sh"];
        const result = spawnSync("shellcheck", ["-x", ...scripts], { cwd: projectRoot, encoding: "utf8" });
        assert.ok(!result.error, "shellcheck is not installed: apt-get install shellcheck (.ci/run does)");
        assert.strictEqual(result.status, 0, result.stdout);
    });
});
