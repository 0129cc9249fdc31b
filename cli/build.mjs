// `npm run build`: compiles the program and its tooling to bin/ and copies what the compiled modules
// read from disk next to them through __dirname (components/assets: the scripts shipped in ConfigMaps;
// the checkers' validator and skip list; the engine's scripts). bin/ is emptied first so that no
// module deleted from the source lingers there.
import { execFileSync } from "node:child_process";
import { cpSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outDir = join(root, "bin");
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");

rmSync(outDir, { recursive: true, force: true });
execFileSync(process.execPath, [tsc, "-p", root], { stdio: "inherit" });
cpSync(join(root, "components", "assets"), join(outDir, "components", "assets"), { recursive: true });
// The checkers' schema validator and skip list, and the engine's scripts, read via __dirname too.
const besides = (folder, wanted) =>
    cpSync(join(root, folder), join(outDir, folder), { recursive: true, filter: (source) => !/\.[a-z]+$/.test(source) || wanted.test(source) });
besides("cli/checks", /\.(py|yaml)$/);
besides("harness/engine", /\.(sh|yaml)$/);
