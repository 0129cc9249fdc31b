import { chmodSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";

/**
 * Stand-in `docker`, `kind`, `pulumi`, `kubectl` and `minikube` executables for testing the
 * operations without the real tools: each call is recorded (tool, arguments, the Pulumi backend
 * variables it saw) and answered from a small JSON state that the calls update, so a second run
 * sees what the first one created.
 */

/** What the stand-ins know. */
export interface StandinState {
    kindClusters: string[];
    kubeContexts: string[];
    dockerDaemon: boolean;
    pulumiLoggedIn: boolean;
    /** Stacks that exist, with their config (key without project prefix) and the URNs in their state. */
    stacks: Record<string, { config: Record<string, string>; urns: string[]; history?: unknown[] }>;
    /**
     * kubectl's answers: the first whose `match` occurs in the joined arguments (otherwise: exit 0, no
     * output); one with `times` answers that many calls, then steps aside for the next that matches.
     */
    kubectlReplies?: { match: string; stdout?: string; stderr?: string; status?: number; times?: number }[];
}

export interface RecordedCall {
    tool: string;
    args: string[];
    backendUrl?: string;
    passphrase?: string;
    /** What the tool read from stdin (`kubectl create -f -`). */
    stdin?: string;
}

const script = String.raw`
const fs = require("fs");
const path = require("path");
const dir = __dirname;
const tool = path.basename(process.argv[1]);
const args = process.argv.slice(2);
const stateFile = path.join(dir, "state.json");
const state = JSON.parse(fs.readFileSync(stateFile, "utf8"));
const stdin = args.includes("-f") && args[args.indexOf("-f") + 1] === "-" ? fs.readFileSync(0, "utf8") : undefined;
fs.appendFileSync(path.join(dir, "calls.jsonl"), JSON.stringify({
  tool, args, backendUrl: process.env.PULUMI_BACKEND_URL, passphrase: process.env.PULUMI_CONFIG_PASSPHRASE, stdin,
}) + "\n");
const save = () => fs.writeFileSync(stateFile, JSON.stringify(state, null, 2));
const flag = (name) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const all = (name) => args.flatMap((a, i) => (a === name ? [args[i + 1]] : []));
const fail = (message, code = 1) => { process.stderr.write(message + "\n"); process.exit(code); };
const out = (text) => process.stdout.write(text);

if (tool === "docker") {
  if (args[0] === "info" && !state.dockerDaemon) fail("Cannot connect to the Docker daemon");
  process.exit(0);
}
if (tool === "kind") {
  if (args[0] === "get" && args[1] === "clusters") { out(state.kindClusters.map((c) => c + "\n").join("")); process.exit(0); }
  if (args[0] === "create") { const n = flag("--name"); state.kindClusters.push(n); state.kubeContexts.push("kind-" + n); save(); process.exit(0); }
  if (args[0] === "delete") { const n = flag("--name"); state.kindClusters = state.kindClusters.filter((c) => c !== n); save(); process.exit(0); }
  process.exit(0);
}
if (tool === "kubectl") {
  if (args[0] === "config" && args[1] === "get-contexts") { out(state.kubeContexts.map((c) => c + "\n").join("")); process.exit(0); }
  const joined = args.join(" ");
  const reply = (state.kubectlReplies || []).find((r) => joined.includes(r.match));
  if (reply && reply.times !== undefined) {
    reply.times -= 1;
    if (reply.times <= 0) state.kubectlReplies.splice(state.kubectlReplies.indexOf(reply), 1);
    save();
  }
  if (reply) { out(reply.stdout || ""); process.stderr.write(reply.stderr || ""); process.exit(reply.status || 0); }
  process.exit(0);
}
if (tool === "pulumi") {
  const stack = flag("--stack");
  // What the real CLI writes into stack files: the config file it was given, else Pulumi.<stack>.yaml in its folder.
  const cwd = flag("--cwd") || process.cwd();
  const stackFile = (name) => flag("--config-file") || path.join(cwd, "Pulumi." + name + ".yaml");
  const fileBackend = (process.env.PULUMI_BACKEND_URL || "").startsWith("file://");
  const saltInto = (file) => {
    const text = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
    if (!/^encryptionsalt:/m.test(text)) fs.writeFileSync(file, "encryptionsalt: v1:standin-salt\n" + text);
  };
  const touch = (file, line) => fs.writeFileSync(file, (fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "") + "# " + line + "\n");
  if (args[0] === "whoami") { if (state.pulumiLoggedIn) { out("someone\n"); process.exit(0); } fail("error: PULUMI_ACCESS_TOKEN must be set for login during non-interactive CLI sessions", 255); }
  if (args[0] === "stack" && args[1] === "select") { if (state.stacks[args[2]]) process.exit(0); fail("error: no stack named '" + args[2] + "' found", 255); }
  if (args[0] === "stack" && args[1] === "init") {
    state.stacks[args[2]] = { config: {}, urns: [] }; save();
    // A passphrase stack's salt goes into the stack file (the CLI's createSecretsManagerForNewStack).
    if (fileBackend || flag("--secrets-provider") === "passphrase") saltInto(path.join(cwd, "Pulumi." + args[2] + ".yaml"));
    process.exit(0);
  }
  const s = state.stacks[stack];
  if (!s) fail("error: no stack named '" + stack + "' found", 255);
  if (args[0] === "config" && args[1] === "get") { const v = s.config[args[2]]; if (v === undefined) fail("error: configuration key '" + args[2] + "' not found for stack '" + stack + "'", 255); out(v + "\n"); process.exit(0); }
  if (args[0] === "config" && args[1] === "set") { s.config[args[2]] = args[3]; save(); touch(stackFile(stack), "config set " + args[2]); process.exit(0); }
  if (args[0] === "config" && args[1] === "rm") { delete s.config[args[2]]; save(); touch(stackFile(stack), "config rm " + args[2]); process.exit(0); }
  // Operations that load the secrets manager save a new salt into a file backend stack's file that has none.
  if (["up", "preview", "destroy", "refresh"].includes(args[0]) && fileBackend) saltInto(stackFile(stack));
  if (args[0] === "stack" && args[1] === "export") { out(JSON.stringify({ version: 3, deployment: { resources: s.urns.map((urn) => ({ urn })) } })); process.exit(0); }
  if (args[0] === "stack" && args[1] === "history") { out(JSON.stringify(s.history || [])); process.exit(0); }
  if (args[0] === "up") { const targets = all("--target"); s.urns = [...new Set([...s.urns, ...(targets.length ? targets : ["(everything)"])])]; save(); process.exit(0); }
  if (args[0] === "destroy") { const keep = all("--exclude"); s.urns = s.urns.filter((u) => keep.includes(u)); save(); process.exit(0); }
  process.exit(0);
}
process.exit(0);
`;

export interface Standins {
    /** The folder to put on PATH (alone: real tools elsewhere on the machine stay invisible). */
    bin: string;
    /** Every call so far, in order. */
    calls(): RecordedCall[];
    state(): StandinState;
    setState(change: (s: StandinState) => void): void;
    remove(): void;
}

export const freshMachine = (): StandinState => ({
    kindClusters: [],
    kubeContexts: [],
    dockerDaemon: true,
    pulumiLoggedIn: false,
    stacks: {},
});

/** Creates the stand-ins; `tools` lists which exist (leave one out for "missing tool"). */
export function createStandins(initial: StandinState, tools = ["docker", "kind", "pulumi", "kubectl"]): Standins {
    const bin = mkdtempSync(path.join(tmpdir(), "standins-"));
    const main = path.join(bin, "standin.js");
    writeFileSync(main, `#!${process.execPath}\n${script}`);
    chmodSync(main, 0o755);
    for (const tool of tools) {
        symlinkSync(main, path.join(bin, tool));
    }
    const stateFile = path.join(bin, "state.json");
    writeFileSync(stateFile, JSON.stringify(initial));
    writeFileSync(path.join(bin, "calls.jsonl"), "");
    return {
        bin,
        calls: () =>
            readFileSync(path.join(bin, "calls.jsonl"), "utf8")
                .split("\n")
                .filter(Boolean)
                .map((l) => JSON.parse(l) as RecordedCall),
        state: () => JSON.parse(readFileSync(stateFile, "utf8")) as StandinState,
        setState(change) {
            const s = JSON.parse(readFileSync(stateFile, "utf8")) as StandinState;
            change(s);
            writeFileSync(stateFile, JSON.stringify(s));
        },
        remove: () => rmSync(bin, { recursive: true, force: true }),
    };
}
