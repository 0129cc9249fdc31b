import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { Pool } from "pg";
import { readConfig } from "../src/config";
import { databaseTls, poolConfig } from "../src/store";
import { PostgresServer, startPostgres } from "./support/services";
import { baseEnv, problems } from "./support/config";
import { createCa, issueServerCertificate, KeyPair } from "./support/tls";

describe("DATABASE_SSL_MODE and DATABASE_SSL_ROOT_CERT", () => {
    let dir: string;
    let ca: KeyPair;
    let caFile: string;

    before(() => {
        dir = mkdtempSync(path.join(tmpdir(), "standin-ssl-config-"));
        ca = createCa("config-test-ca");
        caFile = path.join(dir, "ca.crt");
        writeFileSync(caFile, ca.cert);
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it("defaults to disable: no TLS", () => {
        for (const env of [baseEnv, { ...baseEnv, DATABASE_SSL_MODE: "" }, { ...baseEnv, DATABASE_SSL_MODE: "disable", DATABASE_SSL_ROOT_CERT: "/nowhere" }]) {
            const config = readConfig(env);
            assert.deepEqual(config.database.ssl, { mode: "disable" });
            assert.equal(poolConfig(config).ssl, false);
        }
    });

    it("verify-full reads the CA file and keeps node's host name check", () => {
        const config = readConfig({ ...baseEnv, DATABASE_SSL_MODE: "verify-full", DATABASE_SSL_ROOT_CERT: caFile });
        assert.deepEqual(config.database.ssl, { mode: "verify-full", rootCertPath: caFile, ca: ca.cert });
        assert.deepEqual(poolConfig(config).ssl, { ca: ca.cert, rejectUnauthorized: true });
    });

    it("verify-ca reads the CA file and skips only the host name check", () => {
        const config = readConfig({ ...baseEnv, DATABASE_SSL_MODE: "verify-ca", DATABASE_SSL_ROOT_CERT: caFile });
        assert.deepEqual(config.database.ssl, { mode: "verify-ca", rootCertPath: caFile, ca: ca.cert });
        const { checkServerIdentity, ...rest } = databaseTls(config.database.ssl) as Exclude<ReturnType<typeof databaseTls>, false>;
        assert.deepEqual(rest, { ca: ca.cert, rejectUnauthorized: true });
        assert.equal(typeof checkServerIdentity, "function");
        assert.equal(checkServerIdentity!("elsewhere.example", {} as never), undefined);
    });

    it("verify-* needs DATABASE_SSL_ROOT_CERT, a readable PEM certificate", () => {
        const notPem = path.join(dir, "not-a-cert.pem");
        writeFileSync(notPem, "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n");
        const missing = path.join(dir, "missing.crt");
        assert.deepEqual(problems({ ...baseEnv, DATABASE_SSL_MODE: "verify-full" }), [
            "DATABASE_SSL_ROOT_CERT is not set (DATABASE_SSL_MODE = \"verify-full\" needs the CA certificate file)",
        ]);
        assert.deepEqual(problems({ ...baseEnv, DATABASE_SSL_MODE: "verify-ca", DATABASE_SSL_ROOT_CERT: missing }), [
            `DATABASE_SSL_ROOT_CERT = ${JSON.stringify(missing)} is not a readable file (ENOENT); expected the CA certificate (PEM)`,
        ]);
        assert.deepEqual(problems({ ...baseEnv, DATABASE_SSL_MODE: "verify-full", DATABASE_SSL_ROOT_CERT: dir }), [
            `DATABASE_SSL_ROOT_CERT = ${JSON.stringify(dir)} is not a readable file (EISDIR); expected the CA certificate (PEM)`,
        ]);
        assert.deepEqual(problems({ ...baseEnv, DATABASE_SSL_MODE: "verify-full", DATABASE_SSL_ROOT_CERT: notPem }), [
            `DATABASE_SSL_ROOT_CERT = ${JSON.stringify(notPem)} is not a PEM certificate; expected the CA certificate`,
        ]);
    });

    it("rejects any other mode, alongside the other problems", () => {
        for (const mode of ["require", "prefer", "VERIFY-FULL", "true"]) {
            assert.deepEqual(problems({ ...baseEnv, DATABASE_SSL_MODE: mode, DATABASE_SSL_ROOT_CERT: caFile }), [
                `DATABASE_SSL_MODE = ${JSON.stringify(mode)} is not one of disable, verify-ca, verify-full`,
            ]);
        }
        assert.deepEqual(problems({ ...baseEnv, DATABASE_HOST: "", DATABASE_SSL_MODE: "require" }), [
            "DATABASE_HOST is not set",
            "DATABASE_SSL_MODE = \"require\" is not one of disable, verify-ca, verify-full",
        ]);
    });
});

describe("TLS to a real PostgreSQL that accepts only TLS (hostssl)", () => {
    let dir: string;
    let pg: PostgresServer;
    /** The CA that signed the server's certificate, and an unrelated one. */
    const caFiles = { right: "", other: "" };

    before(async () => {
        dir = mkdtempSync(path.join(tmpdir(), "standin-ssl-"));
        const ca = createCa("test-database-ca");
        const other = createCa("some-other-ca");
        caFiles.right = path.join(dir, "ca.crt");
        caFiles.other = path.join(dir, "other-ca.crt");
        writeFileSync(caFiles.right, ca.cert);
        writeFileSync(caFiles.other, other.cert);
        // As CloudNativePG's server certificates do: host names only, no IP address.
        pg = await startPostgres({ tls: issueServerCertificate(ca, "DNS:localhost") });
    });
    after(async () => {
        await pg?.stop();
        rmSync(dir, { recursive: true, force: true });
    });

    /** Connects with the application's own pool settings for this environment and asks whether the session is TLS. */
    async function query(host: string, mode: string, caFile?: string): Promise<{ ssl: boolean; user: string }> {
        const config = readConfig({
            ...baseEnv,
            DATABASE_HOST: host,
            DATABASE_PORT: String(pg.port),
            DATABASE_NAME: pg.database,
            DATABASE_USER: pg.user,
            DATABASE_PASSWORD: pg.password,
            DATABASE_SSL_MODE: mode,
            DATABASE_SSL_ROOT_CERT: caFile,
            CHECK_TIMEOUT_MS: "3000",
        });
        const pool = new Pool(poolConfig(config));
        try {
            const { rows } = await pool.query("SELECT ssl, current_user AS user FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
            return rows[0];
        } finally {
            await pool.end();
        }
    }

    it("verify-full with the server's CA connects to the name in its certificate and runs a query", async () => {
        assert.deepEqual(await query("localhost", "verify-full", caFiles.right), { ssl: true, user: pg.user });
    });

    it("verify-full refuses a certificate another CA signed", async () => {
        await assert.rejects(query("localhost", "verify-full", caFiles.other), { code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" });
    });

    it("verify-full refuses a host the certificate does not name (127.0.0.1, the SAN being DNS:localhost only)", async () => {
        await assert.rejects(query("127.0.0.1", "verify-full", caFiles.right), {
            code: "ERR_TLS_CERT_ALTNAME_INVALID",
            message: /IP: 127\.0\.0\.1 is not in the cert's list/,
        });
    });

    it("verify-ca connects to that host with the right CA, and still refuses another CA", async () => {
        assert.deepEqual(await query("127.0.0.1", "verify-ca", caFiles.right), { ssl: true, user: pg.user });
        await assert.rejects(query("127.0.0.1", "verify-ca", caFiles.other), { code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" });
    });

    it("disable is refused: the server has no pg_hba entry without encryption", async () => {
        // ssl: false, not left unset: node-postgres would otherwise take TLS from PGSSLMODE.
        const saved = process.env.PGSSLMODE;
        process.env.PGSSLMODE = "require";
        try {
            await assert.rejects(query("localhost", "disable"), { code: "28000", message: /no pg_hba\.conf entry .* no encryption/ });
        } finally {
            if (saved === undefined) {
                delete process.env.PGSSLMODE;
            } else {
                process.env.PGSSLMODE = saved;
            }
        }
    });
});
