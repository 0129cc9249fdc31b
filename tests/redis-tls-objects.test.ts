import * as assert from "assert";
import { redisAclLines, redisConfig, redisTlsLines, redisUsers } from "../components/redisCluster";
import { parseSettings } from "../config";
import { ProgramRun, runProgram, runStack, unwrapSecret } from "../harness/mockProgram";
import { shippedStacks, stackConfig } from "../harness/stackConfig";
import { CERTIFICATE, ISSUER, STATEFUL_SET } from "./support/resourceTypes";

const users = Object.keys(redisUsers) as (keyof typeof redisUsers)[];

const settingsOf = (stack: string, overrides: Record<string, unknown> = {}) => {
    const values = Object.fromEntries(Object.entries(stackConfig(stack, overrides)).map(([k, v]) => [k.replace(/^healthcare-backend:/, ""), v]));
    return parseSettings({ project: "healthcare-backend", stack, get: (k) => values[k], keys: () => Object.keys(values) });
};
const redisPod = (run: ProgramRun) => run.get(STATEFUL_SET, "redis-cluster").inputs.spec.template.spec;
const containerOf = (spec: any, name: string) => spec.containers.find((c: any) => c.name === name);
const envOf = (container: any) => Object.fromEntries(container.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
const secretRef = (key: string) => ({ secretKeyRef: { name: "redis-credentials", key } });

/** Every container and init container of every workload the run registers. */
function containers(run: ProgramRun): { owner: string; container: any }[] {
    const podSpecOf = (r: any) => r.inputs.spec?.jobTemplate?.spec?.template?.spec ?? r.inputs.spec?.template?.spec;
    return run.resources
        .filter((r) => /:(Deployment|StatefulSet|Job|CronJob|DaemonSet)$/.test(r.type) && podSpecOf(r))
        .flatMap((r) => [...(podSpecOf(r).containers ?? []), ...(podSpecOf(r).initContainers ?? [])].map((container: any) => ({ owner: `${r.type} ${r.name}`, container })));
}

describe("Redis TLS and ACL users, as each shipped stack renders them", () => {
    for (const stack of shippedStacks) {
        describe(`Pulumi.${stack}.yaml`, () => {
            let run: ProgramRun;
            before(async () => {
                run = await runStack(stackConfig(stack), stack);
            });

            it("redisTls is on: redis.conf serves TLS only on 6379 (port 0), for replication and the cluster bus too, with the mounted certificate", () => {
                assert.strictEqual(settingsOf(stack).redis.tls, true);
                const config: string = run.get("kubernetes:core/v1:ConfigMap", "redis-cluster-config").inputs.data["redis.conf"];
                assert.strictEqual(config, redisConfig(settingsOf(stack).redis));
                for (const line of redisTlsLines()) {
                    assert.match(config, new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`, "m"));
                }
                assert.doesNotMatch(config, /^port 6379$/m, "no plain-text port");
                assert.match(config, /^tls-auth-clients optional$/m);
            });

            it("redis.conf turns the default user off and defines each user by its password's placeholder, never a password", () => {
                const config: string = run.get("kubernetes:core/v1:ConfigMap", "redis-cluster-config").inputs.data["redis.conf"];
                assert.match(config, /^user default off resetpass resetkeys resetchannels -@all$/m);
                assert.deepStrictEqual(
                    config.split("\n").filter((l) => l.startsWith("user ")),
                    [
                        "user default off resetpass resetkeys resetchannels -@all",
                        `user healthcare-api on #{REDIS_API_PASSWORD} ${redisUsers.api.rules}`,
                        `user exporter on #{REDIS_EXPORTER_PASSWORD} ${redisUsers.exporter.rules}`,
                        `user maintenance on #{REDIS_MAINTENANCE_PASSWORD} ${redisUsers.maintenance.rules}`,
                        `user node on #{REDIS_NODE_PASSWORD} ${redisUsers.node.rules}`,
                        `user replication on #{REDIS_REPLICATION_PASSWORD} ${redisUsers.replication.rules}`,
                    ],
                );
                assert.match(config, /^masteruser replication$/m);
                assert.doesNotMatch(config, /requirepass|masterauth|mock-secret/, "passwords reach the pod through its environment only");
                assert.deepStrictEqual(redisAclLines().filter((l) => l.startsWith("user ")).length, users.length + 1);
                // What the API's user must never have: everything @admin and @dangerous is taken away last.
                assert.match(redisUsers.api.rules, /-@admin -@dangerous$/);
            });

            it("issues the nodes' certificate from an issuer of the stack's own: self-signed Issuer -> CA Certificate -> CA Issuer -> nodes' Certificate", () => {
                const namespace = settingsOf(stack).namespace;
                const selfSigned = run.get(ISSUER, "redis-selfsigned-issuer").inputs;
                assert.deepStrictEqual(selfSigned.spec, { selfSigned: {} });
                assert.strictEqual(selfSigned.metadata.namespace, namespace);
                const ca = run.get(CERTIFICATE, "redis-ca-certificate").inputs.spec;
                assert.strictEqual(ca.isCA, true);
                assert.deepStrictEqual(ca.issuerRef, { name: "redis-selfsigned", kind: "Issuer", group: "cert-manager.io" });
                assert.strictEqual(ca.secretName, "redis-ca");
                assert.strictEqual(ca.privateKey.rotationPolicy, "Never", "a renewed CA keeps its key: clients that loaded the old CA certificate still verify");
                assert.deepStrictEqual(run.get(ISSUER, "redis-ca-issuer").inputs.spec, { ca: { secretName: "redis-ca" } });
                const nodes = run.get(CERTIFICATE, "redis-cluster-tls-certificate").inputs.spec;
                assert.deepStrictEqual(nodes.issuerRef, { name: "redis-ca", kind: "Issuer", group: "cert-manager.io" });
                assert.strictEqual(nodes.secretName, "redis-cluster-tls");
                assert.deepStrictEqual(nodes.dnsNames, [
                    "redis-cluster",
                    "redis-cluster-headless",
                    `redis-cluster-headless.${namespace}.svc.cluster.local`,
                    `*.redis-cluster-headless.${namespace}.svc.cluster.local`,
                ]);
                assert.deepStrictEqual(nodes.ipAddresses, ["127.0.0.1"]);
                assert.deepStrictEqual(nodes.usages, ["server auth", "client auth", "digital signature", "key encipherment"]);
                // Renewed well before it expires; the liveness probe reloads it.
                assert.ok(parseInt(nodes.renewBefore) < parseInt(nodes.duration));
                if (stack === "local") {
                    // cert-manager is this stack's add-on: its issuers wait for its release.
                    const certManager = run.get("kubernetes:helm.sh/v3:Release", "cert-manager").urn!;
                    assert.ok(run.get(ISSUER, "redis-selfsigned-issuer").options.dependsOn.includes(certManager));
                }
            });

            it("one generated password per user in redis-credentials; each container gets only its own, by reference", () => {
                const data = unwrapSecret(run.get("kubernetes:core/v1:Secret", "redis-credentials").inputs.stringData) as Record<string, string>;
                assert.deepStrictEqual(Object.keys(data).sort(), users.map((u) => `${u}-password`).sort());
                const spec = redisPod(run);
                const redis = envOf(containerOf(spec, "redis"));
                for (const u of users) {
                    assert.deepStrictEqual(redis[`REDIS_${u.toUpperCase()}_PASSWORD`], secretRef(`${u}-password`));
                }
                assert.strictEqual(redis.REDIS_USER, "node");
                assert.deepStrictEqual(redis.REDISCLI_AUTH, secretRef("node-password"));
                assert.strictEqual(redis.REDIS_TLS, "1");
                assert.strictEqual(redis.REDIS_TLS_CA_FILE, "/etc/redis/tls/ca.crt");
                assert.deepStrictEqual(spec.volumes.find((v: any) => v.name === "tls").secret, { secretName: "redis-cluster-tls", defaultMode: 0o440 });
                assert.deepStrictEqual(containerOf(spec, "redis").volumeMounts.find((m: any) => m.name === "tls"), { name: "tls", mountPath: "/etc/redis/tls", readOnly: true });
                const exporter = containerOf(spec, "exporter");
                if (exporter) {
                    const env = envOf(exporter);
                    assert.strictEqual(env.REDIS_ADDR, "rediss://127.0.0.1:6379");
                    assert.strictEqual(env.REDIS_USER, "exporter");
                    assert.deepStrictEqual(env.REDIS_PASSWORD, secretRef("exporter-password"));
                    assert.strictEqual(env.REDIS_EXPORTER_CONFIG_COMMAND, "-", "CONFIG GET is not the exporter's: it would return masterauth");
                    assert.strictEqual(env.REDIS_EXPORTER_TLS_CA_CERT_FILE, "/etc/redis-ca/ca.crt");
                    assert.deepStrictEqual(exporter.volumeMounts, [{ name: "redis-ca", mountPath: "/etc/redis-ca", readOnly: true }], "the CA only, never the nodes' key");
                }
                for (const job of run.resources.filter((r) => r.type === "kubernetes:batch/v1:Job" && r.name.startsWith("redis-cluster"))) {
                    const env = envOf(job.inputs.spec.template.spec.containers[0]);
                    assert.strictEqual(env.REDIS_USER, "maintenance", job.name);
                    assert.deepStrictEqual(env.REDISCLI_AUTH, secretRef("maintenance-password"), job.name);
                    assert.strictEqual(env.REDIS_TLS_CA_FILE, "/etc/redis-ca/ca.crt", job.name);
                }
                const api = run.get("kubernetes:apps/v1:Deployment", "healthcare-api").inputs.spec.template.spec.containers[0];
                assert.deepStrictEqual(
                    api.env.filter((e: any) => e.name.startsWith("REDIS")).map((e: any) => [e.name, e.valueFrom.secretKeyRef.key]),
                    [["REDIS_PASSWORD", "api-password"]],
                );
            });

            it("no password in any container's command, args or plain env values, nor in the outputs", () => {
                const passwords = Object.values(unwrapSecret(run.get("kubernetes:core/v1:Secret", "redis-credentials").inputs.stringData) as Record<string, string>);
                for (const { owner, container } of containers(run)) {
                    const visible = JSON.stringify([container.command ?? [], container.args ?? [], (container.env ?? []).map((e: any) => e.value ?? "")]);
                    for (const password of passwords) {
                        assert.ok(!visible.includes(password), `${owner} ${container.name} shows a Redis password in argv or env values`);
                    }
                    assert.ok(!visible.includes("mock-secret"), `${owner} ${container.name} shows a secret`);
                }
                assert.ok(!JSON.stringify(run.outputs).includes("mock-secret"));
            });
        });
    }

    it("redisTls false: plain TCP on 6379, no issuer or certificate, no CA mounted; the ACL users stay", async () => {
        const run = await runStack(stackConfig("staging", { redisTls: false }), "staging");
        const config: string = run.get("kubernetes:core/v1:ConfigMap", "redis-cluster-config").inputs.data["redis.conf"];
        assert.match(config, /^port 6379$/m);
        assert.doesNotMatch(config, /tls-/);
        assert.match(config, /^user default off/m);
        assert.deepStrictEqual([...run.ofType(ISSUER), ...run.ofType(CERTIFICATE)], []);
        assert.ok(!redisPod(run).volumes.some((v: any) => v.secret?.secretName === "redis-cluster-tls"));
        const redis = envOf(containerOf(redisPod(run), "redis"));
        assert.strictEqual(redis.REDIS_TLS, undefined);
        const apiConfig = run.get("kubernetes:core/v1:ConfigMap", "healthcare-api-config").inputs.data;
        assert.strictEqual(apiConfig.REDIS_USERNAME, "healthcare-api");
        assert.strictEqual(apiConfig.REDIS_TLS_CA_FILE, undefined);
    });

    it("rejects a redisTls that is not a boolean, naming the setting, the value and what it takes, before registering anything", async () => {
        const { error, resources } = await runProgram(stackConfig("production", { redisTls: "yes" }), "production");
        assert.strictEqual(error?.name, "SettingsError", error?.stack);
        assert.match(error!.message, /healthcare-backend:redisTls = "yes" is invalid/);
        assert.match(error!.message, /true or false/);
        assert.deepStrictEqual(resources, []);
    });
});
