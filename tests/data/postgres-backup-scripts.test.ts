/**
 * The backup CronJob's scripts (components/assets/postgres-*.sh), run unchanged against a real
 * PostgreSQL server and a real S3-compatible server (moto), with the S3 client the pods run (rclone
 * of the shipped image's version): a database with a schema, data, a role and grants is backed up,
 * uploaded, dropped, fetched back and restored, and every table must come back row for row. The server
 * has the statefulset engine's roles (components/assets/postgres-roles.sh): the backups log in as the
 * backup role, the restores as the superuser, as the CronJob and the restore Job do.
 */
import * as assert from "assert";
import { spawn, spawnSync, SpawnSyncReturns } from "child_process";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { parseBackupListing } from "../../cli/ops/backups";
import { runStack } from "../../harness/mockProgram";
import { projectRoot, stackConfig, onStatefulSetEngine } from "../../harness/stackConfig";
import { ContainerRun, JobSpec, runJob } from "../support/jobs";
import { postgresRoles } from "../../components/postgres";
import { PostgresServer, startPostgres } from "../support/postgres";
import { apiRole, RoleSet, runRolesScript, writeRoleCredentials } from "../support/postgresRoles";
import { S3Server, startS3Server } from "../support/s3";
import { startTcpProxy } from "../support/tcpProxy";

const assets = path.join(projectRoot, "components", "assets");

/** A clinic's database in miniature, built by the API's role: foreign keys, jsonb, bytea, a table without a key, a view, a sequence in use, grants to a role. */
const schema = `
SET ROLE ${apiRole.user};
CREATE TABLE patients (id bigserial PRIMARY KEY, name text NOT NULL, born date, profile jsonb);
CREATE TABLE appointments (
  id bigserial PRIMARY KEY,
  patient_id bigint NOT NULL REFERENCES patients (id),
  scheduled_at timestamptz NOT NULL,
  status text NOT NULL CHECK (status IN ('active', 'completed'))
);
CREATE INDEX appointments_by_patient ON appointments (patient_id, scheduled_at);
CREATE TABLE scans (id bigserial PRIMARY KEY, appointment_id bigint REFERENCES appointments (id), image bytea);
CREATE TABLE audit_log (at timestamptz, entry text);
CREATE VIEW active_appointments AS SELECT * FROM appointments WHERE status = 'active';
GRANT SELECT ON patients, appointments TO reporting;
INSERT INTO patients (name, born, profile)
  SELECT 'patient ' || i, date '1950-01-01' + (i * 7), jsonb_build_object('allergies', array['a' || (i % 5)], 'n', i)
  FROM generate_series(1, 3000) AS i;
INSERT INTO appointments (patient_id, scheduled_at, status)
  SELECT 1 + (i % 3000), timestamptz '2030-01-01 08:00+00' + make_interval(mins => i * 15), CASE WHEN i % 3 = 0 THEN 'completed' ELSE 'active' END
  FROM generate_series(1, 9000) AS i;
INSERT INTO scans (appointment_id, image) SELECT i, decode(md5(i::text) || md5((i * 7)::text), 'hex') FROM generate_series(1, 500) AS i;
INSERT INTO audit_log SELECT timestamptz '2030-01-01 00:00+00' + make_interval(secs => i), 'event ' || md5(i::text) FROM generate_series(1, 2000) AS i;
`;

/** Row count and an order-independent checksum of every table of the public schema, plus what the restore must also bring back. */
function fingerprint(pg: PostgresServer, database: string): Record<string, string> {
    const tables = pg.sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename", database).split("\n").filter(Boolean);
    const result: Record<string, string> = {};
    for (const table of tables) {
        result[table] = pg.sql(`SELECT count(*) || ' rows, md5 ' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '-') FROM ${table} t`, database);
    }
    result["next patient id"] = pg.sql("SELECT last_value FROM patients_id_seq", database);
    result["reporting grants"] = pg.sql("SELECT string_agg(table_name || ':' || privilege_type, ',' ORDER BY table_name) FROM information_schema.role_table_grants WHERE grantee = 'reporting'", database);
    result["views"] = pg.sql("SELECT string_agg(viewname, ',') FROM pg_views WHERE schemaname = 'public'", database);
    return result;
}

function run(script: string, env: Record<string, string>, args: string[] = []): SpawnSyncReturns<string> {
    return spawnSync("sh", [path.join(assets, script), ...args], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env }, encoding: "utf8", timeout: 300000 });
}

/** As run, without blocking the event loop (a client process runs beside it). */
function runAsync(script: string, env: Record<string, string>, args: string[] = []): Promise<{ status: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
        const child = spawn("sh", [path.join(assets, script), ...args], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env } });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        child.on("close", (status) => resolve({ status, stdout, stderr }));
    });
}

