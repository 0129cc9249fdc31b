/**
 * The PostgreSQL pod's start-up guard (components/assets/postgres-data-check.sh) on real clusters:
 * initdb and a server of this machine's PostgreSQL write a cluster with rows into a folder laid out as
 * the data volume is, and the guard, run as the server's user would run it in the pod, must refuse a
 * volume the image would not use (another major, the other layout's folder) without touching it, and
 * let the first start and a start on the same major through. And the init container it ships in.
 */
import * as assert from "assert";
import { spawnSync, SpawnSyncReturns } from "child_process";
import { chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { pgdataSubdir, postgresDataCheckContainer, postgresDataCheckScript, postgresDataCheckScriptFiles } from "../../components/postgres/dataDirectory";
import { dataLayout } from "../../components/postgres";
import { restrictedViolations } from "../../analysis/podSecurity";
import { projectRoot } from "../../harness/stackConfig";
import { startPostgres, serverIdentity } from "../support/postgres";

const script = path.join(projectRoot, "components", "assets", postgresDataCheckScript);

/** Every file under `dir` with its size and modification time: what "untouched" means. */
function snapshot(dir: string): string[] {
    const entries: string[] = [];
    const walk = (d: string) => {
        for (const name of readdirSync(d).sort()) {
            const p = path.join(d, name);
            const s = statSync(p);
            entries.push(`${path.relative(dir, p)} ${s.isDirectory() ? "dir" : s.size} ${s.mtimeMs}`);
            if (s.isDirectory()) {
                walk(p);
            }
        }
    };
    walk(dir);
    return entries;
}

/** The rows of the test's table: their count and a checksum. */
const rowsQuery = "SELECT count(*) || ' ' || md5(string_agg(id || ':' || name, ',' ORDER BY id)) FROM patients";

describe("PostgreSQL start-up guard on real clusters", function () {
    this.timeout(120000);
    const identity = serverIdentity();
    let volume: string;
    let major: number;

    /**
     * The guard as the init container runs it: the volume's owner, the image's major and folder. The
     * script's text goes in on stdin: that user may not be able to reach the checkout (a clone in a
     * private temporary folder), and the script sources nothing.
     */
    const check = (expectedMajor: number | string, subdir: string, dataVolume = volume): SpawnSyncReturns<string> =>
        spawnSync("sh", ["-s"], {
            input: readFileSync(script, "utf8"),
            env: { PATH: process.env.PATH ?? "/usr/bin:/bin", DATA_VOLUME: dataVolume, EXPECTED_MAJOR: String(expectedMajor), EXPECTED_PGDATA_SUBDIR: subdir },
            encoding: "utf8",
            timeout: 30000,
            ...identity,
        });
    const passed = (result: SpawnSyncReturns<string>) => assert.strictEqual(result.status, 0, `passes:\n${result.stderr}`);
    /** Exit 1 and one message: the versions on the volume and in the image, the upgrade path. */
    const refused = (result: SpawnSyncReturns<string>, onVolume: string, image: number) => {
        assert.strictEqual(result.status, 1, `refused:\n${result.stderr}`);
        const errors = result.stderr.split("\n").filter((l) => l.includes("error:"));
        assert.strictEqual(errors.length, 1, `one message: ${result.stderr}`);
        assert.match(errors[0], new RegExp(`holds a PostgreSQL ${onVolume} cluster in \\S+ and this image runs PostgreSQL ${image} `));
        assert.match(errors[0], /docs\/postgres\.md#major-version-upgrades/);
        assert.match(errors[0], /nothing was changed$/);
        return errors[0];
    };

    beforeEach(() => {
        volume = mkdtempSync(path.join(tmpdir(), "data-volume-"));
        if (identity) {
            chownSync(volume, identity.uid, identity.gid);
        }
    });
    afterEach(() => rmSync(volume, { recursive: true, force: true }));

    it("major-version change is refused: a real cluster with rows, the image one major newer; the data stays as it was", async () => {
        // The layout of PostgreSQL 17 and before: PGDATA is <volume>/pgdata.
        const pgdata = path.join(volume, "pgdata");
        const first = await startPostgres({ data: pgdata });
        major = Number(first.version.split(".")[0]);
        first.sql("CREATE TABLE patients (id int PRIMARY KEY, name text)");
        first.sql("INSERT INTO patients SELECT i, 'patient ' || i FROM generate_series(1, 1000) AS i");
        const rows = first.sql(rowsQuery);
        assert.match(rows, /^1000 [0-9a-f]{32}$/);
        await first.stop();
        assert.strictEqual(readFileSync(path.join(pgdata, "PG_VERSION"), "utf8").trim(), String(major));
        const before = snapshot(volume);

        const message = refused(check(major + 1, "pgdata"), String(major), major + 1);
        assert.ok(message.includes(pgdata), message);
        // The new layout's image (18 on: <volume>/data) on the old layout's cluster: the 17 -> 18 case.
        refused(check(major + 1, "data"), String(major), major + 1);
        assert.deepStrictEqual(snapshot(volume), before, "not a file created, changed or removed");

        // The same major version starts; the rows are all there.
        passed(check(major, "pgdata"));
        const again = await startPostgres({ data: pgdata });
        try {
            assert.strictEqual(again.sql(rowsQuery), rows);
        } finally {
            await again.stop();
        }
    });

    it("passes on an empty volume (the first start) and on one with a lost+found", () => {
        passed(check(17, "pgdata"));
        passed(check(18, "data"));
        mkdirSync(path.join(volume, "lost+found"));
        passed(check(18, "data"));
    });

    it("refuses a cluster of the image's own major in the other layout's folder, and a cluster of another major in either", async () => {
        const pg = await startPostgres({ data: path.join(volume, "pgdata") });
        const version = pg.version.split(".")[0];
        await pg.stop();
        const before = snapshot(volume);
        // An image of the same major laid out the other way would initialise <volume>/data beside it.
        const beside = refused(check(version, "data"), version, Number(version));
        assert.match(beside, /would start an empty database beside it/);
        // A cluster in the new layout's folder, the image an older layout (a downgrade, or a half-done move).
        renameSync(path.join(volume, "pgdata"), path.join(volume, "data"));
        const moved = snapshot(volume);
        refused(check(version, "pgdata"), version, Number(version));
        refused(check(Number(version) - 1, "data"), version, Number(version) - 1);
        passed(check(version, "data"));
        assert.deepStrictEqual(snapshot(volume), moved);
        assert.strictEqual(before.length, moved.length);
    });

    it("stops on settings it cannot use, before looking at the volume", () => {
        for (const [major, subdir, dataVolume, message] of [
            ["", "pgdata", volume, /EXPECTED_MAJOR = "" is not a PostgreSQL major version/],
            ["17.6", "pgdata", volume, /EXPECTED_MAJOR = "17\.6" is not/],
            ["17", "pgdata/", volume, /EXPECTED_PGDATA_SUBDIR = "pgdata\/" is neither pgdata .* nor data/],
            ["17", "pgdata", path.join(volume, "missing"), /the data volume is not mounted at/],
        ] as const) {
            const result = check(major, subdir, dataVolume);
            assert.strictEqual(result.status, 1, result.stderr);
            assert.match(result.stderr, message);
        }
    });
});

describe("PostgreSQL start-up guard: the init container", () => {
    const container = postgresDataCheckContainer({ image: "postgres:18.1", majorVersion: 18, volumeName: "data", scriptsConfigMapVolume: "data-check-scripts" });
    const env = Object.fromEntries((container.env as any[]).map((e) => [e.name, e.value]));

    it("runs the script from its ConfigMap on the data volume, mounted read-only, with the image's major and folder", () => {
        assert.deepStrictEqual([container.name, container.image, container.command], ["data-check", "postgres:18.1", ["sh", "/scripts/postgres-data-check.sh"]]);
        assert.deepStrictEqual(container.volumeMounts, [
            { name: "data", mountPath: "/volume", readOnly: true },
            { name: "data-check-scripts", mountPath: "/scripts", readOnly: true },
        ]);
        assert.deepStrictEqual(env, { DATA_VOLUME: "/volume", EXPECTED_MAJOR: "18", EXPECTED_PGDATA_SUBDIR: "data" });
        assert.deepStrictEqual(Object.keys(postgresDataCheckScriptFiles()), ["postgres-data-check.sh"]);
    });

    it("takes each major's folder from the StatefulSet's own data layout", () => {
        for (const major of [13, 16, 17, 18, 19]) {
            const layout = dataLayout(major);
            assert.strictEqual(path.posix.join(layout.mountPath, pgdataSubdir(major)), layout.pgdata);
        }
        assert.deepStrictEqual([pgdataSubdir(17), pgdataSubdir(18)], ["pgdata", "data"]);
    });

    it("is restricted, with requests and limits, ephemeral storage included", () => {
        const pod = { spec: { securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } }, initContainers: [container], containers: [] } };
        assert.deepStrictEqual(restrictedViolations(pod), []);
        for (const side of ["requests", "limits"] as const) {
            assert.deepStrictEqual(Object.keys((container.resources as any)[side]).sort(), ["cpu", "ephemeral-storage", "memory"], side);
        }
    });
});
