import * as assert from "assert";
import { readFileSync } from "fs";
import * as path from "path";
import {
    maxmemoryShare,
    preStopFailoverSeconds,
    redisConfig,
    redisJobScripts,
    redisPodScripts,
    redisRolloutSeconds,
    redisScripts,
    redisStartupBudgetSeconds,
    redisTerminationGraceSeconds,
} from "../components/redisCluster";
import { ProgramRun, runStack } from "../harness/mockProgram";
import { projectRoot, stackConfig } from "../harness/stackConfig";
import { JOB, STATEFUL_SET } from "./support/resourceTypes";

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
        const jobData = run.get("kubernetes:core/v1:ConfigMap", "redis-cluster-job-scripts").inputs.data;
        assert.deepStrictEqual(Object.keys(jobData).sort(), [...redisJobScripts].sort());
        for (const file of redisJobScripts) {
            assert.strictEqual(jobData[file], readFileSync(path.join(projectRoot, "components", "assets", file), "utf8"), file);
        }
        for (const name of ["redis-cluster-scale-in", "redis-cluster-reconcile"]) {
            const volumes = run.get(JOB, name).inputs.spec.template.spec.volumes;
            assert.deepStrictEqual(
                volumes.map((v: any) => v.configMap?.name ?? v.secret),
                [run.get("kubernetes:core/v1:ConfigMap", "redis-cluster-job-scripts").inputs.metadata.name, { secretName: "redis-cluster-tls", items: [{ key: "ca.crt", path: "ca.crt" }], defaultMode: 0o444 }],
                `${name} mounts the Jobs' scripts and the CA certificate (never the nodes' key)`,
            );
        }
    });

    it("mounts only what the pods run into the pods: redis.conf, the start script with what it sources, the probe script", () => {
        const data = run.get("kubernetes:core/v1:ConfigMap", "redis-cluster-config").inputs.data;
        assert.deepStrictEqual(Object.keys(data).sort(), ["redis.conf", ...redisPodScripts].sort());
        for (const file of redisPodScripts) {
            assert.strictEqual(data[file], readFileSync(path.join(projectRoot, "components", "assets", file), "utf8"), file);
        }
        // What the start script sources is shipped next to it.
        for (const sourced of readFileSync(path.join(projectRoot, "components", "assets", redisScripts.start), "utf8").matchAll(/^\. "\$\(dirname "\$0"\)\/(\S+)"$/gm)) {
            assert.ok((redisPodScripts as readonly string[]).includes(sourced[1]), `${sourced[1]} is mounted`);
        }
        const volumes = run.get(STATEFUL_SET, "redis-cluster").inputs.spec.template.spec.volumes.filter((v: any) => v.configMap);
        const podConfigMap = run.get("kubernetes:core/v1:ConfigMap", "redis-cluster-config").inputs;
        assert.match(podConfigMap.metadata.name, /^redis-cluster-config-[a-f0-9]{10}$/, "named for its content");
        assert.strictEqual(podConfigMap.immutable, true);
        assert.deepStrictEqual(volumes.map((v: any) => v.configMap.name), [podConfigMap.metadata.name, podConfigMap.metadata.name]);
    });

    it("has every node announce its pod name and zone, find its peers by their stable names, and keep the replica layout to the Jobs", () => {
        const redis = run.get(STATEFUL_SET, "redis-cluster").inputs.spec.template.spec.containers.find((c: any) => c.name === "redis");
        const env = Object.fromEntries(redis.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
        assert.deepStrictEqual(env.POD_NAME, { fieldRef: { fieldPath: "metadata.name" } });
        // Kubernetes >= 1.35 copies the node's zone label onto the pod (PodTopologyLabels admission).
        assert.deepStrictEqual(env.REDIS_ZONE, { fieldRef: { fieldPath: "metadata.labels['topology.kubernetes.io/zone']" } });
        assert.strictEqual(env.REDIS_PEER_DOMAIN, "redis-cluster-headless.healthcare-backend.svc.cluster.local");
        assert.strictEqual(env.REDIS_DNS_CANARY, "kubernetes.default.svc.cluster.local");
        assert.ok(!("STANDIN_HOSTS_FILE_FOR_TESTS" in env), "the test stand-in for the DNS is never set in the pods");
        const config = run.get("kubernetes:core/v1:ConfigMap", "redis-cluster-config").inputs.data["redis.conf"];
        assert.strictEqual(config, redisConfig({ resources: { limits: { memory: "2Gi" } }, tls: true } as any));
        assert.match(config, /^cluster-allow-replica-migration no$/m);
        // The start script's defaults are where the shipped config keeps the data.
        assert.match(config, /^dir \/data$/m);
        assert.match(config, /^cluster-config-file \/data\/nodes\.conf$/m);
        for (const name of ["redis-cluster-scale-in", "redis-cluster-reconcile"]) {
            const jobEnv = run.get(JOB, name).inputs.spec.template.spec.containers[0].env;
            assert.strictEqual(jobEnv.find((e: any) => e.name === "REDIS_DNS_CANARY").value, "kubernetes.default.svc.cluster.local", name);
        }
    });

    it("probes each node with the shipped probe script: a startup budget for loading, liveness on any reply, readiness on a joined cluster", () => {
        const redis = run.get(STATEFUL_SET, "redis-cluster").inputs.spec.template.spec.containers.find((c: any) => c.name === "redis");
        assert.deepStrictEqual(redis.startupProbe.exec.command, ["sh", `/scripts/${redisScripts.probe}`, "startup"]);
        assert.deepStrictEqual(redis.livenessProbe.exec.command, ["sh", `/scripts/${redisScripts.probe}`, "liveness"]);
        assert.deepStrictEqual(redis.readinessProbe.exec.command, ["sh", `/scripts/${redisScripts.probe}`, "readiness"]);
        assert.strictEqual(redis.startupProbe.periodSeconds * redis.startupProbe.failureThreshold, redisStartupBudgetSeconds);
        assert.ok(redisStartupBudgetSeconds >= 300, "a large AOF has minutes to load");
        assert.strictEqual(redis.livenessProbe.initialDelaySeconds, undefined, "the startup probe, not a guessed delay, holds liveness back");
    });

    it("reconciles every 15 minutes in periodic mode, one run at a time, updated before the scale-in Job", () => {
        const cronJob = run.get("kubernetes:batch/v1:CronJob", "redis-cluster-reconcile-periodic");
        assert.strictEqual(cronJob.inputs.spec.schedule, "*/15 * * * *");
        assert.strictEqual(cronJob.inputs.spec.concurrencyPolicy, "Forbid");
        const job = run.get(JOB, "redis-cluster-reconcile").inputs.spec;
        const periodic = cronJob.inputs.spec.jobTemplate.spec;
        const container = periodic.template.spec.containers[0];
        assert.deepStrictEqual(container.command, ["sh", `/scripts/${redisScripts.reconcile}`]);
        assert.strictEqual(container.env.find((e: any) => e.name === "RECONCILE_MODE")?.value, "periodic");
        // The same pod as the reconcile Job's otherwise: labels (network policies), scripts, desired nodes.
        const { env: jobEnv, ...jobContainer } = job.template.spec.containers[0];
        const { env: periodicEnv, ...periodicContainer } = container;
        assert.deepStrictEqual(periodicContainer, jobContainer);
        assert.deepStrictEqual(periodicEnv.filter((e: any) => e.name !== "RECONCILE_MODE"), jobEnv);
        assert.deepStrictEqual(periodic.template.metadata.labels, job.template.metadata.labels);
        // Never from the previous node list while the scale-in Job drains: the CronJob is updated first.
        assert.ok(run.get(JOB, "redis-cluster-scale-in").options.dependsOn.some(urnOf("kubernetes:batch/v1:CronJob", "redis-cluster-reconcile-periodic")));
        assert.ok(!cronJob.options.dependsOn.some(urnOf(STATEFUL_SET, "redis-cluster")), "no cycle through the StatefulSet");
    });

    it("hands a master's slots over before SIGTERM (preStop), with a grace period that covers the handover and the shutdown", () => {
        const spec = run.get(STATEFUL_SET, "redis-cluster").inputs.spec.template.spec;
        const redis = spec.containers.find((c: any) => c.name === "redis");
        assert.deepStrictEqual(redis.lifecycle.preStop.exec.command, ["sh", `/scripts/${redisScripts.preStop}`]);
        assert.strictEqual(redis.env.find((e: any) => e.name === "PRESTOP_FAILOVER_SECONDS").value, String(preStopFailoverSeconds));
        assert.strictEqual(spec.terminationGracePeriodSeconds, redisTerminationGraceSeconds);
        // The kubelet counts the preStop hook against the grace period: the shutdown (Redis's own
        // shutdown-timeout of 10 s for its replicas, then the AOF fsync) needs time after it.
        assert.ok(spec.terminationGracePeriodSeconds >= preStopFailoverSeconds + 20, `grace ${spec.terminationGracePeriodSeconds} s`);
        assert.ok(spec.terminationGracePeriodSeconds > 30, "more than the kubelet's default");
    });

    it("lets Pulumi wait for a whole roll: each node's grace, startup budget and readiness, one after another", () => {
        const options = run.get(STATEFUL_SET, "redis-cluster").options;
        const seconds = (d: string) => Number(/^(\d+)s$/.exec(d)?.[1]);
        for (const op of ["create", "update"] as const) {
            const timeout = seconds(options.customTimeouts![op]);
            assert.strictEqual(timeout, redisRolloutSeconds(6), op);
            assert.ok(timeout >= 6 * (redisStartupBudgetSeconds + redisTerminationGraceSeconds), `${op}: ${timeout} s for 6 nodes`);
        }
        assert.ok(redisRolloutSeconds(8) > redisRolloutSeconds(6), "grows with the node count");
    });

    it("starts the maintenance Jobs only once the NetworkPolicies that admit them exist", () => {
        const policy = run.ofType("kubernetes:networking.k8s.io/v1:NetworkPolicy").find((p) => p.name.includes("redis-cluster-maintenance"));
        assert.ok(policy, run.ofType("kubernetes:networking.k8s.io/v1:NetworkPolicy").map((p) => p.name).join(", "));
        for (const name of ["redis-cluster-scale-in", "redis-cluster-reconcile"]) {
            const dependsOn = run.get(JOB, name).options.dependsOn;
            assert.ok(dependsOn.some(urnOf("kubernetes:networking.k8s.io/v1:NetworkPolicy", policy!.name)), `${name} waits for ${policy!.name}: ${dependsOn}`);
        }
    });

    it("keeps the previous content-named ConfigMaps when a change names new ones: a rollback or a Job retry can still mount them", () => {
        for (const name of ["redis-cluster-config", "redis-cluster-job-scripts"]) {
            assert.strictEqual(run.get("kubernetes:core/v1:ConfigMap", name).options.retainOnDelete, true, name);
        }
    });

    it("leaves memory headroom: one persistence mode, maxmemory at half the limit, the replica output buffer capped", () => {
        const config = run.get("kubernetes:core/v1:ConfigMap", "redis-cluster-config").inputs.data["redis.conf"];
        const limit = 2 * 2 ** 30;
        assert.match(config, /^appendonly yes$/m);
        assert.match(config, /^save ""$/m, "no RDB save points beside the AOF: each would be another fork");
        const maxmemory = Number(/^maxmemory (\d+)$/m.exec(config)?.[1]);
        assert.strictEqual(maxmemory, Math.floor(limit * maxmemoryShare));
        assert.ok(maxmemory <= limit / 2, `maxmemory ${maxmemory} leaves at least half of ${limit} for forks, buffers and fragmentation`);
        const [, hard, soft, seconds] = /^client-output-buffer-limit replica (\d+)mb (\d+)mb (\d+)$/m.exec(config) ?? [];
        assert.deepStrictEqual([Number(hard), Number(soft), Number(seconds)], [128, 64, 60]);
        assert.ok(maxmemory + Number(hard) * 2 ** 20 <= limit * 0.6, "data and a replica's buffer leave 40% for a fork's copy-on-write and fragmentation");
    });

    it("announces the pod's host as its failure domain where the zone is unknown", () => {
        const redis = run.get(STATEFUL_SET, "redis-cluster").inputs.spec.template.spec.containers.find((c: any) => c.name === "redis");
        assert.deepStrictEqual(redis.env.find((e: any) => e.name === "REDIS_NODE_NAME").valueFrom, { fieldRef: { fieldPath: "spec.nodeName" } });
    });

    it("spreads the nodes over zones without refusing to schedule, and gives them the data stores' PriorityClass", () => {
        const spec = run.get(STATEFUL_SET, "redis-cluster").inputs.spec.template.spec;
        assert.deepStrictEqual(spec.topologySpreadConstraints, [
            {
                maxSkew: 1,
                topologyKey: "topology.kubernetes.io/zone",
                whenUnsatisfiable: "ScheduleAnyway",
                labelSelector: { matchLabels: { "app.kubernetes.io/name": "redis-cluster", "app.kubernetes.io/instance": "production", "app.kubernetes.io/component": "cache" } },
            },
        ]);
        assert.strictEqual(spec.priorityClassName, "healthcare-backend-production-data");
    });
});