/** The database's own properties, which a restore must bring back with its tables. */
function databaseProperties(pg: PostgresServer, database: string): Record<string, string> {
    const where = `FROM pg_database WHERE datname = '${database}'`;
    return {
        "owner, encoding, locale, connection limit": pg.sql(`SELECT pg_get_userbyid(datdba) || ' ' || pg_encoding_to_char(encoding) || ' ' || datcollate || ' ' || datctype || ' ' || datconnlimit ${where}`),
        privileges: pg.sql(`SELECT datacl::text ${where}`),
        comment: pg.sql(`SELECT shobj_description(oid, 'pg_database') ${where}`),
        settings: pg.sql(
            `SELECT string_agg(coalesce(pg_get_userbyid(nullif(setrole, 0)), '(all)') || ': ' || array_to_string(setconfig, ','), '; ' ORDER BY setrole) FROM pg_db_role_setting WHERE setdatabase = (SELECT oid ${where})`,
        ),
        "accepts connections": pg.sql(`SELECT datallowconn ${where}`),
    };
}

function ok(result: SpawnSyncReturns<string>, what: string): string {
    assert.strictEqual(result.status, 0, `${what} failed (${result.status}):\n${result.stdout}\n${result.stderr}`);
    return result.stdout;
}

/** The folders on the backup volume, sorted. */
const folders = (dir: string) => readdirSync(dir).sort();

/** A complete backup folder as an older run would have left it (its name and a manifest of no files). */
function fakeBackup(dir: string, name: string): void {
    mkdirSync(path.join(dir, name));
    writeFileSync(path.join(dir, name, "manifest"), `format=healthcare-postgres-backup/1\nname=${name}\n`);
}

