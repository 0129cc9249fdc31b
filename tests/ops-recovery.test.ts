/**
 * npm run ops -- restore --to | --switch | --finish | --cancel, and psql, against stand-in kubectl and
 * pulumi (tests/support/standins.ts): the config each step sets, the order of its calls, and that a
 * refusal changes nothing. The program's side of each step (the Clusters it renders, what the
 * DataChangeGuard lets through) is tested on mocks in postgres-recovery.test.ts and on the real
 * engine in the e2e.
 */
import * as assert from "assert";
import { mkdtempSync, rmSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { main } from "../cli/ops/cli";
import { parseRowCounts, recoveryClusterName, rowCountsSql, rowCountTable } from "../cli/ops/cnpgRecovery";
import { UsageError } from "../cli/ops/exec";
import { createStandins, freshMachine, RecordedCall, Standins } from "./support/standins";

const now = new Date("2025-01-02T03:04:05Z");
const target = "--context healthcare-staging --namespace healthcare-backend";
const to = "2025-01-02T01:00:00Z";
const recovered = "postgres-pitr-20250102t010000z";
const completedBackup = {
    metadata: { name: "postgres-backup-20250101020000", creationTimestamp: "2025-01-01T02:00:00Z", labels: { "cnpg.io/cluster": "postgres" } },
    spec: { cluster: { name: "postgres" } },
    status: { phase: "completed", method: "plugin", startedAt: "2025-01-01T02:00:04Z", stoppedAt: "2025-01-01T02:11:30Z" },
};
const clusterJson = (name: string, status: Record<string, unknown>) =>
    JSON.stringify({ apiVersion: "postgresql.cnpg.io/v1", kind: "Cluster", metadata: { name }, spec: { plugins: [{ name: "barman-cloud.cloudnative-pg.io" }] }, status });
const ready = { phase: "Cluster in healthy state", currentPrimary: `${recovered}-1`, conditions: [{ type: "Ready", status: "True" }] };
/** The stack after `restore --to` (its file would hold these once the step set them). */
const recovering = { postgresRecoveryCluster: recovered, postgresRecoverySource: "postgres", postgresRecoveryTargetTime: to };
const switched = { ...recovering, postgresCluster: recovered };

describe("ops restore --to: point-in-time recovery on cloudnative-pg (stand-in kubectl and pulumi)", function () {
    this.timeout(60000);
    let standins: Standins;
    let root: string;
    let output: string[];
    let answers: string[];

    const machine = (replies: { match: string; stdout?: string; stderr?: string; status?: number; times?: number }[]) =>
        createStandins({
            ...freshMachine(),
            kubeContexts: ["healthcare-staging"],
            stacks: { staging: { config: {}, urns: [] } },
            kubectlReplies: replies,
        });
    const run = (overrides: Record<string, unknown>, ...argv: string[]) =>
        main(argv, {
            env: { PATH: standins.bin, PULUMI_BACKEND_URL: "https://api.pulumi.example" },
            say: (l) => output.push(l),
            root,
            overrides,
            // One source of answers for both questions: the deploy's confirmation after its preview, and the switch.
            ask: () => answers.shift(),
            backup: { now: () => now, pollMs: 0, ask: () => answers.shift() },
        });
    const shown = (c: RecordedCall) => `${c.tool} ${c.args.join(" ")}`;

    /** What the recovery step's kubectl sees: the backups, the recovered Cluster coming up, both databases' tables. */
    const recoveryReplies = () => [
        { match: "get backups.postgresql.cnpg.io -l cnpg.io/cluster=postgres -o json", stdout: JSON.stringify({ items: [completedBackup] }) },
        { match: `get clusters.postgresql.cnpg.io ${recovered} -o json`, stdout: clusterJson(recovered, { phase: "Setting up primary" }), times: 1 },
        { match: `get clusters.postgresql.cnpg.io ${recovered} -o json`, stdout: clusterJson(recovered, ready) },
        { match: "get clusters.postgresql.cnpg.io postgres -o json", stdout: clusterJson("postgres", { currentPrimary: "postgres-2" }) },
        { match: `exec ${recovered}-1 -c postgres -- psql -X -A -t -v ON_ERROR_STOP=1 -d healthcare -c select pg_is_in_recovery()`, stdout: "f\n" },
        { match: `exec ${recovered}-1 -c postgres -- psql -X -A -t -v ON_ERROR_STOP=1 -d healthcare -c ${rowCountsSql}`, stdout: "public.patients|90\n" },
        { match: `exec postgres-2 -c postgres -- psql -X -A -t -v ON_ERROR_STOP=1 -d healthcare -c ${rowCountsSql}`, stdout: "public.patients|120\npublic.visits|7\n" },
    ];

    beforeEach(() => {
        root = mkdtempSync(path.join(tmpdir(), "ops-recovery-"));
        output = [];
        answers = [];
    });
    afterEach(() => {
        standins?.remove();
        rmSync(root, { recursive: true, force: true });
    });

    it("names the recovered Cluster for its moment, and reads and shows row counts", () => {
        assert.strictEqual(recoveryClusterName(new Date(to)), recovered);
        assert.match(recoveryClusterName(new Date(to)), /^[a-z]([-a-z0-9]{0,48}[a-z0-9])?$/, "a Cluster name the config accepts");
        const counts = parseRowCounts("public.patients|120\nnoise\npublic.visits|7\n");
        assert.deepStrictEqual([...counts], [["public.patients", 120], ["public.visits", 7]]);
        assert.deepStrictEqual(rowCountTable(counts, new Map([["public.patients", 90]])), [
            "TABLE            ROWS NOW  ROWS RECOVERED",
            "public.patients  120       90",
            "public.visits    7         missing",
        ]);
    });

    it("refuses a moment outside the recoverable window, or not RFC 3339, before anything changes", () => {
        standins = machine([{ match: "get backups.postgresql.cnpg.io -l cnpg.io/cluster=postgres -o json", stdout: JSON.stringify({ items: [completedBackup] }) }]);
        assert.throws(() => run({}, "restore", "--to", "2025-01-01T02:00:00Z", "--stack", "staging"), (e: Error) =>
            e instanceof UsageError &&
            e.message === "restore --to 2025-01-01T02:00:00Z: the recoverable window of Cluster postgres is 2025-01-01T02:11:30Z to now (2025-01-02T03:04:05Z) (npm run ops -- backups --stack staging); nothing was changed",
        );
        assert.throws(() => run({}, "restore", "--to", "2025-01-03T00:00:00Z", "--stack", "staging"), /the recoverable window of Cluster postgres is .*; nothing was changed$/);
        assert.throws(() => run({}, "restore", "--to", "yesterday", "--stack", "staging"), /^UsageError: restore --to yesterday: expected a moment in RFC 3339 with a zone, e\.g\. --to 2026-12-03T10:15:00Z$/);
        assert.throws(() => run({}, "restore", "--to", "2025-01-02 01:00", "--stack", "staging"), /expected a moment in RFC 3339/);
        assert.deepStrictEqual(standins.calls().filter((c) => c.tool === "pulumi").map(shown), [], "no config set, no up");
    });

    it("refuses on the statefulset engine and while another recovery is under way", () => {
        standins = machine([]);
        assert.throws(() => run({}, "restore", "--to", to, "--stack", "local"), /restore --to\/--switch\/--finish\/--cancel are for postgresEngine cloudnative-pg; stack local runs statefulset/);
        assert.throws(() => run(recovering, "restore", "--to", to, "--stack", "staging"), /a recovery is under way on stack staging: postgres-pitr-20250102t010000z from postgres at 2025-01-02T01:00:00Z, the API on postgres\. .*nothing was changed$/);
        assert.deepStrictEqual(standins.calls().filter((c) => c.tool === "pulumi").map(shown), []);
    });

    it("recovers beside the serving Cluster, waits for it, checks it, and leaves the API where it is unless told", () => {
        standins = machine(recoveryReplies());
        answers = ["yes", "no"];
        run({}, "restore", "--to", to, "--stack", "staging");
        assert.deepStrictEqual(
            standins.calls().filter((c) => c.tool === "pulumi" && c.args[1] !== "get").map(shown),
            [
                `pulumi config set postgresRecoveryCluster ${recovered} --stack staging`,
                "pulumi config set postgresRecoverySource postgres --stack staging",
                `pulumi config set postgresRecoveryTargetTime ${to} --stack staging`,
                "pulumi preview --stack staging --diff",
                "pulumi stack export --stack staging",
                "pulumi up --stack staging --yes",
            ],
            "the three recovery settings, the preview confirmed, then one deployment; the serving Cluster (postgresCluster) untouched",
        );
        const kubectl = standins.calls().filter((c) => c.tool === "kubectl").map((c) => c.args.join(" "));
        assert.ok(kubectl.every((a) => a.startsWith(target)), "the stack's context and namespace");
        assert.strictEqual(kubectl.filter((a) => a.includes(`get clusters.postgresql.cnpg.io ${recovered} -o json`)).length, 4, "polled until Ready, then the primary read twice");
        assert.deepStrictEqual(output, [
            `recovering Cluster ${recovered} from postgres's backups and WAL to ${to}; the API stays on postgres`,
            "Pulumi.staging.yaml changed: commit it through a pull request, or the next deploy from main puts the old values back",
            "  Setting up primary",
            "  Cluster in healthy state",
            `the Cluster ${recovered} is promoted and serves database healthcare; its tables beside postgres's:`,
            "  TABLE            ROWS NOW  ROWS RECOVERED",
            "  public.patients  120       90",
            "  public.visits    7         missing",
            "  1 table(s) are not in the recovered database (created after the moment?): public.visits",
            `the API stays on postgres. Next: npm run ops -- restore --switch --stack staging (switch to ${recovered}), or --cancel (drop it). Runbook: docs/postgres.md#point-in-time-recovery-cloudnative-pg`,
        ]);
    });

    it("stops before switching when the recovered Cluster is still in recovery", () => {
        standins = machine([{ match: `exec ${recovered}-1 -c postgres -- psql -X -A -t -v ON_ERROR_STOP=1 -d healthcare -c select pg_is_in_recovery()`, stdout: "t\n" }, ...recoveryReplies()]);
        assert.throws(() => run({}, "restore", "--to", to, "--yes", "--stack", "staging"), /the Cluster postgres-pitr-20250102t010000z is still in recovery \(not promoted\).*the API was not switched/);
        assert.ok(!standins.calls().some((c) => c.args.includes("postgresCluster")), "postgresCluster never set");
    });

    it("with --yes switches the API to the recovered Cluster and takes a base backup of it", () => {
        const manual = "postgres-manual-20250102t030405z";
        standins = machine([
            ...recoveryReplies(),
            { match: `get clusters.postgresql.cnpg.io ${recovered} -o json`, stdout: clusterJson(recovered, ready) },
            { match: `get backups.postgresql.cnpg.io ${manual} -o json`, stdout: JSON.stringify({ metadata: { name: manual }, status: { phase: "completed", startedAt: "2025-01-02T03:04:07Z", stoppedAt: "2025-01-02T03:05:00Z" } }) },
        ]);
        run({}, "restore", "--to", to, "--yes", "--stack", "staging");
        const pulumi = standins.calls().filter((c) => c.tool === "pulumi" && c.args[1] !== "get").map(shown);
        assert.deepStrictEqual(pulumi.slice(-3), ["pulumi config set postgresCluster " + recovered + " --stack staging", "pulumi stack export --stack staging", "pulumi up --stack staging --yes"]);
        const created = standins.calls().find((c) => c.args.includes("create"));
        assert.deepStrictEqual(JSON.parse(created!.stdin!).spec.cluster, { name: recovered }, "the backup is of the recovered Cluster");
        assert.ok(output.includes(`the API of stack staging is on ${recovered} (the data as it was at ${to}); postgres is kept, protected`));
        assert.strictEqual(output[output.length - 1], "when nothing needs postgres any more: npm run ops -- restore --finish --stack staging");
    });

    it("--switch, --finish and --cancel refuse out of turn, changing nothing", () => {
        standins = machine([]);
        assert.throws(() => run({}, "restore", "--switch", "--stack", "staging"), /restore --switch: stack staging has no recovery waiting to be switched to \(the API is on postgres\); nothing was changed/);
        assert.throws(() => run({}, "restore", "--finish", "--stack", "staging"), /restore --finish: stack staging has no recovery that was switched to \(none under way\); nothing was changed/);
        assert.throws(() => run(recovering, "restore", "--finish", "--stack", "staging"), /switch to postgres-pitr-20250102t010000z first, or --cancel/);
        assert.throws(() => run(switched, "restore", "--cancel", "--stack", "staging"), /it already serves from postgres-pitr-20250102t010000z: --finish/);
        assert.throws(() => run(switched, "restore", "--switch", "--stack", "staging"), /no recovery waiting to be switched to \(the API is on postgres-pitr-20250102t010000z\)/);
        assert.deepStrictEqual(standins.calls().filter((c) => c.tool === "pulumi").map(shown), []);
    });

    for (const [mode, overrides, leaving] of [
        ["finish", switched, "postgres"],
        ["cancel", recovering, recovered],
    ] as const) {
        it(`--${mode} releases ${leaving === "postgres" ? "the old" : "the recovered"} Cluster: the recovery settings cleared, unprotected, deployed, then the release setting removed`, () => {
            standins = machine([]);
            const urn = (name: string) => `urn:pulumi:staging::healthcare-backend::healthcare:data:Postgres$kubernetes:postgresql.cnpg.io/v1:Cluster::${name}`;
            standins.setState((s) => {
                s.stacks.staging.config = { ...Object.fromEntries(Object.entries(overrides).map(([k, v]) => [k, String(v)])) };
                s.stacks.staging.urns = [urn("postgres"), urn(recovered)];
            });
            answers = ["yes"];
            run(overrides, "restore", `--${mode}`, "--stack", "staging");
            const pulumi = standins.calls().filter((c) => c.tool === "pulumi" && c.args[1] !== "get").map(shown);
            assert.deepStrictEqual(pulumi, [
                "pulumi config rm postgresRecoveryCluster --stack staging",
                "pulumi config rm postgresRecoverySource --stack staging",
                "pulumi config rm postgresRecoveryTargetTime --stack staging",
                `pulumi config set postgresRelease ${leaving} --stack staging`,
                "pulumi stack export --stack staging",
                `pulumi state unprotect ${urn(leaving)} --stack staging --yes`,
                "pulumi preview --stack staging --diff",
                "pulumi stack export --stack staging",
                "pulumi up --stack staging --yes",
                "pulumi config rm postgresRelease --stack staging",
            ]);
            assert.deepStrictEqual(output, [
                "Pulumi.staging.yaml changed: commit it through a pull request, or the next deploy from main puts the old values back",
                `the Cluster ${leaving} left stack staging and still runs in Kubernetes with its volumes; delete it when nothing needs it: kubectl delete clusters.postgresql.cnpg.io ${leaving} --namespace healthcare-backend`,
            ]);
        });
    }

    it("a \"no\" at the preview of --finish puts the settings back and protects the old Cluster again; without a terminal or --yes nothing starts", () => {
        standins = machine([]);
        const urn = `urn:pulumi:staging::healthcare-backend::healthcare:data:Postgres$kubernetes:postgresql.cnpg.io/v1:Cluster::postgres`;
        standins.setState((s) => {
            s.stacks.staging.config = Object.fromEntries(Object.entries(switched).map(([k, v]) => [k, String(v)]));
            s.stacks.staging.urns = [urn];
        });
        answers = ["no"];
        assert.throws(() => run(switched, "restore", "--finish", "--stack", "staging"), /not deployed: staging was not confirmed \(config restored: postgresRecoveryCluster, postgresRecoverySource, postgresRecoveryTargetTime, postgresRelease\)/);
        const pulumi = standins.calls().filter((c) => c.tool === "pulumi" && c.args[1] !== "get").map(shown);
        assert.deepStrictEqual(pulumi.slice(-7), [
            `pulumi state unprotect ${urn} --stack staging --yes`,
            "pulumi preview --stack staging --diff",
            `pulumi config set postgresRecoveryCluster ${recovered} --stack staging`,
            "pulumi config set postgresRecoverySource postgres --stack staging",
            `pulumi config set postgresRecoveryTargetTime ${to} --stack staging`,
            "pulumi config rm postgresRelease --stack staging",
            `pulumi state protect ${urn} --stack staging --yes`,
        ]);
        assert.ok(!pulumi.some((c) => c.startsWith("pulumi up")), "nothing deployed");

        const before = standins.calls().length;
        const noTerminal = (...argv: string[]) =>
            main(argv, { env: { PATH: standins.bin, PULUMI_BACKEND_URL: "https://api.pulumi.example" }, say: (l) => output.push(l), root, overrides: switched, ask: null, backup: { now: () => now, pollMs: 0, ask: () => "yes" } });
        assert.throws(() => noTerminal("restore", "--finish", "--stack", "staging"), /restore --finish on stack staging \(staging\) deploys only after you see its preview and confirm it, .*Nothing was changed/);
        assert.deepStrictEqual(standins.calls().slice(before).filter((c) => c.tool === "pulumi" && !["get", "ls"].includes(c.args[1])).map(shown), []);
    });

    it("psql opens the database as its superuser: the Cluster's primary, or the StatefulSet's pod", () => {
        standins = machine([{ match: "get clusters.postgresql.cnpg.io postgres -o json", stdout: clusterJson("postgres", { currentPrimary: "postgres-3" }) }]);
        run({}, "psql", "--stack", "staging");
        run({}, "psql", "--stack", "local");
        const execs = standins.calls().filter((c) => c.args.includes("exec")).map((c) => c.args.join(" "));
        assert.deepStrictEqual(execs, [
            `${target} exec -it postgres-3 -c postgres -- psql -d healthcare`,
            "--context kind-healthcare --namespace healthcare-backend exec -it statefulset/postgres -c postgres -- psql -U postgres -d healthcare",
        ]);
    });
});
