/**
 * Draws what each shipped stack's NetworkPolicies allow into docs/reachability-<stack>.svg, from the
 * program's real policies and pod templates, and the pods CloudNativePG runs for its Cluster and
 * Pooler, on Pulumi's mocks (the same matrix the network tests assert): `npm run docs:reachability`. A test (tests/docs.test.ts) fails when a committed picture
 * differs from what this produces.
 */
import { writeFileSync } from "fs";
import * as path from "path";
import { plotMatrix } from "../analysis/network/matrixSvg";
import { programRoles, reachabilityMatrix, stackGateway, stackHosts, universeOf } from "../analysis/network/reachabilityMatrix";
import { NetworkPolicy } from "../analysis/network/reachability";
import { ProgramRun, runStack } from "../harness/mockProgram";
import { projectRoot, readProject, shippedStacks, stackConfig } from "../harness/stackConfig";

/** Where the picture of `stack` lives. */
export const reachabilityPicture = (stack: string) => path.join(projectRoot, "docs", `reachability-${stack}.svg`);

/** The picture of one shipped stack, as the program's policies make it (from `run`, when one is at hand). */
export async function reachabilitySvg(stack: (typeof shippedStacks)[number], run?: ProgramRun): Promise<string> {
    const config = stackConfig(stack);
    run ??= await runStack(config, stack);
    const namespace = config[`${readProject().name}:namespace`];
    const universe = universeOf(run, namespace, { hosts: stackHosts(config, stack), gateway: stackGateway(config, stack) });
    const policies = run.ofType("kubernetes:networking.k8s.io/v1:NetworkPolicy").map((r) => r.inputs as NetworkPolicy);
    return plotMatrix(universe, reachabilityMatrix(universe, policies), {
        title: `Stack ${stack}: what the NetworkPolicies allow (rows: from, columns: to)`,
        subtitle: `Computed from the program's policies, pod templates and the pods its operator runs (analysis/network/reachability.ts); regenerate with npm run docs:reachability`,
        programRoles,
    });
}

async function main(): Promise<void> {
    for (const stack of shippedStacks) {
        const file = reachabilityPicture(stack);
        writeFileSync(file, await reachabilitySvg(stack));
        console.log(`${path.relative(projectRoot, file)} written`);
    }
}

if (require.main === module) {
    main().catch((error: Error) => {
        console.error(error.message);
        process.exit(1);
    });
}