describe("PostgreSQL backup scripts on a real server and a real S3 server", function () {
    this.timeout(300000);
    let pg: PostgresServer;
    let s3: S3Server;
    let roles: RoleSet;
    let credentials: string;
    let volume: string;
    const bucket = "clinic-backups";
    const prefix = "healthcare/test";

    before(async () => {
        // A new volume: the bootstrap superuser is postgres, and the roles sidecar made the others (and the API's database).
        [pg, s3] = await Promise.all([startPostgres({ user: postgresRoles.superuser }), startS3Server()]);
        console.log(`      PostgreSQL ${pg.version} (${pg.binDir}); the shipped image runs 17: the newest server this machine has`);
        s3.createBucket(bucket);
        credentials = mkdtempSync(path.join(tmpdir(), "roles-"));
        roles = writeRoleCredentials(credentials, { superuser: pg.password, api: "api:pass\\word", exporter: "exporter-password", backup: "backup:pass'word" });
        ok(runRolesScript(pg, roles), "postgres-roles.sh");
        pg.sql("CREATE ROLE reporting NOLOGIN");
        pg.sql(schema, "healthcare");
    });
    after(async () => {
        await Promise.all([pg?.stop(), s3?.stop()]);
        rmSync(credentials, { recursive: true, force: true });
    });
    beforeEach(() => {
        volume = mkdtempSync(path.join(tmpdir(), "backup-volume-"));
    });
    afterEach(() => {
        rmSync(volume, { recursive: true, force: true });
    });

    /** The CronJob's dump container: the backup role's credentials. */
    const backupEnv = (extra: Record<string, string> = {}) => ({ ...pg.env, POSTGRES_CREDENTIALS: roles.backup.dir, BACKUP_DIR: volume, BACKUP_RETENTION: "3", ...extra });
    /** The restore Job: the superuser's credentials in their place. */
    const restoreEnv = (name: string) => backupEnv({ POSTGRES_CREDENTIALS: roles.superuser.dir, CONFIRM_RESTORE: name });
    const s3Env = (extra: Record<string, string> = {}) => ({
        BACKUP_DIR: volume,
        BACKUP_RETENTION: "3",
        S3_ENDPOINT: s3.endpoint,
        S3_BUCKET: bucket,
        S3_PREFIX: prefix,
        S3_REGION: "us-east-1",
        S3_CREDENTIALS: s3.credentialsDir,
        RCLONE: s3.rclone,
        ...extra,
    });
    /** Waits for the next second: backups are named by the UTC second they start. */
    const nextSecond = () => new Promise((r) => setTimeout(r, 1100 - (Date.now() % 1000)));
    const storedName = (stdout: string) => /^stored (\S+) /m.exec(stdout)![1];

    it("restores a dropped database row for row from the backup the CronJob takes, by way of object storage", async () => {
        const before = fingerprint(pg, "healthcare");
        assert.ok(before.patients.startsWith("3000 rows"), JSON.stringify(before));

        const backup = ok(run("postgres-backup.sh", backupEnv()), "backup");
        const name = storedName(backup);
        assert.match(backup, new RegExp(`^stored ${name} ${volume}/${name} \\d+$`, "m"));
        const manifest = readFileSync(path.join(volume, name, "manifest"), "utf8");
        assert.match(manifest, /^databases=healthcare postgres$/m);
        assert.match(manifest, new RegExp(`^server_version=${pg.version.replace(/\./g, "\\.")}$`, "m"));
        assert.ok(!readFileSync(path.join(volume, name, "globals.sql"), "utf8").includes("SCRAM-SHA-256"), "no password hash leaves the server");

        const upload = ok(run("postgres-backup-upload.sh", s3Env()), "upload");
        assert.match(upload, new RegExp(`^uploaded ${name} s3://${bucket}/${prefix}/${name}/ \\d+$`, "m"));
        assert.deepStrictEqual(
            s3.objects(bucket, prefix).map((o) => o.split(" ")[0]),
            [`${name}/globals.sql`, `${name}/healthcare.dump`, `${name}/manifest`, `${name}/postgres.dump`],
        );

        // Lose the database, its role and the backup volume's copy: only the bucket has it now.
        pg.sql("DROP DATABASE healthcare");
        pg.sql("DROP ROLE reporting");
        rmSync(path.join(volume, name), { recursive: true });

        const fetched = ok(run("postgres-backup-fetch.sh", s3Env(), [name]), "fetch");
        assert.match(fetched, new RegExp(`^fetched ${name} `, "m"));
        const restore = ok(run("postgres-restore.sh", restoreEnv(name), [name]), "restore");
        assert.match(restore, new RegExp(`^restored ${name} healthcare postgres$`, "m"));
        assert.deepStrictEqual(fingerprint(pg, "healthcare"), before);
        assert.strictEqual(pg.sql("SELECT datdba::regrole FROM pg_database WHERE datname = 'healthcare'"), apiRole.user, "the database is the API role's again");
        // The application goes on where it stopped: the sequence continues past the restored rows.
        assert.strictEqual(pg.sql("INSERT INTO patients (name) VALUES ('after restore') RETURNING id", "healthcare"), "3001");
    });

    it("restores over the live database while a client holds a connection, leaving no copy behind", async () => {
        pg.sql("DELETE FROM patients WHERE name = 'after restore'", "healthcare");
        pg.sql("SELECT setval('patients_id_seq', 3000)", "healthcare");
        const before = fingerprint(pg, "healthcare");
        const name = storedName(ok(run("postgres-backup.sh", backupEnv()), "backup"));

        pg.sql("DELETE FROM audit_log; UPDATE patients SET name = 'overwritten' WHERE id < 100; INSERT INTO patients (name) VALUES ('late')", "healthcare");
        const client = require("child_process").spawn(path.join(pg.binDir, "psql"), ["-X", "-d", "healthcare", "-c", "SELECT pg_sleep(120)"], {
            env: { ...process.env, ...pg.env, PGUSER: pg.user, PGPASSWORD: pg.password },
            stdio: "ignore",
        });
        try {
            // The restore must meet the connection: wait until the server runs the client's query.
            const deadline = Date.now() + 10000;
            while (pg.sql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%'") !== "1") {
                assert.ok(Date.now() < deadline, "the client's connection appears in pg_stat_activity within 10 s");
                await new Promise((r) => setTimeout(r, 50));
            }
            ok(run("postgres-restore.sh", restoreEnv(name), [name]), "restore");
        } finally {
            client.kill("SIGKILL");
        }
        assert.deepStrictEqual(fingerprint(pg, "healthcare"), before);
        assert.strictEqual(pg.sql("SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database WHERE datname LIKE 'pre_restore%' OR datname LIKE 'restoring%'"), "", "the set-aside copies and the temporary ones are dropped");
        assert.strictEqual(pg.sql("SELECT datallowconn FROM pg_database WHERE datname = 'healthcare'"), "t");
    });

    it("restore with a writer connected: a client that keeps reconnecting and inserting throughout ends up with exactly the backup, none of its rows from during the restore", async () => {
        // A table loaded before patients (the dump's data comes in name order), large enough that a
        // restore takes a while; and the database's own properties, changed after the backup.
        pg.sql("CREATE TABLE observations (id bigserial PRIMARY KEY, patient_id bigint NOT NULL, taken_at timestamptz NOT NULL, value numeric)", "healthcare");
        pg.sql("INSERT INTO observations (patient_id, taken_at, value) SELECT 1 + i % 3000, timestamptz '2030-01-01 00:00+00' + make_interval(mins => i), i % 97 FROM generate_series(1, 150000) AS i", "healthcare");
        pg.sql(`ALTER DATABASE healthcare SET work_mem = '8MB'`);
        pg.sql("ALTER ROLE reporting IN DATABASE healthcare SET search_path = public");
        pg.sql("COMMENT ON DATABASE healthcare IS 'the clinic''s records'");
        pg.sql("GRANT CONNECT ON DATABASE healthcare TO reporting");
        try {
            // What a writer sees: every table's rows but its own, and the constraints and indexes.
            const state =
                "'saw ' || (SELECT count(*) FROM patients) || ' patients, ' || (SELECT count(*) FROM appointments) || ' appointments, ' || " +
                "(SELECT count(*) FROM scans) || ' scans, ' || (SELECT count(*) FROM audit_log WHERE entry NOT LIKE 'writer%') || ' entries, ' || " +
                "(SELECT count(*) FROM pg_constraint WHERE connamespace = 'public'::regnamespace) || ' constraints, ' || " +
                "(SELECT count(*) FROM pg_indexes WHERE schemaname = 'public') || ' indexes'";
            const before = fingerprint(pg, "healthcare");
            const properties = databaseProperties(pg, "healthcare");
            const backupState = pg.sql(`SELECT ${state}`, "healthcare");
            const name = storedName(ok(run("postgres-backup.sh", backupEnv()), "backup"));

            pg.sql("DELETE FROM audit_log; UPDATE patients SET name = 'overwritten' WHERE id < 100; DELETE FROM observations WHERE id % 2 = 0", "healthcare");
            pg.sql("ALTER DATABASE healthcare RESET work_mem");
            pg.sql("ALTER ROLE reporting IN DATABASE healthcare RESET search_path");
            pg.sql("COMMENT ON DATABASE healthcare IS 'changed'");
            pg.sql("REVOKE CONNECT ON DATABASE healthcare FROM reporting");
            pg.sql("ALTER DATABASE healthcare CONNECTION LIMIT 50");

            // The writer: psql inserting every 10 ms over one connection, and connecting again (after
            // 20 ms) whenever it is cut off, refused or fails; one "inserted" line per row.
            const insert = `INSERT INTO audit_log SELECT clock_timestamp(), 'writer ' || ${state} RETURNING 'inserted'`;
            const writer = spawn("sh", ["-c", `while :; do printf '%s \\\\watch 0.01\\n' "$INSERT" | psql -X -q -At -v ON_ERROR_STOP=1 -d healthcare 2>/dev/null; sleep 0.02; done`], {
                env: { ...process.env, ...pg.env, PGUSER: pg.user, PGPASSWORD: pg.password, PGCONNECT_TIMEOUT: "2", INSERT: insert },
                stdio: ["ignore", "pipe", "ignore"],
                detached: true,
            });
            const inserted: number[] = [];
            let partial = "";
            writer.stdout!.on("data", (d: Buffer) => {
                const lines = (partial + d.toString()).split("\n");
                partial = lines.pop()!;
                lines.filter((l) => l === "inserted").forEach(() => inserted.push(Date.now()));
            });
            let restore: { status: number | null; stdout: string; stderr: string };
            let started: number;
            let ended: number;
            try {
                const deadline = Date.now() + 10000;
                while (inserted.length < 5) {
                    assert.ok(Date.now() < deadline, "the writer inserts within 10 s");
                    await new Promise((r) => setTimeout(r, 20));
                }
                started = Date.now();
                restore = await runAsync("postgres-restore.sh", restoreEnv(name), [name]);
                ended = Date.now();
            } finally {
                process.kill(-writer.pid!, "SIGKILL");
            }
            assert.strictEqual(restore.status, 0, `restore failed:\n${restore.stdout}\n${restore.stderr}`);
            const during = inserted.filter((t) => t >= started && t <= ended).length;
            console.log(`      restore ${((ended - started) / 1000).toFixed(1)} s; the writer inserted ${during} rows meanwhile; ${restore.stderr.match(/refused connections for \d+ s/)?.[0] ?? ""}`);
            assert.ok(during >= 20, `the writer kept inserting during the restore (${during} rows)`);

            // Rows the writer wrote after the restore opened the database are the application's, and
            // saw exactly the backup; any row from during the restore would have seen something else.
            const survivors = pg.sql("SELECT entry FROM audit_log WHERE entry LIKE 'writer%' ORDER BY at", "healthcare").split("\n").filter(Boolean);
            console.log(`      ${survivors.length} rows of the writer's are in the restored database, all written after it opened`);
            assert.deepStrictEqual(
                survivors.filter((entry) => entry !== `writer ${backupState}`),
                [],
                `every surviving row of the writer was written into the whole restored database (${survivors.length} survived)`,
            );
            pg.sql("DELETE FROM audit_log WHERE entry LIKE 'writer%'", "healthcare");
            assert.deepStrictEqual(fingerprint(pg, "healthcare"), before);
            assert.deepStrictEqual(databaseProperties(pg, "healthcare"), properties);
            assert.strictEqual(pg.sql("SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database WHERE datname LIKE 'pre_restore%' OR datname LIKE 'restoring%'"), "", "no copy is left");
        } finally {
            pg.sql("DROP TABLE IF EXISTS observations", "healthcare");
        }
    });

    it("a restore that fails midway, loading a copy or after the swap, puts every database back as it was", async () => {
        const name = storedName(ok(run("postgres-backup.sh", backupEnv()), "backup"));
        pg.sql("DELETE FROM audit_log WHERE at < '2030-01-01 00:10+00'; INSERT INTO patients (name) VALUES ('after the backup')", "healthcare");
        pg.sql("CREATE TABLE IF NOT EXISTS after_the_backup (note text)");
        pg.sql("ALTER DATABASE healthcare SET work_mem = '16MB'");
        const live = { healthcare: fingerprint(pg, "healthcare"), properties: databaseProperties(pg, "healthcare") };
        const databases = () => pg.sql("SELECT string_agg(oid || ' ' || datname || ' ' || datallowconn, ', ' ORDER BY datname) FROM pg_database");
        const before = databases();
        // Stand-ins for psql and pg_restore that fail at one step (a server error there) and run the real tool otherwise.
        const shims = mkdtempSync(path.join(tmpdir(), "failing-tools-"));
        try {
            for (const tool of ["psql", "pg_restore"]) {
                writeFileSync(
                    path.join(shims, tool),
                    `#!/bin/sh\ncase "$*" in $FAIL_${tool.toUpperCase()}) echo "${tool}: injected failure" >&2; exit 1 ;; esac\nexec ${path.join(pg.binDir, tool)} "$@"\n`,
                    { mode: 0o755 },
                );
            }
            const failing = (env: Record<string, string>) => run("postgres-restore.sh", { ...restoreEnv(name), PATH: `${shims}:${pg.env.PATH}`, ...env }, [name]);
            const rolledBack = (result: SpawnSyncReturns<string>, step: RegExp) => {
                assert.strictEqual(result.status, 1, result.stderr);
                assert.match(result.stderr, step);
                assert.match(result.stderr, /error: restoring \S+ failed: .*; the databases are as they were before$/m);
                assert.strictEqual(databases(), before, "the same databases (the same oids: the originals, not copies), accepting connections");
                assert.deepStrictEqual(fingerprint(pg, "healthcare"), live.healthcare);
                assert.deepStrictEqual(databaseProperties(pg, "healthcare"), live.properties);
                assert.strictEqual(pg.sql("SELECT count(*) FROM pg_tables WHERE tablename = 'after_the_backup'"), "1", "postgres is the live one");
            };
            // Loading the second database's copy (postgres), the live databases untouched.
            rolledBack(failing({ FAIL_PG_RESTORE: "*--dbname restoring_*_2 *" }), /pg_restore of database postgres failed/);
            // After both databases were swapped: the second one's owner, privileges and settings fail.
            rolledBack(failing({ FAIL_PSQL: "*2.properties.sql*" }), /restoring the owner, privileges or settings of database postgres failed/);
        } finally {
            rmSync(shims, { recursive: true, force: true });
            pg.sql("DROP TABLE IF EXISTS after_the_backup");
        }
    });

    it("refuses an unknown name, an unconfirmed restore, a damaged file and a backup from a newer PostgreSQL, changing nothing", async () => {
        const name = storedName(ok(run("postgres-backup.sh", backupEnv()), "backup"));
        pg.sql("INSERT INTO audit_log VALUES (now(), 'written after the backup')", "healthcare");
        const before = fingerprint(pg, "healthcare");
        const restore = (backup: string, confirm = backup) => run("postgres-restore.sh", restoreEnv(confirm), [backup]);
        const refused = (result: SpawnSyncReturns<string>, message: RegExp) => {
            assert.strictEqual(result.status, 1, result.stderr);
            const errors = result.stderr.split("\n").filter((l) => l.includes("error:"));
            assert.strictEqual(errors.length, 1, `one message: ${result.stderr}`);
            assert.match(errors[0], message);
            assert.match(errors[0], /nothing was changed$/);
            assert.deepStrictEqual(fingerprint(pg, "healthcare"), before);
        };

        refused(restore("20000101T000000Z"), new RegExp(`no backup named 20000101T000000Z on the backup volume .* \\(it has: ${name}\\)`));
        refused(restore("latest"), /"latest" is not a backup name/);
        refused(restore(name, "yes"), /CONFIRM_RESTORE is not/);

        const copy = (label: string, change: (dir: string) => void) => {
            const other = `20000102T0000${label}Z`;
            spawnSync("cp", ["-r", path.join(volume, name), path.join(volume, other)]);
            writeFileSync(path.join(volume, other, "manifest"), readFileSync(path.join(volume, other, "manifest"), "utf8").replace(`name=${name}`, `name=${other}`));
            change(path.join(volume, other));
            return other;
        };
        const flipped = copy("01", (dir) => {
            const dump = path.join(dir, "healthcare.dump");
            const bytes = readFileSync(dump);
            bytes[Math.floor(bytes.length / 2)] ^= 0xff;
            writeFileSync(dump, bytes);
        });
        refused(restore(flipped), /is damaged: healthcare\.dump does not match the SHA-256 sum in the manifest/);
        const truncated = copy("02", (dir) => appendFileSync(path.join(dir, "globals.sql"), "-- more\n"));
        refused(restore(truncated), /is damaged: globals\.sql has \d+ bytes where the manifest lists \d+/);
        const unreadable = copy("03", (dir) => rmSync(path.join(dir, "postgres.dump")));
        refused(restore(unreadable), /is damaged: postgres\.dump is missing or unreadable/);
        const newer = copy("04", (dir) => {
            const manifest = path.join(dir, "manifest");
            writeFileSync(manifest, readFileSync(manifest, "utf8").replace(/^server_version=.*$/m, "server_version=99.1").replace(/^server_version_num=.*$/m, "server_version_num=990001"));
        });
        refused(restore(newer), new RegExp(`was taken from PostgreSQL 99\\.1; this server runs ${pg.version.replace(/\./g, "\\.")}, an older major version: restore it into PostgreSQL 99 or later`));
        const newerDump = copy("05", (dir) => {
            const manifest = path.join(dir, "manifest");
            writeFileSync(manifest, readFileSync(manifest, "utf8").replace(/^pg_dump_version=.*$/m, "pg_dump_version=99.1"));
        });
        refused(restore(newerDump), /was written by pg_dump 99\.1; this pg_restore is [\d.]+ and cannot read it/);
    });

    it("a restore gives no role back the powers it had when the backup was taken (a backup from before the roles were split)", async () => {
        pg.sql(`ALTER ROLE ${apiRole.user} SUPERUSER CREATEROLE`);
        const name = storedName(ok(run("postgres-backup.sh", backupEnv()), "backup"));
        assert.match(readFileSync(path.join(volume, name, "globals.sql"), "utf8"), new RegExp(`^ALTER ROLE ${apiRole.user} WITH SUPERUSER .*CREATEROLE`, "m"));
        ok(runRolesScript(pg, roles), "postgres-roles.sh");
        ok(run("postgres-restore.sh", restoreEnv(name), [name]), "restore");
        assert.strictEqual(pg.sql(`SELECT rolsuper || ' ' || rolcreaterole FROM pg_roles WHERE rolname = '${apiRole.user}'`), "false false");
    });

    it("keeps the previous backups and fails when a backup fails", async () => {
        fakeBackup(volume, "20200101T020000Z");
        const previous = folders(volume);
        const wrongPassword = mkdtempSync(path.join(tmpdir(), "wrong-credentials-"));
        writeFileSync(path.join(wrongPassword, "username"), pg.user);
        writeFileSync(path.join(wrongPassword, "password"), "not-the-password");
        try {
            const denied = run("postgres-backup.sh", backupEnv({ POSTGRES_CREDENTIALS: wrongPassword }));
            assert.notStrictEqual(denied.status, 0);
            assert.match(denied.stderr, /password authentication failed/);
            assert.deepStrictEqual(folders(volume), previous, "no new folder, no unfinished folder, nothing deleted");

            const down = run("postgres-backup.sh", backupEnv({ PGPORT: "1", WAIT_SECONDS: "1" }));
            assert.notStrictEqual(down.status, 0);
            assert.match(down.stderr, /PostgreSQL at 127\.0\.0\.1:1 did not accept connections within 1 s/);
            assert.deepStrictEqual(folders(volume), previous);
        } finally {
            rmSync(wrongPassword, { recursive: true, force: true });
        }
    });

    it("retention removes only the oldest complete backups beyond the limit, on the volume and in the bucket", async () => {
        const old = ["20200101T020000Z", "20200102T020000Z", "20200103T020000Z", "20200104T020000Z"];
        old.forEach((n) => fakeBackup(volume, n));
        // Not backups: a volume's lost+found, a note, a folder an interrupted fetch left without a manifest.
        mkdirSync(path.join(volume, "lost+found"));
        writeFileSync(path.join(volume, "README.txt"), "kept");
        mkdirSync(path.join(volume, "20190101T020000Z"));

        const backup = ok(run("postgres-backup.sh", backupEnv({ BACKUP_RETENTION: "3" })), "backup");
        const name = storedName(backup);
        assert.deepStrictEqual(folders(volume), ["20190101T020000Z", "20200103T020000Z", "20200104T020000Z", name, "README.txt", "lost+found"].sort());
        assert.deepStrictEqual(
            backup.split("\n").filter((l) => l.startsWith("deleted")),
            [`deleted 20200101T020000Z ${volume}/20200101T020000Z`, `deleted 20200102T020000Z ${volume}/20200102T020000Z`],
        );

        // The bucket: three older complete backups, one unfinished upload, something else under the prefix.
        const seed = mkdtempSync(path.join(tmpdir(), "seed-"));
        try {
            for (const n of ["20190601T020000Z", "20190602T020000Z", "20190603T020000Z"]) {
                fakeBackup(seed, n);
            }
            mkdirSync(path.join(seed, "20190604T020000Z"));
            writeFileSync(path.join(seed, "20190604T020000Z", "healthcare.dump"), "cut short");
            mkdirSync(path.join(seed, "notes"));
            writeFileSync(path.join(seed, "notes", "keep.txt"), "kept");
            s3.run("copy", seed, `:s3:${bucket}/${prefix}-retention`);
        } finally {
            rmSync(seed, { recursive: true, force: true });
        }
        const upload = ok(run("postgres-backup-upload.sh", s3Env({ S3_PREFIX: `${prefix}-retention`, BACKUP_RETENTION: "2" })), "upload");
        const remaining = [...new Set(s3.objects(bucket, `${prefix}-retention`).map((o) => o.split("/")[0]))];
        // The two newest local backups went up; of the five complete ones there, the two newest stay,
        // the unfinished upload goes, and what is not a backup folder stays.
        assert.deepStrictEqual(remaining, ["20200104T020000Z", name, "notes"].sort());
        assert.deepStrictEqual(upload.split("\n").filter((l) => l.startsWith("uploaded")).map((l) => l.split(" ")[1]), ["20200104T020000Z", name]);
        assert.deepStrictEqual(
            upload.split("\n").filter((l) => l.startsWith("deleted")).map((l) => l.split(" ")[1]),
            ["20190601T020000Z", "20190602T020000Z", "20190603T020000Z", "20190604T020000Z"],
        );
    });

    it("a failed upload keeps the local copy and exits non-zero", async () => {
        const name = storedName(ok(run("postgres-backup.sh", backupEnv()), "backup"));
        const manifest = readFileSync(path.join(volume, name, "manifest"), "utf8");
        const failed = run("postgres-backup-upload.sh", s3Env({ S3_BUCKET: "no-such-bucket", RCLONE_RETRIES: "1", RCLONE_LOW_LEVEL_RETRIES: "1" }));
        assert.notStrictEqual(failed.status, 0);
        assert.match(failed.stderr, /error: /);
        assert.strictEqual(readFileSync(path.join(volume, name, "manifest"), "utf8"), manifest);
        assert.ok(existsSync(path.join(volume, name, "healthcare.dump")));

        const missingCredentials = run("postgres-backup-upload.sh", s3Env({ S3_CREDENTIALS: volume }));
        assert.strictEqual(missingCredentials.status, 1);
        assert.match(missingCredentials.stderr, /AWS_ACCESS_KEY_ID is missing: the Secret named in postgresBackupS3CredentialsSecret needs the key AWS_ACCESS_KEY_ID/);
        assert.ok(existsSync(path.join(volume, name, "manifest")));
    });

    it("upload failure retries without a new dump: the CronJob's own Job, its pods run here, meets an object-store outage after the dump", async () => {
        // The Job as the program registers it for production on the statefulset engine (whose backups
        // the CronJob takes; 100 API pods at 9 connections fit without a pooler) with a bucket, keeping 3.
        const program = await runStack(
            stackConfig("production", {
                ...onStatefulSetEngine,
                apiDatabasePoolSize: 9,
                postgresBackupS3Endpoint: "https://s3.eu-central-1.amazonaws.com",
                postgresBackupS3Bucket: bucket,
                postgresBackupS3Prefix: `${prefix}-retry`,
                postgresBackupS3CredentialsSecret: "backup-s3-credentials",
                postgresBackupS3Egress: "52.219.0.0/16:443",
                postgresBackupRetention: 3,
            }),
            "production",
        );
        const job: JobSpec = program.get("kubernetes:batch/v1:CronJob", "postgres-backup").inputs.spec.jobTemplate.spec;
        // Two older backups: with three kept, one more dump would push the oldest out.
        const older = ["20200101T020000Z", "20200102T020000Z"];
        older.forEach((n) => fakeBackup(volume, n));
        const scratch = mkdtempSync(path.join(tmpdir(), "backup-pod-tmp-"));
        // The object store is down when the Job starts, and back once an upload has failed.
        const store = await startTcpProxy(s3.endpoint);
        await store.down();
        let dumped: { name: string; manifest: string } | undefined;
        try {
            const started = Date.now();
            const result = await runJob("postgres-backup-29000000", job, {
                volumes: { backups: volume, scripts: assets, tmp: scratch, "postgres-credentials": pg.credentialsDir, "s3-credentials": s3.credentialsDir },
                overrides: {
                    PATH: pg.env.PATH,
                    PGHOST: pg.env.PGHOST,
                    PGPORT: pg.env.PGPORT,
                    S3_ENDPOINT: store.endpoint,
                    RCLONE: s3.rclone,
                    // The pods' rclone tries 3 x 5 times; once is enough to meet the outage here.
                    RCLONE_RETRIES: "1",
                    RCLONE_LOW_LEVEL_RETRIES: "1",
                },
                afterRun: async (run: ContainerRun) => {
                    if (run.container === "dump" && run.status === 0 && !dumped) {
                        const name = storedName(run.stdout);
                        dumped = { name, manifest: readFileSync(path.join(volume, name, "manifest"), "utf8") };
                    }
                    if (run.container === "upload" && run.status !== 0) {
                        await store.up();
                    }
                },
            });
            const runs = result.runs.map((r) => `pod ${r.pod} ${r.container} ${r.status}`);
            console.log(`      ${runs.join(", ")} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
            assert.ok(result.succeeded, `the Job succeeds: ${runs.join(", ")}\n${result.runs.map((r) => r.stderr).join("\n")}`);
            assert.ok(dumped, "a dump stored a backup");

            const uploads = result.runs.filter((r) => r.container === "upload");
            assert.ok(uploads.length >= 2 && uploads[0].status !== 0, `the first upload met the outage and failed: ${runs.join(", ")}`);
            assert.match(uploads[0].stderr, /error: cannot list s3:\/\//);
            assert.strictEqual(uploads[uploads.length - 1].status, 0);
            assert.match(uploads[uploads.length - 1].stdout, new RegExp(`^uploaded ${dumped.name} `, "m"), "the retried upload sends the same backup");
            // The volume holds what it held after the dump: no new backup, none pruned; pg_dump ran once.
            assert.deepStrictEqual(folders(volume), [...older, dumped.name]);
            assert.strictEqual(result.runs.filter((r) => / backing up .* into /.test(r.stderr)).length, 1, `one dump: ${runs.join(", ")}`);
            assert.strictEqual(readFileSync(path.join(volume, dumped.name, "manifest"), "utf8"), dumped.manifest);
            assert.strictEqual(s3.run("cat", `:s3:${bucket}/${prefix}-retry/${dumped.name}/manifest`), dumped.manifest);
        } finally {
            await store.close();
            rmSync(scratch, { recursive: true, force: true });
        }
    });

    it("lists the backups of the volume and the bucket for npm run ops -- backups", async () => {
        const first = storedName(ok(run("postgres-backup.sh", backupEnv()), "backup"));
        ok(run("postgres-backup-upload.sh", s3Env({ S3_PREFIX: `${prefix}-list` })), "upload");
        await nextSecond();
        const second = storedName(ok(run("postgres-backup.sh", backupEnv()), "backup"));
        const listing = ok(run("postgres-backup-list.sh", s3Env({ S3_PREFIX: `${prefix}-list` })), "list");
        const parsed = parseBackupListing(listing);
        assert.deepStrictEqual(
            parsed.map((b) => [b.name, b.local !== undefined, b.remote !== undefined]),
            [
                [first, true, true],
                [second, true, false],
            ],
        );
        assert.strictEqual(parsed[0].local, parsed[0].remote, "the same bytes on the volume and in the bucket");
        assert.ok(parsed[0].local! > 10000);
        // Without object storage the postgres image lists the volume alone.
        assert.deepStrictEqual(parseBackupListing(ok(run("postgres-backup-list.sh", { BACKUP_DIR: volume }), "list")).map((b) => b.name), [first, second]);
    });
});
