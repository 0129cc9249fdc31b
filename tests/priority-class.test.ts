import * as assert from "assert";
import { DataPriorityClass, dataPriorityValue } from "../components/priorityClass";
import { ComponentArgsError } from "../lib/args";
import { ProgramRun, runStack } from "../harness/mockProgram";
import { ShippedStack, shippedStacks, stackConfig, onStatefulSetEngine } from "../harness/stackConfig";
import { CLUSTER, PRIORITY_CLASS } from "./support/resourceTypes";

/** Every pod template the stack registers, and the CloudNativePG Cluster's spec (the operator builds its pods from it). */
const podSpecs = (run: ProgramRun) => [
    ...run.resources
        .filter((r) => r.inputs?.spec?.template?.spec)
        .map((r) => ({ what: `${r.type.split(":").pop()} ${r.name}`, spec: r.inputs.spec.template.spec })),
    ...run.ofType(CLUSTER).map((r) => ({ what: `Cluster ${r.name}`, spec: r.inputs.spec })),
];
/** Staging on the statefulset engine (the local stack's). */

describe("the data stores' PriorityClass", () => {
    const runs = {} as Record<ShippedStack, ProgramRun>;
    before(async () => {
        for (const stack of shippedStacks) {
            runs[stack] = await runStack(stackConfig(stack), stack);
        }
    });

    for (const stack of ["staging", "production"] as const) {
        it(`${stack}: one class above the API's priority, named for the stack, given to PostgreSQL and Redis only`, () => {
            const classes = runs[stack].ofType(PRIORITY_CLASS);
            assert.strictEqual(classes.length, 1);
            const pc = classes[0].inputs;
            assert.strictEqual(pc.metadata.name, `healthcare-backend-${stack}-data`);
            assert.strictEqual(pc.metadata.namespace, undefined, "cluster-scoped");
            assert.strictEqual(pc.globalDefault, false, "pods that do not name it keep the cluster's default");
            assert.strictEqual(pc.preemptionPolicy, "PreemptLowerPriority");
            // The API names no class: priority 0 (no global default in the stack). User classes stop at 1e9.
            assert.ok(pc.value > 0 && pc.value === dataPriorityValue && pc.value <= 1000000000, `value ${pc.value}`);
            const named = podSpecs(runs[stack])
                .filter((p) => p.spec.priorityClassName)
                .map((p) => `${p.what} ${p.spec.priorityClassName}`);
            // PostgreSQL is a CloudNativePG Cluster here: the operator gives the class to every instance (not to the pooler).
            assert.deepStrictEqual(named.sort(), [`Cluster postgres ${pc.metadata.name}`, `StatefulSet redis-cluster ${pc.metadata.name}`]);
            assert.strictEqual(runs[stack].get("kubernetes:postgresql.cnpg.io/v1:Pooler", "postgres-pooler").inputs.spec.template.spec.priorityClassName, undefined);
        });
    }

    it("staging on the statefulset engine gives the class to the PostgreSQL StatefulSet's pods", async () => {
        const run = await runStack(stackConfig("staging", onStatefulSetEngine), "staging");
        const named = podSpecs(run)
            .filter((p) => p.spec.priorityClassName)
            .map((p) => `${p.what} ${p.spec.priorityClassName}`);
        assert.deepStrictEqual(named.sort(), ["StatefulSet postgres healthcare-backend-staging-data", "StatefulSet redis-cluster healthcare-backend-staging-data"]);
    });

    it("staging and production name different classes, so both stacks fit on one cluster", () => {
        const name = (stack: ShippedStack) => runs[stack].ofType(PRIORITY_CLASS)[0].inputs.metadata.name;
        assert.notStrictEqual(name("staging"), name("production"));
    });

    it("local: no class, and no pod names one", () => {
        assert.deepStrictEqual(runs.local.ofType(PRIORITY_CLASS), []);
        assert.deepStrictEqual(
            podSpecs(runs.local).filter((p) => p.spec.priorityClassName !== undefined).map((p) => p.what),
            [],
        );
    });

    it("the component refuses a reserved or malformed name before registering anything", () => {
        assert.throws(
            () => new DataPriorityClass("bad", { className: "system-data", instance: "production" }),
            (e: unknown) => e instanceof ComponentArgsError && /starts with system-, which Kubernetes reserves/.test((e as Error).message),
        );
        assert.throws(() => new DataPriorityClass("bad", { className: "Data", instance: "production" }), /is not a DNS subdomain name/);
    });
});
