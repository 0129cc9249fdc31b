/**
 * Least privilege beyond Pod Security `restricted`, on every pod template of every shipped stack and of
 * staging on the statefulset engine (found by shape, analysis/podTemplates.ts): processes that own no data run under their own uid, yet
 * still read the Secret files mounted for them; and every container declares the ephemeral storage
 * it may use, so that no pod can fill a node's disk.
 */
import * as assert from "assert";
import { exporterContainerName } from "../lib/exporters";
import { parseBytes } from "../lib/quantity";
import { withEphemeralStorage } from "../lib/resources";
import { runStack } from "../harness/mockProgram";
import { PodTemplate, podTemplates } from "../analysis/podTemplates";
import { shippedStacks, stackConfig, onStatefulSetEngine } from "../harness/stackConfig";
import { canRead, processIdentity, volumeFiles } from "../analysis/volumeAccess";

/** The uid of the data stores' official images, which owns their data directories. */
const dataOwnerUid = 999;

/** What the kubelet keeps of one container's logs by default: containerLogMaxFiles 5 × containerLogMaxSize 10Mi. */
const logBytesPerContainer = 5 * 10 * 2 ** 20;

/** Containers that may run with resources: init (sidecars included) and regular; ephemeral debug containers may not set any. */
const containersOf = (spec: any): any[] => [...(spec.initContainers ?? []), ...spec.containers];

/** Problems with the resources of a pod template: every container needs requests and limits of CPU, memory and ephemeral storage. */
function resourceProblems(template: Pick<PodTemplate, "owner" | "spec">): string[] {
    const problems: string[] = [];
    for (const c of containersOf(template.spec)) {
        for (const resource of ["cpu", "memory", "ephemeral-storage"]) {
            for (const side of ["requests", "limits"] as const) {
                if (c.resources?.[side]?.[resource] === undefined) {
                    problems.push(`${template.owner} container ${c.name}: no ${side}.${resource}`);
                }
            }
        }
        const request = parseBytes(c.resources?.requests?.["ephemeral-storage"] ?? "");
        const limit = parseBytes(c.resources?.limits?.["ephemeral-storage"] ?? "");
        if (request !== undefined && limit !== undefined && request > limit) {
            problems.push(`${template.owner} container ${c.name}: ephemeral-storage request above its limit`);
        }
    }
    // The kubelet evicts a pod whose logs and disk-backed emptyDirs exceed the sum of its containers' limits.
    const diskEmptyDirs = (template.spec.volumes ?? []).filter((v: any) => v.emptyDir && v.emptyDir.medium !== "Memory");
    for (const v of diskEmptyDirs.filter((v: any) => parseBytes(v.emptyDir.sizeLimit ?? "") === undefined)) {
        problems.push(`${template.owner} emptyDir ${v.name}: no sizeLimit, so no limit covers it`);
    }
    const needed = diskEmptyDirs.reduce((sum: number, v: any) => sum + (parseBytes(v.emptyDir.sizeLimit ?? "") ?? 0), 0) + containersOf(template.spec).length * logBytesPerContainer;
    const limits = containersOf(template.spec).reduce((sum, c) => sum + (parseBytes(c.resources?.limits?.["ephemeral-storage"] ?? "") ?? 0), 0);
    if (limits < needed) {
        problems.push(`${template.owner}: ephemeral-storage limits ${limits / 2 ** 20}Mi below its emptyDirs and logs, ${needed / 2 ** 20}Mi`);
    }
    return problems;
}

/** The Secret and ConfigMap files each container mounts that its process cannot read. */
function unreadableMounts(template: Pick<PodTemplate, "owner" | "spec">): string[] {
    const unreadable: string[] = [];
    const byName = new Map((template.spec.volumes ?? []).map((v: any) => [v.name, v]));
    for (const c of containersOf(template.spec)) {
        const identity = processIdentity(template.spec, c);
        for (const mount of c.volumeMounts ?? []) {
            const volume: any = byName.get(mount.name);
            if (volume?.secret || volume?.configMap) {
                for (const file of volumeFiles(template.spec, mount.name).filter((f) => !canRead(identity, f))) {
                    unreadable.push(`${template.owner} container ${c.name} (uid ${identity.uid}, groups ${identity.gid},${identity.groups}) cannot read ${mount.name}/${file.key} (${file.owner}:${file.group} ${file.mode.toString(8)})`);
                }
            }
        }
    }
    return unreadable;
}

/** Staging's shape on the statefulset engine: one server on a StatefulSet with its exporter sidecar, backups by the CronJob. */

/**
 * Every shipped stack, and staging on the statefulset engine. CloudNativePG's pods (staging and
 * production) are the operator's: the program renders none of their containers (the Pooler's partial
 * template has none), so the PostgreSQL StatefulSet and its exporter are checked where that engine runs.
 */
const cases = [
    ...shippedStacks.map((stack) => ({ title: `Pulumi.${stack}.yaml`, stack, overrides: {} as Record<string, unknown> })),
    { title: "Pulumi.staging.yaml on the statefulset engine", stack: "staging", overrides: onStatefulSetEngine },
];

