/**
 * The API's HorizontalPodAutoscaler as a stack's program registers it (run on Pulumi's mocks), or
 * from a manifest file, normalized for the simulator.
 */
import { readFileSync } from "fs";
import * as path from "path";
import { parse } from "yaml";
import { parseCpu } from "../../lib/quantity";
import { CapturedResource, ProgramRun, runStack } from "../../harness/mockProgram";
import { projectRoot, stackConfig } from "../../harness/stackConfig";
import { Autoscaler, hpaType, readAutoscaler } from "./hpaSpec";

/** The API's HPA and Deployment, by `metadata.name` (lib/names.ts). */
export const apiHpaName = "healthcare-api";
export const apiDeploymentName = "healthcare-api";
const apiContainerName = "api";

/** The seed's HPA for a stack, as a manifest (tests/fixtures/hpa): the simulator's tests run on it. */
export const seedHpaManifest = (stack: string) => path.join("tests", "fixtures", "hpa", `seed-${stack}.yaml`);

const metadataName = (r: CapturedResource) => r.inputs?.metadata?.name ?? r.name;

/** The program's HPA for the API; fails, saying what to do, when the program registers none. */
export function findApiHpa(run: ProgramRun, stack: string): CapturedResource {
    const hpas = run.ofType(hpaType);
    const found = hpas.find((r) => metadataName(r) === apiHpaName) ?? hpas.find((r) => r.inputs?.spec?.scaleTargetRef?.name === apiDeploymentName);
    if (!found) {
        throw new Error(
            `stack ${stack}: the program registers no ${hpaType} named ${apiHpaName} (HPAs registered: ${hpas.map(metadataName).join(", ") || "none"}), ` +
                `so there is no HPA to simulate. To simulate a proposed one, pass its manifest with --hpa <file> (the seed's: ${seedHpaManifest(stack)}).`,
        );
    }
    return found;
}

/** The CPU request of the API container, in millicores, as the program sets it. */
export function apiCpuRequest(run: ProgramRun): number | undefined {
    const deployment = run.ofType("kubernetes:apps/v1:Deployment").find((r) => metadataName(r) === apiDeploymentName);
    const container = deployment?.inputs?.spec?.template?.spec?.containers?.find((c: any) => c.name === apiContainerName);
    const request = container?.resources?.requests?.cpu;
    return typeof request === "string" ? parseCpu(request) : undefined;
}

/** Reads an HPA manifest (YAML or JSON; the first HorizontalPodAutoscaler document). */
export function readHpaManifest(file: string): Autoscaler {
    const text = readFileSync(path.resolve(projectRoot, file), "utf8");
    const documents = text.split(/^---\s*$/m).map((d) => parse(d)).filter(Boolean);
    const hpa = documents.find((d) => d?.kind === "HorizontalPodAutoscaler");
    if (!hpa) {
        throw new Error(`${file} holds no HorizontalPodAutoscaler`);
    }
    return readAutoscaler(hpa);
}

export interface StackAutoscaler {
    autoscaler: Autoscaler;
    /** Where the HPA came from: "the program" or the manifest's path. */
    source: string;
    /** The API container's CPU request (millicores) from the program. */
    cpuRequestMillicores?: number;
}

/**
 * Runs the stack's program on the mocks (with setting `overrides`) and reads its HPA, or reads
 * `manifest` instead when given.
 */
export async function stackAutoscaler(stack: string, manifest?: string, overrides: Record<string, unknown> = {}): Promise<StackAutoscaler> {
    return runAutoscaler(await runStack(stackConfig(stack, overrides), stack), stack, manifest);
}

/** The same, from a program run already made (the docs test shares its runs). */
export function runAutoscaler(run: ProgramRun, stack: string, manifest?: string): StackAutoscaler {
    const cpuRequestMillicores = apiCpuRequest(run);
    if (manifest) {
        return { autoscaler: readHpaManifest(manifest), source: manifest, cpuRequestMillicores };
    }
    const hpa = findApiHpa(run, stack);
    return { autoscaler: readAutoscaler({ metadata: hpa.inputs.metadata, spec: hpa.inputs.spec }), source: "the program", cpuRequestMillicores };
}
