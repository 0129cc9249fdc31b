import * as assert from "assert";
import * as path from "path";
import { names } from "../../lib/names";
import { advertisedApiServerAddress, applyPlatformStandins, ControlPlane, startControlPlane } from "../../harness/engine/controlPlane";
import { EngineStack, engineFolder, localWithoutAddons, OperationResult, workloadReplacements } from "../../harness/engine/engine";
import { ensureToolchain, Toolchain } from "../../harness/engine/toolchain";
import { shippedStacks, ShippedStack } from "../../harness/stackConfig";
import { stackSettings } from "../../cli/ops/workspace";
import { dayTwoChanges } from "./dayTwo";
import { clusterObjectsOf, crdFiles, describeStep, eventually, getObject, objectsIn, record } from "./support";

/**
 * The real engine against a real API server: for each shipped stack, the project's own program
 * through the Pulumi CLI and the kubernetes provider, against etcd + kube-apiserver (Pod Security
 * admission, RBAC) + controller-manager + scheduler + kwok. Preview, up, a second preview and up
 * that change nothing, a day-2 change checked on the cluster (and in the engine's plan: no
 * Deployment or StatefulSet replaced), unprotect and destroy, and nothing of the stack left.
 * Bad cases first: each fails with a clear message and changes nothing.
 */

const stacks = (process.env.E2E_STACKS ? process.env.E2E_STACKS.split(",") : [...shippedStacks]) as ShippedStack[];


/** Contexts in the control plane's kubeconfig: the shipped stacks' own, so the stack files stay as shipped. */
function stackContexts(): string[] {
    return shippedStacks.map((s) => stackSettings(s).cluster.context).filter((c): c is string => c !== undefined);
}

const opMinutes = (n: number) => n * 60_000;