describe("RedisCluster ConfigMaps: what a script edit rolls", function () {
    this.timeout(120000);

    /** Runs the production stack with one shipped asset edited as it is read. */
    async function runWithEdited(file: string): Promise<ProgramRun> {
        const target = path.join(projectRoot, "components", "assets", file);
        // The CommonJS module object the component reads through (not an import namespace, whose members are read-only).
        const fsModule = require("fs");
        const original = fsModule.readFileSync;
        fsModule.readFileSync = (p: unknown, ...rest: unknown[]) => {
            const content = original.call(fsModule, p, ...rest);
            return typeof p === "string" && path.resolve(p) === target ? `${content}\n# edited\n` : content;
        };
        try {
            return await runStack(stackConfig("production"), "production");
        } finally {
            fsModule.readFileSync = original;
        }
    }

    const podTemplate = (run: ProgramRun) => JSON.stringify(run.get(STATEFUL_SET, "redis-cluster").inputs.spec.template);
    const jobTemplate = (run: ProgramRun, name: string) => JSON.stringify(run.get(JOB, name).inputs.spec.template);

    let shipped: ProgramRun;
    before(async () => {
        shipped = await runStack(stackConfig("production"), "production");
    });

    it("editing a Job script re-runs the Jobs and leaves the StatefulSet's pod template alone: no node restarts", async () => {
        for (const file of [redisScripts.reconcile, redisScripts.scaleIn, redisScripts.lib]) {
            const edited = await runWithEdited(file);
            assert.strictEqual(podTemplate(edited), podTemplate(shipped), `${file}: the pod template is unchanged`);
            assert.notStrictEqual(jobTemplate(edited, "redis-cluster-reconcile"), jobTemplate(shipped, "redis-cluster-reconcile"), `${file}: the reconcile Job changes`);
            assert.notStrictEqual(jobTemplate(edited, "redis-cluster-scale-in"), jobTemplate(shipped, "redis-cluster-scale-in"), `${file}: the scale-in Job changes`);
        }
    });

    it("editing what the pods run rolls the pods", async () => {
        for (const file of redisPodScripts) {
            const edited = await runWithEdited(file);
            assert.notStrictEqual(podTemplate(edited), podTemplate(shipped), `${file}: the pod template changes`);
        }
    });
});
