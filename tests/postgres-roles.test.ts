/**
 * The statefulset engine's roles as the real program registers them (Pulumi's mocks) for the local
 * stack with backups on: a Secret and generated password per role, the sidecar that applies them on
 * every start of the pod, and which Secret each workload logs in with. postgres-roles.sh itself runs
 * against real servers in tests/data/postgres-roles-script.test.ts.
 */
import * as assert from "assert";
import { mkdtempSync, readFileSync, rmSync } from "fs";
import { tmpdir } from "os";
import * as path from "path";
import { main } from "../cli/ops/cli";
import { withSuperuserCredentials } from "../cli/ops/backups";
import { postgresCredentialsPath, postgresRoles } from "../components/postgres";
import { postgresCredentialsVolume } from "../components/postgresBackup";
import { restrictedViolations } from "../analysis/podSecurity";
import { podTemplates } from "../analysis/podTemplates";
import { mockPassword, ProgramRun, runProgram, runStack, unwrapSecret } from "../harness/mockProgram";
import { projectRoot, stackConfig } from "../harness/stackConfig";
import { names } from "../lib/names";
import { createStandins, Standins } from "./support/standins";
import { PASSWORD, SECRET, STATEFUL_SET } from "./support/resourceTypes";

/** The local stack (the statefulset engine) with scheduled backups, as docs/postgres.md suggests trying them. */
const withBackups = { postgresBackupSchedule: "0 2 * * *" };

const podOf = (run: ProgramRun) => run.get(STATEFUL_SET, "postgres").inputs.spec.template.spec;
const containerIn = (spec: any, name: string) => [...(spec.initContainers ?? []), ...spec.containers].find((c: any) => c.name === name);
/** The Secret behind the volume a container mounts at `mountPath`. */
const mountedSecret = (spec: any, container: any, mountPath: string) => {
    const mount = container.volumeMounts.find((m: any) => m.mountPath === mountPath);
    assert.ok(mount, `${container.name} mounts ${mountPath}`);
    return spec.volumes.find((v: any) => v.name === mount.name).secret.secretName;
};

