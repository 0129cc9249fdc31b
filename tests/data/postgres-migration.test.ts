/**
 * Moving a statefulset stack to CloudNativePG (postgresMigration: import; npm run ops -- migrate):
 * the fence on a real PostgreSQL server with the roles postgres-roles.sh makes (the API's role stops
 * writing, the import's source role still dumps everything), the program's side on Pulumi's mocks
 * (the old server unchanged beside the importing Cluster, the API on the Cluster, one policy letting
 * only the operator's Jobs reach the old server), the DataChangeGuard's steps, and the ops verb's
 * calls on stand-ins. The import itself is the operator's (not runnable here: no operator).
 */
import * as assert from "assert";
import { spawn, spawnSync } from "child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { main } from "../../cli/ops/cli";
import { rowCountsSql } from "../../cli/ops/cnpgRecovery";
import { UsageError } from "../../cli/ops/exec";
import { fenceSql, unfenceSql } from "../../cli/ops/migrate";
import { localValues, stackConfigDir } from "../../cli/ops/workspace";
import { dataChangeProblems, DataFacts } from "../../components/dataChangeGuard";
import { runStack } from "../../harness/mockProgram";
import { stackConfig } from "../../harness/stackConfig";
import { PostgresServer, startPostgres } from "../support/postgres";
import { apiRole, RoleSet, runRolesScript, writeRoleCredentials } from "../support/postgresRoles";
import { createStandins, freshMachine, RecordedCall, Standins } from "../support/standins";
import { CLUSTER, NETWORK_POLICY, STATEFUL_SET } from "../support/resourceTypes";

/** The local stack (statefulset) moving to cloudnative-pg with the operator as an add-on. */
const importing = { postgresEngine: "cloudnative-pg", postgresMigration: "import", postgresPoolerInstances: 1, installCloudNativePg: true, installCertManager: true, vpaPostgresMode: "Off" };

