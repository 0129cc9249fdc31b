import { execFileSync } from "child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";

/**
 * Throwaway certificates made with the `openssl` command: P-256 keys (quick to generate), valid
 * for a day, PEM text throughout.
 */

export interface KeyPair {
    cert: string;
    key: string;
}

const newKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** Runs `openssl` with each argument list in a scratch folder, returns the certificate and key files it made. */
function openssl(inputs: Record<string, string>, commands: string[][], outputs: { cert: string; key: string }): KeyPair {
    const dir = mkdtempSync(path.join(tmpdir(), "standin-tls-"));
    try {
        for (const [name, content] of Object.entries(inputs)) {
            writeFileSync(path.join(dir, name), content, { mode: 0o600 });
        }
        for (const args of commands) {
            execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
        }
        return { cert: readFileSync(path.join(dir, outputs.cert), "utf8"), key: readFileSync(path.join(dir, outputs.key), "utf8") };
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
}

/** A self-signed CA certificate and its key. */
export function createCa(commonName: string): KeyPair {
    return openssl(
        {},
        [[
            "req", "-x509", ...newKey, "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", `/CN=${commonName}`,
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ]],
        { cert: "ca.crt", key: "ca.key" },
    );
}

/**
 * A server certificate `ca` signs, naming only `subjectAltName` (e.g. "DNS:localhost"); the
 * subject's common name is not a host name, so clients match on the SAN alone.
 */
export function issueServerCertificate(ca: KeyPair, subjectAltName: string): KeyPair {
    const extensions = [`subjectAltName=${subjectAltName}`, "basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature", "extendedKeyUsage=serverAuth", ""];
    return openssl(
        { "ca.crt": ca.cert, "ca.key": ca.key, "server.ext": extensions.join("\n") },
        [
            ["req", "-new", ...newKey, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=test-postgres-server"],
            ["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-set_serial", "2", "-days", "1", "-extfile", "server.ext", "-out", "server.crt"],
        ],
        { cert: "server.crt", key: "server.key" },
    );
}