describe("e2e: the real engine against a real API server", function () {
    let toolchain: Toolchain;
    let cluster: ControlPlane;
    let folder: string;

    before(async function () {
        // Cold: the toolchain builds (about 23 minutes on 2 cores); warm: seconds.
        this.timeout(opMinutes(75));
        toolchain = ensureToolchain();
        folder = engineFolder("e2e");
        cluster = await startControlPlane({
            dir: path.join(folder, "control-plane"),
            toolchain,
            version: toolchain.e2eKubernetes,
            mode: "full",
            contexts: [...stackContexts(), "e2e-admin"],
            unreachableContexts: ["e2e-unreachable"],
            say: (line) => console.log(`      ${line}`),
        });
    });

    after(function () {
        this.timeout(60_000);
        if (cluster) {
            cluster.stop();
        }
    });

    const engine = (stack: string, programModule?: string) => EngineStack.create(stack, { toolchain, dir: folder, kubeconfig: cluster.kubeconfig, programModule });

    /** Asserts an engine operation fails, with a message matching `pattern`; returns the message. */
    async function failsWith(operation: Promise<unknown>, pattern: RegExp): Promise<string> {
        const error = await operation.then(
            () => undefined,
            (e: Error) => e,
        );
        assert.ok(error, `expected the operation to fail (${pattern})`);
        const message = String(error.message);
        assert.match(message, pattern);
        return message;
    }

    describe("bad cases fail clearly and change nothing", function () {
        this.timeout(opMinutes(5));

        it("a cluster without what the stack needs: preview and up fail naming every missing API in one error, and the namespace is never created", async function () {
            // Staging expects the platform's CRDs (CloudNativePG, Barman Cloud, VPA, Prometheus Operator,
            // the Gateway API's HTTPRoute) and a custom-metrics adapter; none is there yet.
            const stack = await engine("staging");
            for (const operation of [() => stack.preview(), () => stack.up()]) {
                const message = await failsWith(operation(), /lacks what this stack needs; nothing was created/);
                for (const missing of [
                    "CRD clusters.postgresql.cnpg.io, needed by postgresEngine",
                    "CRD poolers.postgresql.cnpg.io, needed by postgresPoolerInstances",
                    "CRD objectstores.barmancloud.cnpg.io, needed by postgresBackupS3Bucket",
                    "CRD verticalpodautoscalers.autoscaling.k8s.io, needed by vpaEnabled",
                    "CRD servicemonitors.monitoring.coreos.com, needed by monitoringEnabled",
                    "CRD httproutes.gateway.networking.k8s.io, needed by apiExposure",
                    "custom.metrics.k8s.io (or v1beta1), needed by apiHpaCustomMetrics",
                ]) {
                    assert.ok(message.includes(missing), `the error names ${missing}:\n${message.slice(-3000)}`);
                }
                // The API server is supported: no version problem among them.
                assert.doesNotMatch(message, /Kubernetes 1\.35 or later/);
            }
            assert.strictEqual(getObject(cluster, "namespace", "healthcare-backend"), undefined);
            assert.deepStrictEqual((await stack.stateUrns()).filter((u) => /kubernetes:(core|apps)\//.test(u)), []);
        });

        it("an invalid field: the API server's validation message, and nothing is created", async function () {
            const stack = await engine("local", path.join(__dirname, "..", "fixtures", "e2e", "brokenProgram.ts"));
            // Nothing that needs a CRD (none is installed yet): only the broken object can fail.
            await stack.setConfig({ ...localWithoutAddons, vpaEnabled: false, monitoringEnabled: false, apiHpaCustomMetrics: false });
            await failsWith(stack.preview(), /Duplicate value: "http"/);
            assert.deepStrictEqual(await stack.stateUrns(), []);
        });

        it("an unreachable cluster: a message that says so, and nothing is created", async function () {
            const stack = await engine("production");
            await stack.setConfig({ kubeContext: "e2e-unreachable" });
            const message = await failsWith(stack.up(), /unreachable|connection refused/i);
            assert.match(message, /e2e-unreachable|127\.0\.0\.1:1\b/);
            assert.deepStrictEqual((await stack.stateUrns()).filter((u) => u.includes("kubernetes:core/v1:Namespace")), []);
            assert.strictEqual(getObject(cluster, "namespace", "healthcare-backend"), undefined);
        });

        it("a context missing from the kubeconfig: a message naming it, and nothing is created", async function () {
            const stack = await engine("production");
            await stack.setConfig({ kubeContext: "healthcare-nowhere" });
            const message = await failsWith(stack.up(), /healthcare-nowhere/);
            assert.match(message, /context/i);
            assert.deepStrictEqual((await stack.stateUrns()).filter((u) => u.includes("kubernetes:core/v1:Namespace")), []);
            assert.strictEqual(getObject(cluster, "namespace", "healthcare-backend"), undefined);
        });

        after(async function () {
            // What the platform provides for staging and production, and what the local add-ons
            // would install: the CRDs of the VPA, the Prometheus Operator and cert-manager.
            for (const file of crdFiles()) {
                cluster.kubectl(["apply", "--server-side", "-f", file]);
            }
            cluster.kubectl(["wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"]);
            // And the custom-metrics API and the named ClusterIssuer (stand-ins: nothing runs them here).
            await applyPlatformStandins(cluster);
        });
    });

    for (const stackName of stacks) {
        describe(`stack ${stackName}`, function () {
            this.timeout(opMinutes(12));
            let stack: EngineStack;
            let failed = false;
            const namespace = () => stackSettings(stackName).namespace;

            beforeEach(function () {
                if (failed) {
                    this.skip(); // a later step means nothing once an earlier one failed
                }
            });
            afterEach(function () {
                if (this.currentTest?.state === "failed") {
                    failed = true;
                }
            });
            after(async function () {
                // A failed stack must not leave its objects to the next one (they share the namespace).
                if (failed && stack && (await stack.stateUrns()).length > 0) {
                    await stack.unprotectAll();
                    await stack.destroy().catch((error: Error) => console.error(`      cleanup of ${stackName} failed: ${error.message.slice(-500)}`));
                }
            });

            it("previews the whole stack: creates only", async function () {
                stack = await engine(stackName);
                if (stackName === "local") {
                    await stack.setConfig(localWithoutAddons);
                }
                const preview = record(stackName, "preview", await stack.preview());
                const ops = Object.keys(preview.changes).filter((op) => (preview.changes as Record<string, number>)[op] > 0);
                assert.deepStrictEqual(ops, ["create"], `a first preview only creates; got ${JSON.stringify(preview.changes)}`);
            });

            it("deploys: every object admitted (Pod Security restricted), every workload ready", async function () {
                const up = record(stackName, "up (first)", await stack.up());
                assert.ok((up.changes.create ?? 0) > 20, `created ${up.changes.create}`);
                const ns = getObject(cluster, "namespace", namespace());
                assert.strictEqual(ns.metadata.labels["pod-security.kubernetes.io/enforce"], "restricted");
                const deployment = getObject(cluster, "deployment", names.api.deployment, namespace());
                assert.strictEqual(deployment.status.readyReplicas, stackSettings(stackName).api.replicas.min);
                const postgres = stackSettings(stackName).postgres;
                const statefulSets = postgres.engine === "statefulset" ? [names.postgres.statefulSet, names.redis.statefulSet] : [names.redis.statefulSet];
                for (const statefulSet of statefulSets) {
                    const s = getObject(cluster, "statefulset", statefulSet, namespace());
                    assert.strictEqual(s.status.readyReplicas, s.spec.replicas, `${statefulSet} ready`);
                }
                // Published through the Gateway API: the HTTPRoute on the stack's Gateway (local's own, created here;
                // staging's and production's the platform's, named by the stack), stored as the API server admitted them.
                const exposure = stackSettings(stackName).ingress;
                assert.strictEqual(exposure.exposure, "gateway");
                const route = getObject(cluster, "httproutes.gateway.networking.k8s.io", names.api.httpRoute, namespace());
                assert.deepStrictEqual(route.spec.hostnames, [exposure.host]);
                assert.strictEqual(route.spec.parentRefs[0].name, exposure.gateway!.name);
                assert.deepStrictEqual(route.spec.rules[0].backendRefs.map((b: any) => [b.name, b.port]), [[names.api.service, 80]]);
                if (exposure.gateway!.className) {
                    const gateway = getObject(cluster, "gateways.gateway.networking.k8s.io", exposure.gateway!.name, namespace());
                    assert.strictEqual(gateway.spec.gatewayClassName, exposure.gateway!.className);
                    assert.deepStrictEqual(gateway.spec.listeners.map((l: any) => [l.name, l.port]), [["http", 8088]]);
                }
                assert.strictEqual(getObject(cluster, "ingress", names.api.ingress, namespace()), undefined, "no Ingress");
                if (postgres.engine === "cloudnative-pg") {
                    // No operator runs here: the Cluster and its Pooler are stored as the API server admitted them.
                    const pg = getObject(cluster, "clusters.postgresql.cnpg.io", names.cloudNativePg.cluster, namespace());
                    assert.strictEqual(pg.spec.instances, postgres.instances);
                    assert.strictEqual(getObject(cluster, "poolers.postgresql.cnpg.io", names.cloudNativePg.poolerOf(names.cloudNativePg.cluster), namespace()).spec.pgbouncer.poolMode, "transaction");
                    // The instances' egress to the API server names the address it publishes.
                    const egress = getObject(cluster, "networkpolicy", `${names.networkPolicy.postgres}-kubernetes-api`, namespace()).spec.egress;
                    assert.match(JSON.stringify(egress), new RegExp(`${advertisedApiServerAddress.replace(/\./g, "\\.")}/32`));
                }
                // No pod was refused: the ReplicaSets and StatefulSets created every pod they wanted.
                const refused = cluster.kubectl(["get", "events", "-n", namespace(), "--field-selector", "reason=FailedCreate", "-o", "name"]).trim();
                assert.strictEqual(refused, "", `pods refused by admission: ${refused}`);
            });

            it("a second preview and up change nothing", async function () {
                const preview = record(stackName, "preview (no change)", await stack.preview());
                assertNoChanges(preview);
                const up = record(stackName, "up (no change)", await stack.up());
                assertNoChanges(up);
            });

            for (const change of dayTwoChanges[stackName]) {
                it(`day 2: ${change.title}`, async function () {
                    await stack.setConfig(change.config);
                    if (change.unprotect) {
                        assert.ok((await stack.unprotect(change.unprotect)) > 0, "the runbook's unprotect step found its resource");
                    }
                    const preview = record(stackName, `preview (${change.step})`, await stack.preview());
                    assert.deepStrictEqual(workloadReplacements(preview.steps).map(describeStep), [], "the plan replaces no Deployment or StatefulSet");
                    const up = record(stackName, `up (${change.step})`, await stack.up());
                    assert.deepStrictEqual(workloadReplacements(up.steps).map(describeStep), [], "the update replaced no Deployment or StatefulSet");
                    await change.check({ cluster, namespace: namespace(), up });
                });
            }

            it("refuses, at preview, a change its data cannot survive (read from the stack's own last outputs); nothing changes", async function () {
                // The major version the engine cannot reach: a downgrade on CloudNativePG, any change on the StatefulSet.
                const settings = stackSettings(stackName);
                const major = settings.postgres.majorVersion;
                const version = settings.postgres.engine === "cloudnative-pg" ? `${major - 1}.10` : `${major + 1}.1`;
                await stack.setConfig({ postgresVersion: version });
                const expected = settings.postgres.engine === "cloudnative-pg" ? new RegExp(`a downgrade from ${major}`) : new RegExp(`a major-version change from ${major}`);
                await failsWith(stack.preview(), expected);
                await failsWith(stack.up(), expected);
                await stack.setConfig({ postgresVersion: settings.postgres.version });
                assertNoChanges(record(stackName, "preview (after the refusal)", await stack.preview()));
            });

            if (stackSettings(stackName).postgres.engine === "statefulset" && stackSettings(stackName).protectData) {
                it("runbook: grows PostgreSQL's volume by replacing its protected StatefulSet; the pod and its claim carry on", async function () {
                    // docs/postgres.md "Replacing a protected StatefulSet", steps 1-4, as an operator runs them.
                    const ns = namespace();
                    const pod = getObject(cluster, "pod", "postgres-0", ns);
                    const claim = getObject(cluster, "pvc", "data-postgres-0", ns);
                    const before = getObject(cluster, "statefulset", names.postgres.statefulSet, ns);
                    cluster.kubectl(["patch", "pvc", "data-postgres-0", "-n", ns, "-p", '{"spec":{"resources":{"requests":{"storage":"60Gi"}}}}']);
                    await stack.setConfig({ postgresStorageSize: "60Gi" });
                    // Without the unprotect step, the replacement is refused before anything changes.
                    await failsWith(stack.preview(), /protect/);
                    assert.strictEqual(await stack.unprotect((urn) => urn.endsWith(`kubernetes:apps/v1:StatefulSet::${names.postgres.statefulSet}`)), 1);
                    const up = record(stackName, "up (postgres volume 60Gi)", await stack.up());
                    const replaced = workloadReplacements(up.steps).map((s) => `${s.op} ${s.type}`);
                    assert.ok(replaced.includes("replace kubernetes:apps/v1:StatefulSet"), `the StatefulSet was replaced: ${replaced.join(", ")}`);
                    const after = getObject(cluster, "statefulset", names.postgres.statefulSet, ns);
                    assert.notStrictEqual(after.metadata.uid, before.metadata.uid, "a new StatefulSet");
                    assert.strictEqual(after.spec.volumeClaimTemplates[0].spec.resources.requests.storage, "60Gi");
                    assert.strictEqual(after.status.readyReplicas, 1);
                    assert.strictEqual(getObject(cluster, "pod", "postgres-0", ns).metadata.uid, pod.metadata.uid, "the database pod was never deleted");
                    assert.strictEqual(getObject(cluster, "pod", "postgres-0", ns).metadata.ownerReferences[0].uid, after.metadata.uid, "the new StatefulSet adopted it");
                    assert.strictEqual(getObject(cluster, "pvc", "data-postgres-0", ns).metadata.uid, claim.metadata.uid, "its claim is the same");
                    assert.ok(await stack.isProtected("kubernetes:apps/v1:StatefulSet", names.postgres.statefulSet), "protected again");
                    assertNoChanges(record(stackName, "preview (after the runbook)", await stack.preview()));
                });
            }

            it("unprotects and destroys: nothing of the stack is left in the cluster", async function () {
                const protectedCount = await stack.unprotectAll();
                assert.strictEqual(protectedCount > 0, stackSettings(stackName).protectData, `protected resources: ${protectedCount}`);
                const destroy = record(stackName, "destroy", await stack.destroy());
                assert.ok((destroy.changes.delete ?? 0) > 20, `deleted ${destroy.changes.delete}`);
                assert.deepStrictEqual(await stack.stateUrns(), []);
                await eventually(
                    `namespace ${namespace()} gone`,
                    () => (getObject(cluster, "namespace", namespace()) === undefined ? true : undefined),
                    120_000,
                    () => objectsIn(cluster, namespace()).join(", "),
                );
                assert.deepStrictEqual(clusterObjectsOf(cluster, stackName), []);
                const volumes = JSON.parse(cluster.kubectl(["get", "pv", "-o", "json"])).items.filter((pv: any) => pv.spec.claimRef?.namespace === namespace());
                assert.deepStrictEqual(volumes.map((pv: any) => pv.metadata.name), [], "volumes of the stack's claims");
            });
        });
    }
});

function assertNoChanges(result: OperationResult): void {
    // Reads (the required CRDs) look the cluster up on every run; they change nothing.
    const changed = result.steps.filter((s) => s.op !== "same" && s.op !== "read").map(describeStep);
    assert.deepStrictEqual(changed, [], "expected no changes");
}