describe("least privilege on every pod template", () => {
    for (const { title, stack, overrides } of cases) {
        describe(title, () => {
            let templates: PodTemplate[];
            const config = stackConfig(stack, overrides);
            const onStatefulSet = config["healthcare-backend:postgresEngine"] === "statefulset";
            // The exporter sidecars: Redis's always, PostgreSQL's on the statefulset engine (CloudNativePG's instances export their own).
            const exporters = ["StatefulSet/redis-cluster", ...(onStatefulSet ? ["StatefulSet/postgres"] : [])];
            before(async () => {
                templates = podTemplates((await runStack(config, stack)).resources);
                assert.ok(templates.length >= 5, `${templates.length} pod templates`);
            });

            it(onStatefulSet ? "renders the PostgreSQL StatefulSet" : "renders no PostgreSQL container: the operator runs them (the Pooler's template adds none)", () => {
                assert.strictEqual(templates.some((t) => t.owner === "StatefulSet/postgres"), onStatefulSet);
                for (const t of templates.filter((t) => t.owner.startsWith("Pooler/"))) {
                    assert.deepStrictEqual(containersOf(t.spec), [], t.owner);
                }
            });

            it("runs every container as an explicit non-root uid and gid", () => {
                for (const t of templates) {
                    for (const c of containersOf(t.spec)) {
                        const { uid, gid } = processIdentity(t.spec, c);
                        assert.ok(Number.isInteger(uid) && uid! > 0 && Number.isInteger(gid) && gid! > 0, `${t.owner} container ${c.name}: uid ${uid}, gid ${gid}`);
                    }
                }
            });

            it("runs no process that owns no data as the data stores' user: exporters and the maintenance Jobs have their own ids", () => {
                const seen: string[] = [];
                for (const t of templates) {
                    const claims = new Set((t.spec.volumes ?? []).filter((v: any) => v.persistentVolumeClaim).map((v: any) => v.name));
                    // StatefulSet claim templates are mounted by name without a volume entry.
                    const ownsData = (c: any) => (c.volumeMounts ?? []).some((m: any) => claims.has(m.name) || !(t.spec.volumes ?? []).some((v: any) => v.name === m.name));
                    for (const c of containersOf(t.spec)) {
                        const { uid, gid } = processIdentity(t.spec, c);
                        if (ownsData(c)) {
                            // A container with a persistent volume owns what is on it, under whatever uid wrote it.
                            continue;
                        }
                        assert.notStrictEqual(uid, dataOwnerUid, `${t.owner} container ${c.name} owns no data but runs as uid ${dataOwnerUid}`);
                        assert.notStrictEqual(gid, dataOwnerUid, `${t.owner} container ${c.name} owns no data but runs with primary gid ${dataOwnerUid}`);
                        seen.push(`${t.owner.split("/")[0]}:${c.name}=${uid}`);
                    }
                }
                // The sidecars and Jobs this is about are there, each with its own uid.
                assert.ok(seen.some((s) => s.startsWith("Job:") && !s.endsWith(`=${dataOwnerUid}`)), seen.join(" "));
                assert.deepStrictEqual(
                    templates.filter((t) => containersOf(t.spec).some((c) => c.name === exporterContainerName)).map((t) => t.owner).sort(),
                    [...exporters].sort(),
                );
                assert.ok(seen.filter((s) => s.includes(`:${exporterContainerName}=`)).length === exporters.length, seen.join(" "));
            });

            it("mounts no persistent volume into a sidecar that owns no data", () => {
                for (const t of templates) {
                    for (const c of containersOf(t.spec).filter((c) => c.name === exporterContainerName)) {
                        const kinds = (c.volumeMounts ?? []).map((m: any) => Object.keys((t.spec.volumes ?? []).find((v: any) => v.name === m.name) ?? { claimTemplate: true }).find((k) => k !== "name"));
                        assert.ok(kinds.every((k: string) => k === "secret"), `${t.owner} exporter mounts ${kinds}`);
                    }
                }
            });

            it("lets every container read the Secret and ConfigMap files it mounts (the exporters through the pod's fsGroup)", () => {
                assert.deepStrictEqual(templates.flatMap(unreadableMounts), []);
                if (!onStatefulSet) {
                    return;
                }
                // Not vacuous: the PostgreSQL exporter reads its credentials from files under another uid than the files' group.
                const postgres = templates.find((t) => t.owner === "StatefulSet/postgres")!;
                const exporter = postgres.spec.containers.find((c: any) => c.name === exporterContainerName);
                const identity = processIdentity(postgres.spec, exporter);
                const [file] = volumeFiles(postgres.spec, "credentials");
                assert.ok(identity.uid !== dataOwnerUid && identity.gid !== file.group && identity.groups.includes(file.group), JSON.stringify({ identity, file }));
            });

            it("gives every container requests and limits of CPU, memory and ephemeral storage, covering its pod's emptyDirs and logs", () => {
                assert.deepStrictEqual(templates.flatMap(resourceProblems), []);
            });
        });
    }

    describe("the checks themselves", () => {
        const spec = (podContext: any, exporterContext: any, secret: any) => ({
            securityContext: podContext,
            containers: [
                { name: "postgres", securityContext: {}, volumeMounts: [{ name: "credentials", mountPath: "/run/secrets" }] },
                { name: exporterContainerName, securityContext: exporterContext, volumeMounts: [{ name: "credentials", mountPath: "/run/secrets" }] },
            ],
            volumes: [{ name: "credentials", secret }],
        });
        const exporterIds = { runAsUser: 10002, runAsGroup: 10002 };

        it("a sidecar under its own uid reads group-readable Secret files through the pod's fsGroup, and not without it", () => {
            const withFsGroup = spec({ runAsUser: 999, runAsGroup: 999, fsGroup: 999 }, exporterIds, { secretName: "s", defaultMode: 0o440 });
            assert.deepStrictEqual(unreadableMounts({ owner: "t", spec: withFsGroup }), []);
            const withoutFsGroup = spec({ runAsUser: 999, runAsGroup: 999 }, exporterIds, { secretName: "s", defaultMode: 0o440 });
            assert.deepStrictEqual(unreadableMounts({ owner: "t", spec: withoutFsGroup }), [
                "t container postgres (uid 999, groups 999,) cannot read credentials/* (0:0 440)",
                "t container exporter (uid 10002, groups 10002,) cannot read credentials/* (0:0 440)",
            ]);
        });

        it("follows the kubelet: with an fsGroup a read-only volume's files get group read, even under defaultMode 0400", () => {
            const owner400 = spec({ runAsUser: 999, runAsGroup: 999, fsGroup: 999 }, exporterIds, { secretName: "s", defaultMode: 0o400 });
            assert.deepStrictEqual(volumeFiles(owner400, "credentials"), [{ key: "*", owner: 0, group: 999, mode: 0o440 }]);
            const perItem = spec({ runAsUser: 999, fsGroup: 2000 }, exporterIds, { secretName: "s", items: [{ key: "password", path: "password", mode: 0o600 }] });
            assert.deepStrictEqual(volumeFiles(perItem, "credentials"), [{ key: "password", owner: 0, group: 2000, mode: 0o640 }]);
            assert.ok(!canRead({ uid: 10002, gid: 10002, groups: [] }, { owner: 0, group: 999, mode: 0o440 }));
            assert.ok(canRead({ uid: 10002, gid: 10002, groups: [999] }, { owner: 0, group: 999, mode: 0o440 }));
            assert.ok(canRead({ uid: 10002, gid: 10002, groups: [] }, { owner: 0, group: 0, mode: 0o555 }), "world-readable scripts");
            assert.ok(!canRead({ uid: 5, gid: 999, groups: [] }, { owner: 5, group: 999, mode: 0o040 }), "the owner's bits decide for the owner");
        });

        it("names each container without ephemeral storage, an emptyDir without a size, and limits that do not cover a pod's emptyDirs", () => {
            const full = (ephemeral?: { request: string; limit: string }) => ({
                requests: { cpu: "10m", memory: "32Mi", ...(ephemeral ? { "ephemeral-storage": ephemeral.request } : {}) },
                limits: { cpu: "100m", memory: "64Mi", ...(ephemeral ? { "ephemeral-storage": ephemeral.limit } : {}) },
            });
            const template = {
                owner: "Job/t",
                spec: {
                    initContainers: [{ name: "init", resources: full() }],
                    containers: [{ name: "main", resources: full({ request: "64Mi", limit: "128Mi" }) }],
                    volumes: [
                        { name: "tmp", emptyDir: { sizeLimit: "1Gi" } },
                        { name: "scratch", emptyDir: {} },
                        { name: "shm", emptyDir: { medium: "Memory" } },
                    ],
                },
            };
            assert.deepStrictEqual(resourceProblems(template), [
                "Job/t container init: no requests.ephemeral-storage",
                "Job/t container init: no limits.ephemeral-storage",
                "Job/t emptyDir scratch: no sizeLimit, so no limit covers it",
                "Job/t: ephemeral-storage limits 128Mi below its emptyDirs and logs, 1124Mi",
            ]);
        });

        it("sizes a container's ephemeral-storage limit from the disk-backed emptyDirs it mounts, and refuses an unbounded one", () => {
            const base = { requests: { cpu: "1", memory: "1Gi" }, limits: { cpu: "2", memory: "2Gi" } };
            const sized = withEphemeralStorage(base, [
                { name: "tmp", emptyDir: { sizeLimit: "256Mi" } },
                { name: "run", emptyDir: { sizeLimit: "16Mi" } },
                { name: "shm", emptyDir: { medium: "Memory", sizeLimit: "1Gi" } },
            ]);
            assert.deepStrictEqual(sized, {
                requests: { cpu: "1", memory: "1Gi", "ephemeral-storage": "64Mi" },
                limits: { cpu: "2", memory: "2Gi", "ephemeral-storage": "400Mi" },
            });
            assert.throws(() => withEphemeralStorage(base, [{ name: "scratch", emptyDir: {} }]), /emptyDir scratch has no valid sizeLimit/);
        });
    });
});