describe("PostgreSQL roles on the statefulset engine (Pulumi.local.yaml)", function () {
    this.timeout(120000);
    let run: ProgramRun;
    before(async () => {
        run = await runStack(stackConfig("local", withBackups), "local");
    });

    it("runs postgres-roles.sh on every start of the pod in a native sidecar of the server's image: its own uid, small resources, no probe to gate the database", () => {
        const pod = podOf(run);
        // After the start-up guard (which must finish first), as a native sidecar beside the server.
        assert.deepStrictEqual(pod.initContainers.map((c: any) => c.name), ["data-check", names.postgres.rolesContainer]);
        const roles = pod.initContainers.find((c: any) => c.name === names.postgres.rolesContainer);
        const server = containerIn(pod, names.postgres.container);
        assert.strictEqual(roles.restartPolicy, "Always", "a native sidecar: started before the server, restarted if it exits");
        assert.strictEqual(roles.image, server.image);
        assert.deepStrictEqual(roles.command, ["sh", "/scripts/postgres-roles.sh", "--watch"]);
        for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
            assert.strictEqual(roles[probe], undefined, `no ${probe}: the sidecar never holds the server back or makes the pod unready`);
        }
        assert.deepStrictEqual([roles.securityContext.runAsUser, roles.securityContext.runAsGroup], [10004, 10004], "owns no data: not the image's postgres user");
        assert.strictEqual(roles.securityContext.readOnlyRootFilesystem, true);
        for (const side of ["requests", "limits"]) {
            assert.deepStrictEqual(Object.keys(roles.resources[side]).sort(), ["cpu", "ephemeral-storage", "memory"], side);
        }
        const env = Object.fromEntries(roles.env.map((e: any) => [e.name, e.value]));
        assert.strictEqual(env.PGHOST, "127.0.0.1", "the server on loopback: no NetworkPolicy involved");
        assert.deepStrictEqual(
            ["SUPERUSER_CREDENTIALS", "API_CREDENTIALS", "EXPORTER_CREDENTIALS", "BACKUP_CREDENTIALS"].map((k) => mountedSecret(pod, roles, env[k])),
            [names.postgres.superuserSecret, names.postgres.secret, names.postgres.exporterSecret, names.postgres.backupSecret],
        );
        assert.ok(!roles.env.some((e: any) => e.valueFrom), "no credential in the environment");
        // The script ships in a ConfigMap named for its content: the pod runs exactly the file the tests run.
        const scripts = pod.volumes.find((v: any) => v.name === roles.volumeMounts.find((m: any) => m.mountPath === "/scripts").name).configMap;
        const configMap = run.ofType("kubernetes:core/v1:ConfigMap").find((c) => c.inputs.metadata.name === scripts.name)!;
        assert.match(configMap.inputs.metadata.name, /^postgres-scripts-[a-f0-9]{10}$/);
        assert.strictEqual(configMap.inputs.data["postgres-roles.sh"], readFileSync(path.join(projectRoot, "components", "assets", "postgres-roles.sh"), "utf8"));
    });

    it("bootstraps a new volume with the superuser postgres: the server mounts only the superuser's Secret", () => {
        const pod = podOf(run);
        const server = containerIn(pod, names.postgres.container);
        const env = Object.fromEntries(server.env.map((e: any) => [e.name, e.value]));
        assert.deepStrictEqual(
            [env.POSTGRES_USER_FILE, env.POSTGRES_PASSWORD_FILE, env.POSTGRES_DB],
            [`${postgresCredentialsPath}/username`, `${postgresCredentialsPath}/password`, "healthcare"],
        );
        const mounted = server.volumeMounts.map((m: any) => pod.volumes.find((v: any) => v.name === m.name)).filter((v: any) => v?.secret);
        assert.deepStrictEqual(mounted.map((v: any) => v.secret.secretName), [names.postgres.superuserSecret]);
        const superuser = unwrapSecret(run.get(SECRET, names.postgres.superuserSecret).inputs.stringData) as Record<string, string>;
        assert.deepStrictEqual(superuser, { username: "postgres", password: mockPassword("postgres-superuser-password") });
    });

    it("gives the API, the exporter and the backups three different Secrets, each its own role's with its own password, none the superuser's", () => {
        const api = containerIn(run.get("kubernetes:apps/v1:Deployment", "healthcare-api").inputs.spec.template.spec, "api");
        const apiSecrets = new Set(api.env.filter((e: any) => e.name.startsWith("DATABASE_")).map((e: any) => e.valueFrom.secretKeyRef.name));
        assert.strictEqual(apiSecrets.size, 1);
        const [apiSecret] = apiSecrets;
        const pod = podOf(run);
        const exporterSecret = mountedSecret(pod, containerIn(pod, "exporter"), postgresCredentialsPath);
        const backupPod = run.get("kubernetes:batch/v1:CronJob", "postgres-backup").inputs.spec.jobTemplate.spec.template.spec;
        const backupSecret = mountedSecret(backupPod, containerIn(backupPod, names.postgresBackup.dumpContainer), postgresCredentialsPath);

        assert.deepStrictEqual([apiSecret, exporterSecret, backupSecret], [names.postgres.secret, names.postgres.exporterSecret, names.postgres.backupSecret]);
        assert.strictEqual(new Set([apiSecret, exporterSecret, backupSecret]).size, 3);
        assert.ok(![apiSecret, exporterSecret, backupSecret].includes(names.postgres.superuserSecret));
        assert.strictEqual(run.outputs.postgresSecretName, names.postgres.secret, "the stack exports the API's Secret");

        const data = (secret: string) => unwrapSecret(run.get(SECRET, secret).inputs.stringData) as Record<string, string>;
        // The API's Secret and password keep the names and keys they had: existing stacks keep the API's password.
        assert.deepStrictEqual(data(names.postgres.secret), { username: "healthcare", database: "healthcare", password: mockPassword("postgres-password") });
        assert.deepStrictEqual(data(names.postgres.exporterSecret), { username: postgresRoles.exporter, password: mockPassword("postgres-exporter-password") });
        assert.deepStrictEqual(data(names.postgres.backupSecret), { username: postgresRoles.backup, password: mockPassword("postgres-backup-password") });
        assert.deepStrictEqual(
            run.ofType(PASSWORD).map((p) => p.name).sort(),
            [
                "postgres-backup-password",
                "postgres-exporter-password",
                "postgres-password",
                "postgres-superuser-password",
                ...["api", "exporter", "maintenance", "node", "replication"].map((u) => `redis-${u}-password`),
            ],
        );
    });

    it("protects every role's password and Secret where data is protected, like the API's", async () => {
        const protectedRun = await runStack(stackConfig("local", { ...withBackups, protectData: true }), "local");
        for (const [type, name] of [
            [SECRET, names.postgres.secret],
            [SECRET, names.postgres.superuserSecret],
            [SECRET, names.postgres.exporterSecret],
            [SECRET, names.postgres.backupSecret],
            [PASSWORD, "postgres-password"],
            [PASSWORD, "postgres-superuser-password"],
            [PASSWORD, "postgres-exporter-password"],
            [PASSWORD, "postgres-backup-password"],
        ]) {
            const resource = protectedRun.get(type, name);
            assert.deepStrictEqual([resource.options.protect, resource.options.retainOnDelete], [true, true], `${type} ${name}`);
        }
    });

    it("every pod template passes Pod Security restricted, the sidecar's too", () => {
        const templates = podTemplates(run.resources);
        const owners = templates.map((t) => t.owner);
        for (const expected of ["StatefulSet/postgres", "CronJob/postgres-backup", "Deployment/healthcare-api"]) {
            assert.ok(owners.includes(expected), `found ${expected} among ${owners.join(", ")}`);
        }
        for (const template of templates) {
            assert.deepStrictEqual(restrictedViolations(template), [], template.owner);
        }
    });

    it("npm run ops -- restore runs its Job with the superuser's Secret in place of the backup role's, still restricted", () => {
        const cronJob = { apiVersion: "batch/v1", kind: "CronJob", ...run.get("kubernetes:batch/v1:CronJob", "postgres-backup").inputs };
        const complete = JSON.stringify({ status: { conditions: [{ type: "Complete", status: "True" }] } });
        const standins: Standins = createStandins({
            kindClusters: ["healthcare"],
            kubeContexts: ["kind-healthcare"],
            dockerDaemon: true,
            pulumiLoggedIn: false,
            stacks: {},
            kubectlReplies: [
                { match: "get cronjob postgres-backup -o json", stdout: JSON.stringify(cronJob) },
                { match: "get job postgres-backup-list", stdout: complete },
                { match: "logs job/postgres-backup-list", stdout: "local 20250101T020000Z 1024" },
                { match: "get job postgres-restore", stdout: complete },
                { match: "logs job/postgres-restore", stdout: "restored 20250101T020000Z healthcare postgres" },
            ],
        });
        const root = mkdtempSync(path.join(tmpdir(), "ops-restore-"));
        try {
            const output: string[] = [];
            main(["restore", "20250101T020000Z", "--yes", "--stack", "local"], {
                env: { PATH: standins.bin },
                say: (l) => output.push(l),
                root,
                overrides: withBackups,
                backup: { now: () => new Date("2025-01-02T03:04:05Z"), pollMs: 0, ask: () => undefined },
            });
            const created = standins.calls().find((c) => c.stdin && JSON.parse(c.stdin).metadata.name.startsWith("postgres-restore-"));
            assert.ok(created, "a restore Job was created");
            const job = JSON.parse(created.stdin!);
            const spec = job.spec.template.spec;
            assert.strictEqual(mountedSecret(spec, containerIn(spec, "restore"), postgresCredentialsPath), names.postgres.superuserSecret);
            assert.deepStrictEqual(restrictedViolations(job.spec.template), []);
            assert.strictEqual(output[output.length - 1], "restored backup 20250101T020000Z into stack local: database(s) healthcare postgres");
        } finally {
            standins.remove();
            rmSync(root, { recursive: true, force: true });
        }
        // A CronJob deployed before the roles were split mounts the API's Secret, a superuser then: kept.
        const old = { volumes: [{ name: postgresCredentialsVolume, secret: { secretName: names.postgres.secret, defaultMode: 0o440 } }] };
        assert.strictEqual(withSuperuserCredentials(structuredClone(old)).volumes[0].secret.secretName, names.postgres.secret);
    });

    it("refuses an API role named like one of the server's own roles, and PostgreSQL older than 14", async () => {
        for (const [overrides, message] of [
            [{ postgresUser: "postgres" }, /settings\.user "postgres" is the name of one of the server's own roles/],
            [{ postgresUser: "postgres_backup" }, /settings\.user "postgres_backup" is the name of one of the server's own roles/],
            [{ postgresVersion: "13.22" }, /settings\.majorVersion 13: the statefulset engine's backup role needs pg_read_all_data \(PostgreSQL 14 or later\)/],
        ] as const) {
            const { error } = await runProgram(stackConfig("local", overrides), "local");
            assert.ok(error, `refused: ${JSON.stringify(overrides)}`);
            assert.match(error.message, message);
        }
    });
});
