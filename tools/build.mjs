// `npm run build`: compiles the program and its tooling to bin/ and copies what the compiled modules
// read from disk next to them (components/assets: the scripts shipped in ConfigMaps, read via
// __dirname). bin/ is emptied first so that no module deleted from the source lingers there.
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
