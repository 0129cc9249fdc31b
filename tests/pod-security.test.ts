/**
 * Pod Security `restricted` on every pod template of every shipped stack (and of staging on the
 * statefulset engine, which renders the PostgreSQL StatefulSet and the backup CronJob), found by shape
 * so that a new kind (CronJob, DaemonSet, a bare Pod) is checked without changing this file; that the
 * CloudNativePG resources leave the operator's restricted security contexts alone (it renders those
 * pods, not the program); and the checker itself, against templates that break one rule each.
 */
import * as assert from "assert";
import { podSecurityLevel } from "../components/restrictedNamespace";
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from "../lib/security";
import { CapturedResource, runStack } from "../harness/mockProgram";
import { restrictedViolations } from "../analysis/podSecurity";
import { podTemplates } from "../analysis/podTemplates";
import { shippedStacks, stackConfig, onStatefulSetEngine } from "../harness/stackConfig";

/** Staging's shape on the statefulset engine: one server on a StatefulSet, backups by the CronJob. */

/** Every shipped stack, and staging on the statefulset engine (its StatefulSet and backup CronJob). */
const cases = [
    ...shippedStacks.map((stack) => ({ title: `Pulumi.${stack}.yaml`, stack, overrides: {} })),
    { title: "Pulumi.staging.yaml on the statefulset engine", stack: "staging", overrides: onStatefulSetEngine },
];

/** A compliant template built from lib/security.ts, as the components build theirs. */
function compliant(): { metadata: { annotations: Record<string, string> }; spec: any } {
    return {
        metadata: { annotations: {} },
        spec: {
            securityContext: restrictedPodSecurityContext(10001),
            initContainers: [{ name: "init", securityContext: restrictedContainerSecurityContext() }],
            containers: [{ name: "app", ports: [{ name: "http", containerPort: 8080 }], securityContext: restrictedContainerSecurityContext() }],
            volumes: [
                { name: "tmp", emptyDir: {} },
                { name: "config", configMap: { name: "c" } },
                { name: "data", persistentVolumeClaim: { claimName: "d" } },
            ],
        },
    };
}

/** One rule broken at a time: how to break it, and the field the checker must name. */
const breaks: [rule: string, mutate: (t: ReturnType<typeof compliant>) => void, field: RegExp][] = [
    ["host network", (t) => (t.spec.hostNetwork = true), /spec\.hostNetwork/],
    ["host PID", (t) => (t.spec.hostPID = true), /spec\.hostPID/],
    ["host IPC", (t) => (t.spec.hostIPC = true), /spec\.hostIPC/],
    ["privileged container", (t) => (t.spec.containers[0].securityContext.privileged = true), /container app securityContext\.privileged/],
    ["privileged init container", (t) => (t.spec.initContainers[0].securityContext.privileged = true), /container init securityContext\.privileged/],
    ["host port", (t) => (t.spec.containers[0].ports[0].hostPort = 8080), /hostPort/],
    ["hostPath volume", (t) => t.spec.volumes.push({ name: "host", hostPath: { path: "/" } }), /spec\.volumes\[host\]: type hostPath/],
    ["nfs volume", (t) => t.spec.volumes.push({ name: "share", nfs: { server: "s", path: "/" } }), /spec\.volumes\[share\]: type nfs/],
    ["privilege escalation allowed", (t) => (t.spec.containers[0].securityContext.allowPrivilegeEscalation = true), /allowPrivilegeEscalation: must be false/],
    ["privilege escalation unset", (t) => delete t.spec.initContainers[0].securityContext.allowPrivilegeEscalation, /container init securityContext\.allowPrivilegeEscalation/],
    ["runAsNonRoot false at pod level", (t) => (t.spec.securityContext.runAsNonRoot = false), /spec\.securityContext\.runAsNonRoot/],
    [
        "runAsNonRoot set nowhere",
        (t) => {
            delete t.spec.securityContext.runAsNonRoot;
            delete t.spec.containers[0].securityContext.runAsNonRoot;
        },
        /container app securityContext\.runAsNonRoot: must be true/,
    ],
    ["root uid at pod level", (t) => (t.spec.securityContext.runAsUser = 0), /spec\.securityContext\.runAsUser: must not be 0/],
    ["root uid in a container", (t) => (t.spec.containers[0].securityContext.runAsUser = 0), /container app securityContext\.runAsUser/],
    ["seccomp Unconfined", (t) => (t.spec.containers[0].securityContext.seccompProfile = { type: "Unconfined" }), /seccompProfile\.type: Unconfined/],
    [
        "seccomp set nowhere",
        (t) => {
            delete t.spec.securityContext.seccompProfile;
            delete t.spec.initContainers[0].securityContext.seccompProfile;
        },
        /container init securityContext\.seccompProfile\.type: must be RuntimeDefault or Localhost/,
    ],
    ["capabilities not dropped", (t) => (t.spec.containers[0].securityContext.capabilities = { drop: ["NET_RAW"] }), /capabilities\.drop: must include ALL/],
    ["capability added", (t) => (t.spec.containers[0].securityContext.capabilities.add = ["SYS_ADMIN"]), /capabilities\.add: SYS_ADMIN/],
    ["unmasked /proc", (t) => (t.spec.containers[0].securityContext.procMount = "Unmasked"), /procMount: Unmasked/],
    ["custom SELinux user", (t) => (t.spec.securityContext.seLinuxOptions = { user: "system_u" }), /seLinuxOptions: user and role/],
    ["AppArmor unconfined", (t) => (t.spec.containers[0].securityContext.appArmorProfile = { type: "Unconfined" }), /appArmorProfile\.type: Unconfined/],
    ["AppArmor annotation unconfined", (t) => (t.metadata.annotations["container.apparmor.security.beta.kubernetes.io/app"] = "unconfined"), /metadata\.annotations/],
    ["unsafe sysctl", (t) => (t.spec.securityContext.sysctls = [{ name: "kernel.msgmax", value: "1" }]), /kernel\.msgmax is not a safe sysctl/],
    ["Windows host process", (t) => (t.spec.securityContext.windowsOptions = { hostProcess: true }), /hostProcess/],
    [
        "ephemeral debug container without a security context",
        (t) => (t.spec.ephemeralContainers = [{ name: "debug" }]),
        /container debug securityContext\.allowPrivilegeEscalation/,
    ],
];

