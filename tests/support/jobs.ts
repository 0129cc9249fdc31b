import { spawn } from "child_process";
import * as path from "path";

/**
 * A Kubernetes Job's pods run on this machine, with real processes: Kubernetes' Job controller and
 * kubelet in miniature, for what decides which containers run again after a failure.
 *
 * - `restartPolicy: Never`: a container that fails fails its pod; the Job starts a new pod (every
 *   init container runs again, then the main container) until `backoffLimit` pods have failed.
 * - `restartPolicy: OnFailure`: the failed container is restarted in the same pod (init containers
 *   that completed do not run again); every restart counts towards `backoffLimit`.
 *
 * The Job controller's and the kubelet's back-off delays are left out. A container runs its
 * `command` with its `env`: `value`s as they are, and `fieldRef`s to the pod's name and labels (a
 * Job's pods carry `batch.kubernetes.io/job-name` and `job-name`); every path under one of its
 * `volumeMounts` (in the command and in env values) becomes the same path under the folder the test
 * gives that volume; `overrides` replace env values (where the server is, a tool's path).
 */

export interface ContainerSpec {
    name: string;
    command: string[];
    env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
    volumeMounts?: { name: string; mountPath: string }[];
}

export interface JobSpec {
    backoffLimit?: number;
    template: { metadata?: { labels?: Record<string, string> }; spec: { restartPolicy: string; initContainers?: ContainerSpec[]; containers: ContainerSpec[] } };
}

/** One container run: its pod (1 = the Job's first), its name, exit status and output. */
export interface ContainerRun {
    pod: number;
    container: string;
    status: number | null;
    stdout: string;
    stderr: string;
}

export interface JobHost {
    /** Host folder of each pod volume a container mounts. */
    volumes: Record<string, string>;
    /** Environment variables set or replaced in every container. */
    overrides: Record<string, string>;
    /** Called after each container run, before the next (the test changes the world here: S3 comes back). */
    afterRun?: (run: ContainerRun) => void | Promise<void>;
}

/** Runs the Job to completion or failure; returns whether it succeeded and every container run in order. */
export async function runJob(jobName: string, job: JobSpec, host: JobHost): Promise<{ succeeded: boolean; runs: ContainerRun[] }> {
    const { restartPolicy, initContainers = [], containers } = job.template.spec;
    if (containers.length !== 1 || !["Never", "OnFailure"].includes(restartPolicy)) {
        throw new Error(`runJob models one main container and restartPolicy Never or OnFailure, not ${containers.length} containers and ${restartPolicy}`);
    }
    const backoffLimit = job.backoffLimit ?? 6;
    const runs: ContainerRun[] = [];
    let failures = 0;
    for (let pod = 1; ; pod++) {
        const labels: Record<string, string> = { ...(job.template.metadata?.labels ?? {}), "batch.kubernetes.io/job-name": jobName, "job-name": jobName };
        const podName = `${jobName}-${pod.toString(36).padStart(5, "x")}`;
        let podFailed = false;
        for (const container of [...initContainers, containers[0]]) {
            for (;;) {
                const run = { pod, container: container.name, ...(await runContainer(container, { name: podName, labels }, host)) };
                runs.push(run);
                await host.afterRun?.(run);
                if (run.status === 0) {
                    break;
                }
                failures++;
                if (failures > backoffLimit) {
                    return { succeeded: false, runs };
                }
                if (restartPolicy === "Never") {
                    podFailed = true;
                    break;
                }
            }
            if (podFailed) {
                break;
            }
        }
        if (!podFailed) {
            return { succeeded: true, runs };
        }
    }
}

function runContainer(container: ContainerSpec, pod: { name: string; labels: Record<string, string> }, host: JobHost): Promise<{ status: number | null; stdout: string; stderr: string }> {
    const mounts = (container.volumeMounts ?? []).map((m) => {
        const hostPath = host.volumes[m.name];
        if (!hostPath) {
            throw new Error(`container ${container.name} mounts volume ${m.name}, which the test gave no folder`);
        }
        return { mountPath: m.mountPath, hostPath };
    });
    const onHost = (value: string) => {
        const mount = mounts.find((m) => value === m.mountPath || value.startsWith(`${m.mountPath}/`));
        return mount ? path.join(mount.hostPath, value.slice(mount.mountPath.length)) : value;
    };
    const env: Record<string, string> = {};
    for (const e of container.env ?? []) {
        if (e.value !== undefined) {
            env[e.name] = onHost(e.value);
            continue;
        }
        const field = e.valueFrom?.fieldRef?.fieldPath;
        const label = field && /^metadata\.labels\['([^']+)'\]$/.exec(field);
        if (field === "metadata.name") {
            env[e.name] = pod.name;
        } else if (label) {
            env[e.name] = pod.labels[label[1]] ?? "";
        } else {
            throw new Error(`container ${container.name}: env ${e.name} comes from ${JSON.stringify(e.valueFrom)}, which runJob does not model`);
        }
    }
    const [program, ...args] = container.command.map(onHost);
    return new Promise((resolve) => {
        const child = spawn(program, args, { env: { ...env, ...host.overrides } });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        child.on("close", (status) => resolve({ status, stdout, stderr }));
    });
}
