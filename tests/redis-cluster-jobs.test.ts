import * as assert from "assert";
import { readFileSync } from "fs";
import * as path from "path";
import { redisConfig, redisScripts } from "../components/redisCluster";
import { ProgramRun, runStack } from "../tools/mockProgram";
import { projectRoot, stackConfig } from "../tools/stackConfig";

const JOB = "kubernetes:batch/v1:Job";
const STATEFUL_SET = "kubernetes:apps/v1:StatefulSet";
const urnOf = (type: string, name: string) => (urn: string) => urn.endsWith(`::${name}`) && urn.includes(`$${type}::`);

describe("RedisCluster scaling in Pulumi's order", () => {
    let run: ProgramRun;
    before(async () => {
        run = await runStack(stackConfig("production"), "production");
    });

    it("drains leaving nodes before the StatefulSet update and reconciles after it", () => {
        const statefulSet = run.get(STATEFUL_SET, "redis-cluster");
        assert.ok(statefulSet.options.dependsOn.some(urnOf(JOB, "redis-cluster-scale-in")), `StatefulSet waits for scale-in: ${statefulSet.options.dependsOn}`);
        const reconcile = run.get(JOB, "redis-cluster-reconcile");
        assert.ok(reconcile.options.dependsOn.some(urnOf(STATEFUL_SET, "redis-cluster")), `reconcile waits for the StatefulSet: ${reconcile.options.dependsOn}`);
        const scaleIn = run.get(JOB, "redis-cluster-scale-in");
        assert.ok(!scaleIn.options.dependsOn.some(urnOf(STATEFUL_SET, "redis-cluster")), "scale-in does not wait for the StatefulSet");
    });

    it("labels every maintenance Job pod with the cluster's maintenance selector, for the network policies", () => {
        const selector = {
            "app.kubernetes.io/name": "redis-cluster",
            "app.kubernetes.io/instance": "production",
            "app.kubernetes.io/component": "cache-maintenance",
        };
        for (const name of ["redis-cluster-scale-in", "redis-cluster-reconcile"]) {
            const labels = run.get(JOB, name).inputs.spec.template.metadata.labels;
            for (const [key, value] of Object.entries(selector)) {
                assert.strictEqual(labels[key], value, `${name} ${key}`);
            }
        }
    });

    it("runs each script from the ConfigMap with the desired nodes, and lets Pulumi wait as long as the Job may run", () => {
        for (const [name, container, script] of [
            ["redis-cluster-scale-in", "scale-in", redisScripts.scaleIn],
            ["redis-cluster-reconcile", "reconcile", redisScripts.reconcile],
        ]) {
            const job = run.get(JOB, name).inputs;
            const spec = job.spec.template.spec.containers.find((c: any) => c.name === container);
            assert.deepStrictEqual(spec.command, ["sh", `/scripts/${script}`]);
            assert.strictEqual(
                spec.env.find((e: any) => e.name === "REDIS_NODES").value.split(" ")[5],
                "redis-cluster-5.redis-cluster-headless.healthcare-backend.svc.cluster.local:6379",
            );
            assert.strictEqual(Number(job.metadata.annotations["pulumi.com/timeoutSeconds"]), job.spec.activeDeadlineSeconds + 60);
            assert.strictEqual(job.spec.template.spec.securityContext.runAsNonRoot, true);
        }
        const data = run.get("kubernetes:core/v1:ConfigMap", "redis-cluster-config").inputs.data;
        for (const file of Object.values(redisScripts)) {
            assert.strictEqual(data[file], readFileSync(path.join(projectRoot, "components", "assets", file), "utf8"), file);
        }
    });

    it("has every node announce its pod name and keep the replica layout to the Jobs", () => {
        const redis = run.get(STATEFUL_SET, "redis-cluster").inputs.spec.template.spec.containers.find((c: any) => c.name === "redis");
        assert.deepStrictEqual(redis.env.find((e: any) => e.name === "POD_NAME").valueFrom, { fieldRef: { fieldPath: "metadata.name" } });
        assert.match(readFileSync(path.join(projectRoot, "components", "assets", redisScripts.start), "utf8"), /cluster-announce-hostname %s\\n' "\$POD_NAME"/);
        const config = run.get("kubernetes:core/v1:ConfigMap", "redis-cluster-config").inputs.data["redis.conf"];
        assert.strictEqual(config, redisConfig({ resources: { limits: { memory: "2Gi" } } } as any));
        assert.match(config, /^cluster-allow-replica-migration no$/m);
    });
});
