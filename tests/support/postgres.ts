import { ChildProcess, execFileSync, spawn, spawnSync, SpawnSyncReturns } from "child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { freePort, stopProcess } from "./processes";

/**
 * A real PostgreSQL server on loopback for the backup, restore and roles tests, set up as the official
 * image sets it up: POSTGRES_USER is the bootstrap superuser with a password, reached over TCP (the
 * API's user `healthcare` by default, as on volumes initialised before the roles were split; `postgres`
 * as on new ones, whose other roles tests/support/postgresRoles.ts creates).
 * The newest server Debian's packages installed is used (the shipped image runs 17; this machine may
 * have an older major, which the tests print).
 */

/** PostgreSQL's binaries: Debian keeps them in /usr/lib/postgresql/<major>/bin; the newest major wins. */
export function postgresBinDir(): string {
    const root = "/usr/lib/postgresql";
    const majors = existsSync(root) ? readdirSync(root).filter((d) => /^\d+$/.test(d)).sort((a, b) => Number(b) - Number(a)) : [];
    for (const major of majors) {
        if (existsSync(path.join(root, major, "bin", "postgres")) && existsSync(path.join(root, major, "bin", "pg_dump"))) {
            return path.join(root, major, "bin");
        }
    }
    throw new Error("PostgreSQL server binaries are not installed: these tests run a real server. Run .ci/run, or: apt-get install postgresql");
}


/** PostgreSQL refuses to run as root: as root, run it as the `postgres` user (Debian's package creates it), else nobody. */
export function serverIdentity(): { uid: number; gid: number } | undefined {
    if (process.getuid?.() !== 0) {
        return undefined;
    }
    for (const user of ["postgres", "nobody"]) {
        const uid = spawnSync("id", ["-u", user], { encoding: "utf8" });
        const gid = spawnSync("id", ["-g", user], { encoding: "utf8" });
        if (uid.status === 0 && gid.status === 0) {
            return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
        }
    }
    throw new Error("running as root and neither a postgres nor a nobody user exists to run PostgreSQL");
}

export interface PostgresServer {
    port: number;
    /** The bootstrap superuser the image creates from POSTGRES_USER. */
    user: string;
    password: string;
    /** Folder with the files `username` and `password`, as the Secret is mounted in the pods. */
    credentialsDir: string;
    /** The server's binaries (pg_dump, psql, ... of the same version first on PATH). */
    binDir: string;
    /** `17.6`-style version the server reports. */
    version: string;
    /** Environment for the shipped scripts and psql: PATH with the server's tools, PGHOST, PGPORT, credentials. */
    env: Record<string, string>;
    /** Runs SQL through psql as the superuser; returns the unaligned rows. Throws on an error. */
    sql(query: string, database?: string): string;
    /** Runs SQL through psql as `user` with `password`, as it comes out: errors carry their SQLSTATE (`ERROR:  42501: ...`). */
    sqlAs(user: string, password: string, query: string, database?: string): SpawnSyncReturns<string>;
    stop(): Promise<void>;
}

/**
 * Starts a server: initdb with the application's superuser, password authentication on TCP. With
 * `data`, the data directory is that folder (its parent must exist), initialised only when it holds
 * no cluster yet, and kept when the server stops; otherwise a new one in a temporary folder.
 */
export async function startPostgres(options: { user?: string; password?: string; settings?: string[]; data?: string } = {}): Promise<PostgresServer> {
    const user = options.user ?? "healthcare";
    const password = options.password ?? "test:pass\\word";
    const binDir = postgresBinDir();
    const identity = serverIdentity();
    const dir = mkdtempSync(path.join(tmpdir(), "backup-pg-"));
    const data = options.data ?? path.join(dir, "data");
    const socket = path.join(dir, "socket");
    mkdirSync(socket);
    writeFileSync(path.join(dir, "pwfile"), `${password}\n`);
    if (identity) {
        for (const p of [dir, socket, path.join(dir, "pwfile"), ...(options.data ? [path.dirname(data)] : [])]) {
            chownSync(p, identity.uid, identity.gid);
        }
    }
    if (!existsSync(path.join(data, "PG_VERSION"))) {
        execFileSync(
            path.join(binDir, "initdb"),
            ["-D", data, "-U", user, "--pwfile", path.join(dir, "pwfile"), "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync", "--encoding=UTF8", "--locale=C"],
            { stdio: "pipe", ...identity },
        );
    }
    const port = await freePort();
    const server: ChildProcess = spawn(
        path.join(binDir, "postgres"),
        ["-D", data, "-p", String(port), "-k", socket, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off", ...(options.settings ?? []).flatMap((s) => ["-c", s])],
        { stdio: ["ignore", "ignore", "pipe"], ...identity },
    );
    let serverLog = "";
    server.stderr?.on("data", (d) => (serverLog = (serverLog + d).slice(-4000)));

    const credentialsDir = path.join(dir, "credentials");
    mkdirSync(credentialsDir);
    writeFileSync(path.join(credentialsDir, "username"), user);
    writeFileSync(path.join(credentialsDir, "password"), password);
    chmodSync(credentialsDir, 0o700);

    const pgpass = path.join(dir, "pgpass");
    writeFileSync(pgpass, `*:*:*:*:${password.replace(/[\\:]/g, "\\$&")}\n`, { mode: 0o600 });
    const env = {
        PATH: `${binDir}:${process.env.PATH ?? "/usr/bin:/bin"}`,
        PGHOST: "127.0.0.1",
        PGPORT: String(port),
        POSTGRES_CREDENTIALS: credentialsDir,
    };
    const psqlEnv = { ...process.env, ...env, PGUSER: user, PGPASSFILE: pgpass };
    const sql = (query: string, database = "postgres") => {
        const result = spawnSync(path.join(binDir, "psql"), ["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", query], { env: psqlEnv, encoding: "utf8" });
        if (result.status !== 0) {
            throw new Error(`psql failed (${result.status}): ${result.stderr.trim()}\n${query}`);
        }
        return result.stdout.trim();
    };
    const sqlAs = (asUser: string, asPassword: string, query: string, database = "postgres") =>
        spawnSync(path.join(binDir, "psql"), ["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose", "-d", database, "-c", query], {
            env: { ...process.env, ...env, PGUSER: asUser, PGPASSWORD: asPassword, PGPASSFILE: "/dev/null" },
            encoding: "utf8",
        });
    const deadline = Date.now() + 30000;
    for (;;) {
        const ready = spawnSync(path.join(binDir, "pg_isready"), ["-q", "-h", "127.0.0.1", "-p", String(port)]);
        if (ready.status === 0) {
            break;
        }
        if (server.exitCode !== null || Date.now() > deadline) {
            throw new Error(`PostgreSQL did not start on port ${port}:\n${serverLog}`);
        }
        await new Promise((r) => setTimeout(r, 100));
    }
    const version = sql("SHOW server_version").split(" ")[0];
    return {
        port,
        user,
        password,
        credentialsDir,
        binDir,
        version,
        env,
        sql,
        sqlAs,
        async stop() {
            // Fast shutdown: roll back, close connections, stop.
            await stopProcess(server, "SIGINT");
            rmSync(dir, { recursive: true, force: true });
        },
    };
}