describe("moving a statefulset stack to cloudnative-pg (postgresMigration: import)", function () {
    this.timeout(180000);

    describe("the fence, on a real PostgreSQL server with the stack's roles", () => {
        let pg: PostgresServer;
        let folder: string;
        let roles: RoleSet;
        const passwords = { superuser: "super-pass", api: "api-pass", exporter: "exporter-pass", backup: "backup-pass" };
        before(async () => {
            folder = mkdtempSync(path.join(tmpdir(), "pg-migration-"));
            roles = writeRoleCredentials(folder, passwords);
            pg = await startPostgres({ user: roles.superuser.user, password: passwords.superuser });
            const run = runRolesScript(pg, roles);
            assert.strictEqual(run.status, 0, run.stderr);
            const created = pg.sqlAs(apiRole.user, passwords.api, "CREATE TABLE patients (id serial PRIMARY KEY, name text); INSERT INTO patients (name) VALUES ('Ada'), ('Grace');", apiRole.database);
            assert.strictEqual(created.status, 0, created.stderr);
        });
        after(async () => {
            await pg?.stop();
            rmSync(folder, { recursive: true, force: true });
        });

        it("ends the API's open connections and refuses new ones, while the import's source role still dumps every row; unfenced, the API connects again", async () => {
            // A connection the API holds open, as its pool does.
            const held = spawn(path.join(pg.binDir, "psql"), ["-X", "-d", apiRole.database, "-c", "SELECT pg_sleep(60)"], {
                env: { ...process.env, ...pg.env, PGUSER: apiRole.user, PGPASSWORD: passwords.api, PGPASSFILE: "/dev/null" },
            });
            const ended = new Promise<number | null>((resolve) => held.on("exit", (code) => resolve(code)));
            for (let i = 0; i < 50 && pg.sql(`SELECT count(*) FROM pg_stat_activity WHERE usename = '${apiRole.user}'`) === "0"; i++) {
                await new Promise((r) => setTimeout(r, 100));
            }
            assert.strictEqual(pg.sql(`SELECT count(*) FROM pg_stat_activity WHERE usename = '${apiRole.user}'`), "1", "the API holds a connection");

            for (const statement of fenceSql(apiRole.user)) {
                pg.sql(statement);
            }
            assert.notStrictEqual(await ended, 0, "the open connection was ended");
            const refused = pg.sqlAs(apiRole.user, passwords.api, "INSERT INTO patients (name) VALUES ('late')", apiRole.database);
            assert.notStrictEqual(refused.status, 0);
            assert.match(refused.stderr, /too many connections for role "healthcare"/);

            // The roles sidecar keeps running in the pod: its next pass must not lift the fence.
            assert.strictEqual(runRolesScript(pg, roles).status, 0);
            assert.notStrictEqual(pg.sqlAs(apiRole.user, passwords.api, "SELECT 1", apiRole.database).status, 0, "still fenced after the roles sidecar's pass");

            // What the operator's import runs against the old server: pg_dump as the backup role.
            const dump = spawnSync(path.join(pg.binDir, "pg_dump"), ["-d", apiRole.database, "--data-only", "-t", "patients"], {
                env: { ...process.env, ...pg.env, PGUSER: roles.backup.user, PGPASSWORD: passwords.backup, PGPASSFILE: "/dev/null" },
                encoding: "utf8",
            });
            assert.strictEqual(dump.status, 0, dump.stderr);
            assert.match(dump.stdout, /Ada\n.*Grace/s, "every row, through the fence");
            // The check after the import counts rows the same way on both servers.
            assert.strictEqual(pg.sql(rowCountsSql, apiRole.database), "public.patients|2");

            for (const statement of unfenceSql(apiRole.user)) {
                pg.sql(statement);
            }
            const again = pg.sqlAs(apiRole.user, passwords.api, "SELECT count(*) FROM patients", apiRole.database);
            assert.strictEqual(again.status, 0, again.stderr);
            assert.strictEqual(again.stdout.trim(), "2");
        });
    });

    describe("the program (Pulumi's mocks)", () => {
        it("keeps the old server exactly as it was beside a Cluster that imports from it as the backup role, and points the API at the Cluster", async () => {
            const before = await runStack(stackConfig("local"), "local");
            const run = await runStack(stackConfig("local", importing), "local");
            assert.deepStrictEqual(run.get(STATEFUL_SET, "postgres").inputs, before.get(STATEFUL_SET, "postgres").inputs, "the StatefulSet does not change (its pod does not roll)");
            assert.strictEqual(run.get(STATEFUL_SET, "postgres").urn, before.get(STATEFUL_SET, "postgres").urn, "the same resource");
            const spec = run.get(CLUSTER, "postgres").inputs.spec;
            assert.deepStrictEqual(spec.bootstrap.initdb.import, { type: "microservice", databases: ["healthcare"], source: { externalCluster: "statefulset" } });
            assert.deepStrictEqual(spec.externalClusters, [
                {
                    name: "statefulset",
                    connectionParameters: { host: "postgres.healthcare-backend.svc.cluster.local", port: "5432", user: "postgres_backup", dbname: "healthcare", sslmode: "disable" },
                    password: { name: "postgres-backup-credentials", key: "password" },
                },
            ]);
            const env = run.get("kubernetes:apps/v1:Deployment", "healthcare-api").inputs.spec.template.spec.containers[0].env ?? [];
            const configMaps = run.ofType("kubernetes:core/v1:ConfigMap").map((c) => JSON.stringify(c.inputs.data ?? {}));
            assert.ok([...configMaps, JSON.stringify(env)].some((t) => t.includes("postgres-pooler.healthcare-backend")), "the API connects through the Cluster's pooler");
            assert.deepStrictEqual(run.outputs.dataFacts, {
                postgresEngine: "cloudnative-pg",
                postgresMajorVersion: 17,
                postgresBackupVolume: false,
                postgresCluster: "postgres",
                postgresClusters: ["postgres"],
                postgresImportSource: true,
                redisTransport: "tls-acl",
                redisNodes: 1,
            });
        });

        it("lets only the operator's Job pods reach the old server, and its Service selects neither the pooler nor the instances", async () => {
            const run = await runStack(stackConfig("local", importing), "local");
            const source = run.get(NETWORK_POLICY, "allow-postgres-import-source").inputs.spec;
            const serverLabels = run.get(STATEFUL_SET, "postgres").inputs.spec.template.metadata.labels;
            assert.deepStrictEqual(source.policyTypes, ["Ingress"]);
            assert.deepStrictEqual(source.ingress, [
                {
                    from: [{ podSelector: { matchLabels: {}, matchExpressions: [{ key: "cnpg.io/cluster", operator: "Exists" }, { key: "cnpg.io/jobRole", operator: "Exists" }] } }],
                    ports: [{ protocol: "TCP", port: 5432 }],
                },
            ]);
            assert.ok(Object.entries(source.podSelector.matchLabels).every(([k, v]) => serverLabels[k] === v), "selects the old server");
            const selector = run.get("kubernetes:core/v1:Service", "postgres").inputs.spec.selector;
            const poolerLabels = run.get("kubernetes:postgresql.cnpg.io/v1:Pooler", "postgres-pooler").inputs.spec.template.metadata.labels;
            assert.ok(!Object.entries(selector).every(([k, v]) => poolerLabels[k] === v), "the import never lands on PgBouncer");
            // The API's pods no longer reach the old server.
            const api = run.get(NETWORK_POLICY, "allow-healthcare-api").inputs.spec;
            assert.ok(!JSON.stringify(api.egress).includes('"app.kubernetes.io/name":"postgres"'), "no API egress to the old server");
        });

        it("refuses the import setting on the statefulset engine and together with a recovery", async () => {
            const { parseSettings } = await import("../../config");
            const problems = (overrides: Record<string, unknown>) => {
                const config = stackConfig("staging", overrides);
                try {
                    parseSettings({ project: "healthcare-backend", stack: "staging", get: (k) => config[`healthcare-backend:${k}`], keys: () => Object.keys(config).map((k) => k.replace(/^healthcare-backend:/, "")) });
                    return "";
                } catch (e) {
                    return (e as Error).message;
                }
            };
            assert.match(problems({ postgresMigration: "import", postgresEngine: "statefulset", postgresInstances: 1, postgresPoolerInstances: 0, postgresWalStorageSize: "", apiMaxReplicas: 20 }), /postgresMigration = "import" is invalid; expected empty unless postgresEngine is cloudnative-pg/);
            assert.match(problems({ postgresMigration: "import", postgresRecoveryCluster: "postgres-pitr-x", postgresRecoverySource: "postgres", postgresRecoveryTargetTime: "2026-01-01T00:00:00Z" }), /expected empty while a point-in-time recovery is under way/);
            assert.match(problems({ postgresMigration: "copy" }), /postgresMigration = "copy" is invalid; expected one of , import/);
        });
    });

    describe("the steps (DataChangeGuard)", () => {
        const onStatefulSet: DataFacts = { postgresEngine: "statefulset", postgresMajorVersion: 17, postgresBackupVolume: true };
        const importingFacts: DataFacts = { postgresEngine: "cloudnative-pg", postgresMajorVersion: 17, postgresBackupVolume: false, postgresCluster: "postgres", postgresClusters: ["postgres"], postgresImportSource: true };
        const finished: DataFacts = { ...importingFacts, postgresImportSource: undefined };
        const guarded = { protectData: true, releaseBackupVolume: true };

        it("lets the import, its finish (released) and its abort through", () => {
            assert.deepStrictEqual(dataChangeProblems(onStatefulSet, importingFacts, guarded), []);
            assert.deepStrictEqual(dataChangeProblems(importingFacts, importingFacts, guarded), [], "a re-run");
            assert.deepStrictEqual(dataChangeProblems(importingFacts, finished, { ...guarded, release: "statefulset" }), []);
            assert.deepStrictEqual(dataChangeProblems(importingFacts, { ...onStatefulSet, postgresBackupVolume: false }, { ...guarded, release: "postgres" }), [], "aborted");
        });

        it("refuses a switch without the import, a finish unreleased, an import with nothing to import, a major change during it, and an abort that drops the Cluster unreleased", () => {
            assert.match(dataChangeProblems(onStatefulSet, finished, guarded).join(), /the switch would remove it and start an empty one\. Move the data with npm run ops -- migrate \(postgresMigration: import/);
            assert.match(dataChangeProblems(importingFacts, finished, guarded).join(), /the statefulset engine's server \(the import's source\) would leave the stack .*npm run ops -- migrate --finish/);
            assert.match(dataChangeProblems(finished, importingFacts, guarded).join(), /did not run the statefulset engine: there is no server to import from/);
            assert.match(dataChangeProblems(onStatefulSet, { ...importingFacts, postgresMajorVersion: 18 }, guarded).join(), /keep 17 until the migration is finished/);
            assert.match(dataChangeProblems(importingFacts, { ...onStatefulSet, postgresBackupVolume: false }, guarded).join(), /the Cluster postgres holds a database and this change would remove it/);
        });
    });

    describe("npm run ops -- migrate (stand-in kubectl and pulumi)", () => {
        let standins: Standins;
        let root: string;
        let output: string[];
        const run = (overrides: Record<string, unknown>, ...argv: string[]) =>
            main(argv, { env: { PATH: standins.bin, PULUMI_BACKEND_URL: "https://api.pulumi.example" }, say: (l) => output.push(l), root, overrides, backup: { now: () => new Date(), pollMs: 0, ask: () => "yes" } });
        const shown = (c: RecordedCall) => `${c.tool} ${c.args.join(" ")}`;
        const exec = "--context kind-healthcare --namespace healthcare-backend exec statefulset/postgres -c postgres -- psql -X -A -t -v ON_ERROR_STOP=1 -U postgres";
        const machine = (counts: { old: string; imported: string }) =>
            createStandins({
                ...freshMachine(),
                kubeContexts: ["kind-healthcare"],
                stacks: { local: { config: {}, urns: [] } },
                kubectlReplies: [
                    { match: "get clusters.postgresql.cnpg.io postgres -o json", stdout: JSON.stringify({ status: { phase: "Cluster in healthy state", currentPrimary: "postgres-1", conditions: [{ type: "Ready", status: "True" }] } }) },
                    { match: `${exec} -d healthcare -c ${rowCountsSql}`, stdout: counts.old },
                    { match: `exec postgres-1 -c postgres -- psql -X -A -t -v ON_ERROR_STOP=1 -d healthcare -c ${rowCountsSql}`, stdout: counts.imported },
                ],
            });
        beforeEach(() => {
            root = mkdtempSync(path.join(tmpdir(), "ops-migrate-"));
            output = [];
        });
        afterEach(() => {
            standins?.remove();
            rmSync(root, { recursive: true, force: true });
        });

        it("fences the API first, then switches the engine with the import, waits for the Cluster and finds every table's rows equal", () => {
            standins = machine({ old: "public.patients|2\n", imported: "public.patients|2\n" });
            run({ installCloudNativePg: true, installCertManager: true }, "migrate", "--set", "vpaPostgresMode=Off", "--yes", "--stack", "local");
            const calls = standins.calls().filter((c) => !(c.tool === "pulumi" && c.args[1] === "get")).map(shown);
            const fence = calls.findIndex((c) => c.includes("ALTER ROLE \"healthcare\" CONNECTION LIMIT 0"));
            const firstUp = calls.findIndex((c) => c.startsWith("pulumi up --stack local --yes"));
            assert.ok(fence >= 0 && firstUp > fence, `fenced before anything deploys:\n${calls.join("\n")}`);
            // A local stack's config is this machine's values file, outside the repository.
            const values = localValues(root, "local");
            assert.strictEqual(values.postgresEngine, "cloudnative-pg");
            assert.strictEqual(values.postgresMigration, "import");
            assert.strictEqual(values.vpaPostgresMode, "Off", "the --set values");
            assert.strictEqual(output[output.length - 1], "stack local runs on the Cluster postgres, every table's rows equal; the statefulset server stays, fenced, until: npm run ops -- migrate --finish --stack local");
        });

        it("stops with the tables that differ, and refuses out of turn", () => {
            standins = machine({ old: "public.patients|3\n", imported: "public.patients|2\n" });
            assert.throws(
                () => run({ installCloudNativePg: true, installCertManager: true }, "migrate", "--set", "vpaPostgresMode=Off", "--yes", "--stack", "local"),
                (e: Error) => e instanceof UsageError && /does not hold the same rows as the statefulset server in public\.patients.*migrate --abort --stack local/.test(e.message),
            );
            assert.strictEqual(localValues(root, "local").postgresMigration, "import", "the API stays on the Cluster, the migration under way, for --abort or --finish");
            standins.remove();
            rmSync(root, { recursive: true, force: true });
            root = mkdtempSync(path.join(tmpdir(), "ops-migrate-"));
            standins = machine({ old: "", imported: "" });
            assert.throws(() => run({}, "migrate", "--finish", "--stack", "local"), /migrate --finish: stack local has no migration under way/);
            assert.throws(() => run({}, "migrate", "--set", "nonsense", "--stack", "local"), /--set nonsense: expected key=value/);
            assert.deepStrictEqual(standins.calls().filter((c) => c.tool === "pulumi" && c.args[1] !== "get").map(shown), []);
        });

        it("--abort goes back to the old server and unfences the API's role after the deployment", () => {
            standins = machine({ old: "", imported: "" });
            mkdirSync(stackConfigDir(root), { recursive: true });
            writeFileSync(path.join(stackConfigDir(root), "local.values.json"), JSON.stringify(Object.fromEntries(Object.entries(importing).map(([k, v]) => [k, String(v)]))));
            run({ ...importing }, "migrate", "--abort", "--stack", "local");
            const calls = standins.calls().filter((c) => !(c.tool === "pulumi" && c.args[1] === "get")).map(shown);
            const up = calls.findIndex((c) => c.startsWith("pulumi up --stack local --yes"));
            const unfence = calls.findIndex((c) => c.includes('ALTER ROLE "healthcare" CONNECTION LIMIT -1'));
            const values = localValues(root, "local");
            assert.ok(values.postgresEngine === undefined || values.postgresEngine === "statefulset", `back on the statefulset engine: ${JSON.stringify(values)}`);
            assert.ok(!values.postgresMigration, "the migration setting cleared");
            assert.ok(up >= 0 && unfence > up, `unfenced after the server serves again:\n${calls.join("\n")}`);
        });
    });
});
