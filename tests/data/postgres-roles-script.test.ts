/**
 * components/assets/postgres-roles.sh, run unchanged against real PostgreSQL servers laid out as the
 * official image lays out a volume: a new one, whose bootstrap superuser is `postgres` (POSTGRES_USER
 * since the roles were split), and one from before, whose bootstrap superuser is the API's role. Each
 * role is then tried for what it must and must not do.
 */
import * as assert from "assert";
import { ChildProcess, spawn, spawnSync, SpawnSyncReturns } from "child_process";
import { mkdtempSync, rmSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { migrationRole } from "../../components/postgres/statefulSet";
import { PostgresServer, startPostgres } from "../support/postgres";
import { projectRoot } from "../../harness/stackConfig";
import { apiRole, RoleCredentials, rolesEnv, RoleSet, runRolesScript, writeRoleCredentials } from "../support/postgresRoles";

/** Passwords with the characters that need escaping in a password file (: and \) and in SQL ('). */
const passwords = { superuser: "super:user\\pass'word", api: "api:pass\\word'1", exporter: "exporter:pass'word", backup: "backup\\pass:word" };

/**
 * What the API builds in its database: tables (one with row security, whose rows only a role with
 * BYPASSRLS dumps), a partitioned table, an identity column, a view, a materialized view, a function,
 * an aggregate, an enum, a domain, a range type, a composite type, a schema and statistics. On a
 * legacy volume the bootstrap superuser created all of it, and the migration must hand it over.
 */
const appSchema = `
CREATE SCHEMA clinic;
CREATE TYPE visit_kind AS ENUM ('checkup', 'surgery');
CREATE DOMAIN positive_int AS integer CHECK (VALUE > 0);
CREATE TYPE dose_range AS RANGE (subtype = float8);
CREATE TYPE address AS (street text, city text);
CREATE TABLE patients (id serial PRIMARY KEY, name text NOT NULL, home address);
CREATE TABLE clinic.visits (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, patient_id integer REFERENCES patients (id), kind visit_kind, room positive_int, dose dose_range);
CREATE TABLE audit (at date, entry text) PARTITION BY RANGE (at);
CREATE TABLE audit_2030 PARTITION OF audit FOR VALUES FROM ('2030-01-01') TO ('2031-01-01');
CREATE TABLE notes (patient_id integer, body text);
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY nobody ON notes USING (false);
CREATE VIEW patient_names AS SELECT name FROM patients;
CREATE MATERIALIZED VIEW visit_counts AS SELECT patient_id, count(*) FROM clinic.visits GROUP BY patient_id;
CREATE FUNCTION visit_count(integer) RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM clinic.visits WHERE patient_id = $1';
CREATE AGGREGATE total(integer) (sfunc = int4pl, stype = integer);
CREATE STATISTICS patients_stats ON id, name FROM patients;
INSERT INTO patients (name) VALUES ('Ada'), ('Grace');
INSERT INTO clinic.visits (patient_id, kind, room) VALUES (1, 'checkup', 3);
INSERT INTO audit VALUES ('2030-05-01', 'created');
INSERT INTO notes VALUES (1, 'allergic to penicillin');
`;

/** Objects of the API's database created after initdb that the bootstrap superuser owns, extension members aside. */
const ownedByBootstrap = `
SELECT coalesce(string_agg(kind || ' ' || name, ', ' ORDER BY kind, name), '') FROM (
  SELECT 'relation' AS kind, oid::regclass::text AS name, oid, 'pg_class'::regclass AS catalog FROM pg_class WHERE relowner = 10 AND oid >= 16384 AND relkind NOT IN ('i', 'I', 't')
  UNION ALL SELECT 'function', oid::regprocedure::text, oid, 'pg_proc'::regclass FROM pg_proc WHERE proowner = 10 AND oid >= 16384
  UNION ALL SELECT 'type', oid::regtype::text, oid, 'pg_type'::regclass FROM pg_type WHERE typowner = 10 AND oid >= 16384
  UNION ALL SELECT 'schema', nspname, oid, 'pg_namespace'::regclass FROM pg_namespace WHERE nspowner = 10 AND (oid >= 16384 OR nspname = 'public') AND nspname !~ '^pg_'
  UNION ALL SELECT 'statistics', stxname, oid, 'pg_statistic_ext'::regclass FROM pg_statistic_ext WHERE stxowner = 10
) AS o WHERE NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = o.catalog AND d.objid = o.oid AND d.deptype = 'e')`;

type Sql = (query: string, database?: string) => string;

/** Roles, memberships, databases and schema public of every database, with each row's xmin: any rewrite shows. */
function catalogState(sql: Sql): string {
    const shared = [
        "SELECT string_agg(format('%s %s %s %s %s %s %s %s', rolname, oid, xmin, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolpassword), E'\\n' ORDER BY rolname) FROM pg_authid",
        "SELECT coalesce(string_agg(format('%s %s %s %s', roleid::regrole, member::regrole, grantor, xmin), E'\\n' ORDER BY 1), '') FROM pg_auth_members",
        "SELECT string_agg(format('%s %s %s %s', datname, datdba::regrole, xmin, datacl), E'\\n' ORDER BY datname) FROM pg_database",
    ].map((q) => sql(q));
    const databases = sql("SELECT datname FROM pg_database WHERE datallowconn ORDER BY datname").split("\n");
    const schemas = databases.map((db) => `${db}: ${sql("SELECT format('%s %s %s', nspowner::regrole, nspacl, xmin) FROM pg_namespace WHERE nspname = 'public'", db)}`);
    return [...shared, ...schemas].join("\n");
}

function ok(result: SpawnSyncReturns<string>, what: string): string {
    assert.strictEqual(result.status, 0, `${what} failed (${result.status}):\n${result.stdout}\n${result.stderr}`);
    return result.stdout.trim();
}

/** The statement fails with SQLSTATE 42501, insufficient_privilege ("permission denied ..."). */
function refused(result: SpawnSyncReturns<string>, what: string): void {
    assert.notStrictEqual(result.status, 0, `${what} succeeded: ${result.stdout}`);
    assert.match(result.stderr, /ERROR: {2}42501: /, `${what}: ${result.stderr}`);
}

/** pg_dump or pg_dumpall of the server's own version as `role`. */
function dumpAs(pg: PostgresServer, role: RoleCredentials, tool: "pg_dump" | "pg_dumpall", args: string[]): SpawnSyncReturns<string> {
    return spawnSync(path.join(pg.binDir, tool), args, {
        env: { ...process.env, ...pg.env, PGUSER: role.user, PGPASSWORD: role.password, PGPASSFILE: "/dev/null" },
        encoding: "utf8",
        maxBuffer: 64 * 1024 * 1024,
    });
}

/** A client of the API's role holding a connection open, as the API's pool does. */
async function holdConnection(pg: PostgresServer, role: RoleCredentials): Promise<ChildProcess> {
    const client = spawn(path.join(pg.binDir, "psql"), ["-X", "-d", apiRole.database, "-c", "SELECT pg_sleep(120)"], {
        env: { ...process.env, ...pg.env, PGUSER: role.user, PGPASSWORD: role.password, PGPASSFILE: "/dev/null" },
        stdio: "ignore",
    });
    const deadline = Date.now() + 10000;
    while (pg.sql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%'") !== "1") {
        assert.ok(Date.now() < deadline, "the client's session appears in pg_stat_activity within 10 s");
        await new Promise((r) => setTimeout(r, 50));
    }
    return client;
}

function exited(child: ChildProcess, ms: number): Promise<number | null> {
    return new Promise((resolve) => {
        if (child.exitCode !== null) {
            return resolve(child.exitCode);
        }
        const timer = setTimeout(() => resolve(null), ms);
        child.once("exit", (code) => {
            clearTimeout(timer);
            resolve(code ?? -1);
        });
    });
}

type Layout = "fresh" | "legacy";

describe("postgres-roles.sh on a real PostgreSQL server", function () {
    this.timeout(180000);

    for (const layout of ["fresh", "legacy"] as Layout[]) {
        const volume = layout === "fresh" ? "a new volume (bootstrap superuser postgres)" : "a legacy volume (bootstrap superuser: the API role)";
        describe(volume, () => {
            let pg: PostgresServer;
            let folder: string;
            let roles: RoleSet;
            let firstRun: SpawnSyncReturns<string>;
            let apiSession: ChildProcess | undefined;
            const asRole = (role: RoleCredentials, query: string, database: string = apiRole.database) => pg.sqlAs(role.user, role.password, query, database);
            /** SQL as the superuser postgres (on a legacy volume the server's own helper logs in as the API role, no longer a superuser). */
            const su: Sql = (query, database = "postgres") => ok(asRole(roles.superuser, query, database), query);

            before(async () => {
                folder = mkdtempSync(path.join(tmpdir(), "roles-"));
                roles = writeRoleCredentials(folder, passwords);
                // As the image initialises a volume: POSTGRES_USER is the bootstrap superuser.
                pg = await startPostgres(layout === "fresh" ? { user: roles.superuser.user, password: passwords.superuser } : { user: roles.api.user, password: passwords.api });
                if (layout === "legacy") {
                    // The API ran as the superuser: its database and everything in it belong to the bootstrap role.
                    pg.sql(`CREATE DATABASE ${apiRole.database}`);
                    pg.sql(appSchema, apiRole.database);
                    apiSession = await holdConnection(pg, roles.api);
                } else {
                    pg.sql(`CREATE DATABASE ${apiRole.database}`);
                }
                firstRun = runRolesScript(pg, roles);
                ok(firstRun, "postgres-roles.sh");
                if (layout === "fresh") {
                    ok(asRole(roles.api, appSchema), "the API creating its schema");
                }
            });
            after(async () => {
                apiSession?.kill("SIGKILL");
                await pg?.stop();
                rmSync(folder, { recursive: true, force: true });
            });

            it(`${layout}: API role is not a superuser: COPY TO PROGRAM, CREATE ROLE, ALTER ROLE SUPERUSER and SET ROLE postgres are refused; in its own database it creates tables and writes rows`, () => {
                assert.strictEqual(
                    su(`SELECT format('%s %s %s %s %s %s %s', rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolcanlogin, pg_has_role('${roles.api.user}', 'pg_execute_server_program', 'USAGE')) FROM pg_roles WHERE rolname = '${roles.api.user}'`),
                    "f f f f f t f",
                );
                refused(asRole(roles.api, "COPY (SELECT 1) TO PROGRAM 'id'"), "COPY ... TO PROGRAM as the API role");
                refused(asRole(roles.api, "CREATE ROLE x"), "CREATE ROLE as the API role");
                refused(asRole(roles.api, `ALTER ROLE ${roles.api.user} SUPERUSER`), "ALTER ROLE ... SUPERUSER as the API role");
                refused(asRole(roles.api, `SET ROLE ${roles.superuser.user}`), "SET ROLE postgres as the API role");
                refused(asRole(roles.api, "SELECT pg_read_file('PG_VERSION')"), "pg_read_file as the API role");
                assert.strictEqual(
                    ok(asRole(roles.api, "CREATE TABLE appointments (id serial PRIMARY KEY, at timestamptz); INSERT INTO appointments (at) VALUES (now()), (now()); SELECT count(*) FROM appointments"), "the API's own table"),
                    "2",
                );
                assert.strictEqual(ok(asRole(roles.api, "ALTER TABLE patients ADD COLUMN born date; SELECT count(*) FROM patients"), "altering the API's existing table"), "2");
                assert.strictEqual(su(`SELECT datdba::regrole FROM pg_database WHERE datname = '${apiRole.database}'`), roles.api.user);
                // Nobody else creates objects in the API's schema public.
                refused(asRole(roles.exporter, "CREATE TABLE public.intruder (id int)"), "CREATE TABLE in public as the exporter role");
            });

            it(`${layout}: the exporter role reads pg_stat_activity (queries included) and no table's rows`, () => {
                const activity = ok(asRole(roles.exporter, `SELECT count(*) FROM pg_stat_activity WHERE usename = '${roles.superuser.user}' OR query <> '<insufficient privilege>'`), "pg_stat_activity");
                assert.ok(Number(activity) >= 1, activity);
                assert.strictEqual(ok(asRole(roles.exporter, "SELECT count(*) > 0 FROM pg_stat_database"), "pg_stat_database"), "t");
                refused(asRole(roles.exporter, "SELECT * FROM patients"), "reading a table as the exporter role");
                refused(asRole(roles.exporter, "SELECT * FROM clinic.visits"), "reading a table in another schema as the exporter role");
                assert.strictEqual(su(`SELECT string_agg(roleid::regrole::text, ',') FROM pg_auth_members WHERE member = '${roles.exporter.user}'::regrole`), "pg_monitor");
            });

            it(`${layout}: the backup role dumps the API's database (rows behind row security included) and the roles, and writes nothing`, () => {
                const dump = ok(dumpAs(pg, roles.backup, "pg_dump", ["--dbname", apiRole.database]), "pg_dump as the backup role");
                assert.match(dump, /allergic to penicillin/, "a row behind row security");
                assert.match(dump, /^COPY clinic\.visits /m);
                const globals = ok(dumpAs(pg, roles.backup, "pg_dumpall", ["--globals-only", "--no-role-passwords"]), "pg_dumpall --globals-only as the backup role");
                assert.match(globals, new RegExp(`^CREATE ROLE ${roles.api.user};$`, "m"));
                assert.ok(!globals.includes("SCRAM-SHA-256"), "no password hash");
                refused(asRole(roles.backup, "INSERT INTO patients (name) VALUES ('intruder')"), "INSERT as the backup role");
                refused(asRole(roles.backup, "CREATE TABLE public.intruder (id int)"), "CREATE TABLE as the backup role");
                assert.strictEqual(su(`SELECT string_agg(roleid::regrole::text, ',') FROM pg_auth_members WHERE member = '${roles.backup.user}'::regrole`), "pg_read_all_data");
            });

            if (layout === "legacy") {
                it("legacy: postgres is the bootstrap superuser again, a new API role owns everything the API built, and the old superuser sessions are closed", async () => {
                    assert.match(firstRun.stdout, /^changed: the bootstrap superuser healthcare is now postgres; a new role healthcare owns database healthcare and its objects$/m);
                    assert.strictEqual(su(`SELECT rolname FROM pg_roles WHERE oid = 10`), roles.superuser.user);
                    assert.notStrictEqual(su(`SELECT oid FROM pg_roles WHERE rolname = '${roles.api.user}'`), "10");
                    assert.strictEqual(su(`SELECT count(*) FROM pg_roles WHERE rolname = '${migrationRole}'`), "0", "the temporary superuser is gone");
                    assert.strictEqual(su(ownedByBootstrap, apiRole.database), "", "nothing the API built still belongs to the superuser");
                    assert.strictEqual(su("SELECT string_agg(DISTINCT relowner::regrole::text, ',') FROM pg_class WHERE relname IN ('patients', 'visits', 'audit', 'audit_2030', 'notes', 'patient_names', 'visit_counts')", apiRole.database), roles.api.user);
                    // The session the API opened as the superuser was closed; its pool reconnects as the new role.
                    assert.notStrictEqual(await exited(apiSession!, 10000), null, "the old API session was terminated");
                    assert.strictEqual(ok(asRole(roles.api, "SELECT visit_count(1)"), "the API's function"), "1");
                    assert.strictEqual(ok(asRole(roles.superuser, "SELECT current_setting('is_superuser')", "postgres"), "the superuser logs in"), "on");
                });
            }

            it(`${layout}: a second run changes nothing, and says so`, () => {
                const before = catalogState(su);
                const second = runRolesScript(pg, roles);
                ok(second, "the second run");
                assert.doesNotMatch(second.stdout, /changed:/);
                assert.match(second.stderr, /every role is as it should be: nothing changed/);
                assert.strictEqual(catalogState(su), before);
            });

            it(`${layout}: a role given powers since (a superuser, a membership) is put back on the next run`, () => {
                su(`ALTER ROLE ${roles.api.user} SUPERUSER CREATEROLE; GRANT pg_execute_server_program, ${roles.superuser.user} TO ${roles.exporter.user}; ALTER ROLE ${roles.backup.user} PASSWORD 'guessed'`);
                const run = ok(runRolesScript(pg, roles), "the run after the change");
                assert.match(run, new RegExp(`^changed: ALTER ROLE ${roles.api.user} WITH NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT LOGIN;$`, "m"));
                assert.match(run, new RegExp(`^changed: REVOKE pg_execute_server_program FROM ${roles.exporter.user};$`, "m"));
                assert.match(run, new RegExp(`^changed: the password of ${roles.backup.user} `, "m"));
                refused(asRole(roles.api, "COPY (SELECT 1) TO PROGRAM 'id'"), "COPY ... TO PROGRAM after the repair");
                assert.strictEqual(su(`SELECT string_agg(roleid::regrole::text, ',') FROM pg_auth_members WHERE member = '${roles.exporter.user}'::regrole`), "pg_monitor");
                assert.doesNotMatch(ok(runRolesScript(pg, roles), "the run after the repair"), /changed:/);
            });

            if (layout === "fresh") {
                it("fresh: --watch (the sidecar) applies the roles again after each interval and stops at once on SIGTERM", async () => {
                    const watch = spawn("sh", [path.join(projectRoot, "components", "assets", "postgres-roles.sh"), "--watch"], {
                        env: { ...rolesEnv(pg, roles), ROLES_INTERVAL: "1" },
                        stdio: ["ignore", "pipe", "pipe"],
                    });
                    let log = "";
                    watch.stderr!.on("data", (d) => (log += d));
                    const runs = () => (log.match(/every role is as it should be/g) ?? []).length;
                    try {
                        const deadline = Date.now() + 60000;
                        while (runs() < 2) {
                            assert.ok(Date.now() < deadline && watch.exitCode === null, `two runs within 60 s:\n${log}`);
                            await new Promise((r) => setTimeout(r, 100));
                        }
                        const stopped = Date.now();
                        watch.kill("SIGTERM");
                        assert.strictEqual(await exited(watch, 5000), 0, `exits 0 on SIGTERM:\n${log}`);
                        assert.ok(Date.now() - stopped < 5000);
                    } finally {
                        watch.kill("SIGKILL");
                    }
                });
            }

            it(`${layout}: with no superuser that logs in, it changes nothing and says why`, () => {
                const before = catalogState(su);
                const wrong = writeRoleCredentials(mkdtempSync(path.join(folder, "wrong-")), { ...passwords, superuser: "not-the-password" });
                const run = runRolesScript(pg, wrong);
                assert.strictEqual(run.status, 1, run.stderr);
                assert.match(run.stderr, /error: no superuser logs in: neither postgres nor roles_migration with the superuser's password, nor healthcare .*; nothing was changed/);
                assert.strictEqual(run.stdout, "");
                assert.strictEqual(catalogState(su), before);
            });
        });
    }

    it("legacy: a migration stopped after its first step (the temporary superuser made) resumes and completes", async () => {
        const folder = mkdtempSync(path.join(tmpdir(), "roles-"));
        const roles = writeRoleCredentials(folder, passwords);
        const pg = await startPostgres({ user: roles.api.user, password: passwords.api });
        try {
            pg.sql(`CREATE DATABASE ${apiRole.database}`);
            pg.sql("CREATE TABLE patients (id serial PRIMARY KEY, name text)", apiRole.database);
            pg.sql(`CREATE ROLE ${migrationRole} SUPERUSER LOGIN PASSWORD '${passwords.superuser.replace(/'/g, "''")}'`);
            const run = ok(runRolesScript(pg, roles), "postgres-roles.sh");
            assert.match(run, /^changed: the bootstrap superuser healthcare is now postgres/m);
            const su = (query: string, database = "postgres") => ok(pg.sqlAs(roles.superuser.user, passwords.superuser, query, database), query);
            assert.strictEqual(su(`SELECT string_agg(rolname || ':' || oid, ',' ORDER BY rolname) FROM pg_roles WHERE rolsuper`), `${roles.superuser.user}:10`);
            assert.strictEqual(su("SELECT relowner::regrole FROM pg_class WHERE relname = 'patients'", apiRole.database), roles.api.user);
        } finally {
            await pg.stop();
            rmSync(folder, { recursive: true, force: true });
        }
    });
});