describe("Pod Security restricted", () => {
    describe("the checker", () => {
        it("passes the contexts lib/security.ts builds, with NET_BIND_SERVICE as the one capability allowed back", () => {
            assert.deepStrictEqual(restrictedViolations(compliant()), []);
            const withBind = compliant();
            withBind.spec.containers[0].securityContext.capabilities.add = ["NET_BIND_SERVICE"];
            assert.deepStrictEqual(restrictedViolations(withBind), []);
            const perContainer = compliant();
            delete perContainer.spec.securityContext.seccompProfile;
            delete perContainer.spec.securityContext.runAsNonRoot;
            assert.deepStrictEqual(restrictedViolations(perContainer), [], "seccomp and runAsNonRoot may be set on every container instead");
        });

        for (const [rule, mutate, field] of breaks) {
            it(`catches ${rule}`, () => {
                const template = compliant();
                mutate(template);
                const problems = restrictedViolations(template);
                assert.ok(problems.some((p) => field.test(p)), `expected a problem matching ${field}, got ${JSON.stringify(problems)}`);
            });
        }
    });

    it("finds pod templates by shape in any kind: CronJob, DaemonSet, a bare Pod", () => {
        const resource = (type: string, name: string, inputs: any): CapturedResource => ({
            type,
            name,
            inputs: { metadata: { name, namespace: "ns" }, ...inputs },
            provider: "",
            custom: true,
            options: { protect: false, retainOnDelete: false, ignoreChanges: [], dependsOn: [] },
        });
        const pod = (label: string) => ({ metadata: { labels: { app: label } }, spec: { containers: [{ name: label }] } });
        const found = podTemplates([
            resource("kubernetes:batch/v1:CronJob", "nightly", { spec: { jobTemplate: { spec: { template: pod("nightly") } } } }),
            resource("kubernetes:apps/v1:DaemonSet", "agent", { spec: { template: pod("agent") } }),
            resource("kubernetes:core/v1:Pod", "debug", { spec: pod("debug").spec }),
            resource("kubernetes:core/v1:ConfigMap", "config", { data: { "spec.yaml": "containers: []" } }),
        ]);
        assert.deepStrictEqual(
            found.map((t) => [t.owner, t.namespace, t.spec.containers[0].name]),
            [
                ["CronJob/nightly", "ns", "nightly"],
                ["DaemonSet/agent", "ns", "agent"],
                ["Pod/debug", "ns", "debug"],
            ],
        );
    });

    it("the backup CronJob complies with object storage on too (an rclone container after the dump), and so do the Jobs npm run ops builds from it", async () => {
        // The backup CronJob runs with the statefulset engine (CloudNativePG backs up by itself): staging's shape on it.
        const run = await runStack(
            stackConfig("staging", {
                ...onStatefulSetEngine,
                postgresBackupS3Endpoint: "https://s3.example.com",
                postgresBackupS3Bucket: "clinic-backups",
                postgresBackupS3CredentialsSecret: "backup-s3",
                postgresBackupS3Egress: "198.51.100.0/24:443",
            }),
            "staging",
        );
        const [template] = podTemplates(run.resources).filter((t) => t.owner === "CronJob/postgres-backup");
        assert.deepStrictEqual([...template.spec.initContainers, ...template.spec.containers].map((c: any) => c.name), ["dump", "upload"]);
        assert.deepStrictEqual(restrictedViolations(template), []);
    });

    for (const { title, stack, overrides } of cases) {
        it(`${title}: every pod template complies, in a namespace that enforces restricted`, async () => {
            const config = stackConfig(stack, overrides);
            const run = await runStack(config, stack);
            const templates = podTemplates(run.resources);
            const owners = templates.map((t) => t.owner);
            const get = (key: string) => config[`healthcare-backend:${key}`] ?? "";
            const onStatefulSet = get("postgresEngine") === "statefulset";
            // The statefulset engine's server, and its backup CronJob where a schedule is set (local has
            // none); CloudNativePG's pods are the operator's, of which the program renders only the
            // Pooler's partial template.
            const postgres = onStatefulSet ? ["StatefulSet/postgres", ...(get("postgresBackupSchedule") ? ["CronJob/postgres-backup"] : [])] : ["Pooler/postgres-pooler"];
            for (const expected of ["Deployment/healthcare-api", "StatefulSet/redis-cluster", "Job/redis-cluster-scale-in", "Job/redis-cluster-reconcile", ...postgres]) {
                assert.ok(owners.includes(expected), `found ${expected} among ${owners.join(", ")}`);
            }
            for (const template of templates) {
                assert.deepStrictEqual(restrictedViolations(template), [], template.owner);
            }
            assert.strictEqual(owners.includes("CronJob/postgres-backup"), postgres.includes("CronJob/postgres-backup"));
            assert.strictEqual(owners.includes("StatefulSet/postgres"), onStatefulSet);

            const [namespace] = run.ofType("kubernetes:core/v1:Namespace");
            const labels = namespace.inputs.metadata.labels;
            assert.strictEqual(labels["pod-security.kubernetes.io/enforce"], "restricted");
            assert.strictEqual(podSecurityLevel, "restricted");
            assert.strictEqual(labels["pod-security.kubernetes.io/enforce-version"], "latest");
            for (const template of templates) {
                assert.strictEqual(template.namespace, namespace.inputs.metadata.name, `${template.owner} runs in the enforcing namespace`);
            }
        });
    }

    for (const stack of shippedStacks.filter((s) => stackConfig(s)["healthcare-backend:postgresEngine"] === "cloudnative-pg")) {
        it(`Pulumi.${stack}.yaml: leaves CloudNativePG's restricted security contexts to the operator (the Cluster and the Pooler override none)`, async () => {
            // The operator's defaults meet restricted: pod runAsNonRoot, seccomp RuntimeDefault; every container
            // drops ALL, no privilege escalation, read-only root (pkg/specs/pods.go GetPodSecurityContext,
            // containers.go GetSecurityContext; pgbouncer/deployments.go). Fields left unset take them.
            const run = await runStack(stackConfig(stack), stack);
            const [cluster] = run.ofType("kubernetes:postgresql.cnpg.io/v1:Cluster");
            assert.ok(cluster, "a Cluster");
            assert.strictEqual(cluster.inputs.metadata.namespace, run.ofType("kubernetes:core/v1:Namespace")[0].inputs.metadata.name);
            for (const field of ["podSecurityContext", "securityContext"]) {
                assert.strictEqual(cluster.inputs.spec[field], undefined, `Cluster spec.${field}`);
            }
            assert.ok([undefined, "RuntimeDefault", "Localhost"].includes(cluster.inputs.spec.seccompProfile?.type), "Cluster spec.seccompProfile");
            for (const pooler of run.ofType("kubernetes:postgresql.cnpg.io/v1:Pooler")) {
                const spec = pooler.inputs.spec.template.spec;
                assert.deepStrictEqual(spec.containers, [], `${pooler.name}: no container of the program's beside PgBouncer`);
                assert.strictEqual(spec.securityContext, undefined, `${pooler.name}: the pod security context is the operator's`);
                assert.deepStrictEqual(restrictedViolations(pooler.inputs.spec.template), []);
            }
        });
    }
});
