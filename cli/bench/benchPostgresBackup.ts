/**
 * How long the backup CronJob's scripts take for a 1 GB database on this machine: the dump
 * (postgres-backup.sh: pg_dumpall of the roles, pg_dump custom format at compression 6, pg_restore
 * --list, SHA-256 sums), the upload to a local S3 server when moto and rclone are installed
 * (postgres-backup-upload.sh), and the restore over the live database (postgres-restore.sh: checks,
 * set-aside, pg_restore --create, ANALYZE), each run checked by row count. Prints the median of
 * several runs: `npm run bench:postgres` (BENCH_RUNS, default 3; BENCH_DATABASE_MB, default 1024).
 */
import { spawnSync } from "child_process";
import { mkdtempSync, rmSync } from "fs";
import { cpus, loadavg, tmpdir } from "os";
import * as path from "path";
import { postgresBackupScripts } from "../../components/postgresBackup";
import { startPostgres } from "../../tests/support/postgres";
import { S3Server, startS3Server } from "../../tests/support/s3";
import { projectRoot } from "../../harness/stackConfig";

const runs = Number(process.env.BENCH_RUNS ?? 3);
const targetBytes = Number(process.env.BENCH_DATABASE_MB ?? 1024) * 1024 * 1024;

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const seconds = (ms: number) => (ms / 1000).toFixed(1);

function timed(script: string, env: Record<string, string>, args: string[] = []): { ms: number; stdout: string } {
    const started = process.hrtime.bigint();
    const result = spawnSync("sh", [path.join(projectRoot, "components", "assets", script), ...args], {
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
        encoding: "utf8",
        maxBuffer: 64 * 1024 * 1024,
    });
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    if (result.status !== 0) {
        throw new Error(`${script} failed:\n${result.stderr}${result.stdout}`);
    }
    return { ms, stdout: result.stdout };
}

async function main(): Promise<void> {
    const load = () => loadavg()[0].toFixed(2);
    console.log(`${cpus().length} cores (${cpus()[0].model.trim()}), load average ${load()} before`);
    const pg = await startPostgres();
    let s3: S3Server | undefined;
    try {
        s3 = await startS3Server();
        s3.createBucket("bench");
    } catch (error) {
        console.log(`upload not measured: ${(error as Error).message.split("\n")[0]}`);
    }
    const volume = mkdtempSync(path.join(tmpdir(), "bench-backups-"));
    try {
        console.log(`PostgreSQL ${pg.version} (${pg.binDir}); loading a ${(targetBytes / 2 ** 30).toFixed(2)} GiB database`);
        const loadStarted = Date.now();
        pg.sql("CREATE DATABASE healthcare");
        pg.sql(
            `CREATE TABLE patients (id bigserial PRIMARY KEY, name text NOT NULL, born date, profile jsonb);
             CREATE TABLE appointments (id bigserial PRIMARY KEY, patient_id bigint NOT NULL REFERENCES patients (id),
               scheduled_at timestamptz NOT NULL, status text NOT NULL, notes text);
             CREATE INDEX appointments_by_patient ON appointments (patient_id, scheduled_at);
             INSERT INTO patients (name, born, profile)
               SELECT 'patient ' || i, date '1940-01-01' + (i % 30000), jsonb_build_object('allergies', array['a' || (i % 7)], 'insurer', 'ins-' || (i % 50))
               FROM generate_series(1, 200000) AS i;`,
            "healthcare",
        );
        // Appointments in batches until the database reaches the target size (tables and indexes).
        let batch = 0;
        while (Number(pg.sql("SELECT pg_database_size('healthcare')")) < targetBytes) {
            pg.sql(
                `INSERT INTO appointments (patient_id, scheduled_at, status, notes)
                 SELECT 1 + (i % 200000), timestamptz '2030-01-01 08:00+00' + make_interval(mins => i * 15),
                   CASE WHEN i % 3 = 0 THEN 'completed' ELSE 'active' END,
                   'visit ' || md5(i::text) || ' ' || md5((i * 31)::text) || ' follow-up ' || (i % 97)
                 FROM generate_series(${batch * 500000 + 1}, ${(batch + 1) * 500000}) AS i`,
                "healthcare",
            );
            batch++;
        }
        pg.sql("VACUUM ANALYZE", "healthcare");
        const size = Number(pg.sql("SELECT pg_database_size('healthcare')"));
        const rows = pg.sql("SELECT count(*) FROM appointments", "healthcare");
        console.log(`loaded ${(size / 2 ** 30).toFixed(2)} GiB (${rows} appointments, 200000 patients) in ${seconds(Date.now() - loadStarted)} s\n`);

        const env = { ...pg.env, BACKUP_DIR: volume, BACKUP_RETENTION: "1" };
        const samples: { backup: number[]; upload: number[]; restore: number[] } = { backup: [], upload: [], restore: [] };
        let dumpBytes = 0;
        for (let run = 1; run <= runs; run++) {
            const backup = timed(postgresBackupScripts.backup, env);
            const [, name, , bytes] = /^stored (\S+) (\S+) (\d+)$/m.exec(backup.stdout)!;
            dumpBytes = Number(bytes);
            samples.backup.push(backup.ms);
            if (s3) {
                const upload = timed(postgresBackupScripts.upload, {
                    ...env,
                    S3_ENDPOINT: s3.endpoint,
                    S3_BUCKET: "bench",
                    S3_PREFIX: `run-${run}`,
                    S3_CREDENTIALS: s3.credentialsDir,
                    RCLONE: s3.rclone,
                });
                samples.upload.push(upload.ms);
            }
            const restore = timed(postgresBackupScripts.restore, { ...env, CONFIRM_RESTORE: name }, [name]);
            samples.restore.push(restore.ms);
            const restoredRows = pg.sql("SELECT count(*) FROM appointments", "healthcare");
            if (restoredRows !== rows) {
                throw new Error(`run ${run}: ${restoredRows} appointments after the restore, ${rows} before`);
            }
            console.log(
                `run ${run}: backup ${seconds(backup.ms)} s (${(dumpBytes / 2 ** 20).toFixed(0)} MiB of dumps)` +
                    `${s3 ? `, upload ${seconds(samples.upload[run - 1])} s` : ""}, restore ${seconds(restore.ms)} s, ${restoredRows} rows back`,
            );
            // Each run on a fresh volume: the next backup must not find this one's name taken.
            await new Promise((r) => setTimeout(r, 1000));
        }
        console.log(`\n${(size / 2 ** 30).toFixed(2)} GiB database, ${(dumpBytes / 2 ** 20).toFixed(0)} MiB of compressed dumps, ${runs} runs (median):`);
        console.log(`  backup  (postgres-backup.sh)         ${seconds(median(samples.backup))} s   [${samples.backup.map(seconds).join(", ")}]`);
        if (samples.upload.length > 0) {
            console.log(`  upload  (postgres-backup-upload.sh)  ${seconds(median(samples.upload))} s   [${samples.upload.map(seconds).join(", ")}] to moto on loopback`);
        }
        console.log(`  restore (postgres-restore.sh)        ${seconds(median(samples.restore))} s   [${samples.restore.map(seconds).join(", ")}]`);
        console.log(`load average ${load()} after`);
    } finally {
        rmSync(volume, { recursive: true, force: true });
        await Promise.all([pg.stop(), s3?.stop()]);
    }
}

main().catch((error: Error) => {
    console.error(error.message);
    process.exit(1);
});
