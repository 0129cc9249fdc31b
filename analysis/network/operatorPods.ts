/**
 * The pods an operator runs for the custom resources the program registers. The program renders no
 * pod template for them (at most a partial one, the Pooler's, which the operator completes), so the
 * reachability universe (reachabilityMatrix.ts) builds them here from the registered resources:
 * labelled and with the container ports the operator gives them, read from its source.
 *
 * CloudNativePG 1.30.1 (github.com/cloudnative-pg/cloudnative-pg):
 * - instances: pkg/specs/pods.go `buildInstance` (labels) and `createPostgresContainers` (ports
 *   postgresql 5432, metrics 9187, status 8000); the operator adds `cnpg.io/instanceRole` (and the
 *   older `role`) as primary or replica.
 * - Jobs: pkg/specs/jobs.go `CreatePrimaryJob`: the instance's labels without `cnpg.io/podRole`, plus
 *   `cnpg.io/jobRole` (initdb or import to bootstrap, join for each standby, major-upgrade); no port.
 * - PgBouncer: pkg/specs/pgbouncer/deployments.go: the Pooler's `spec.template` labels, overwritten by
 *   the operator's own; ports pgbouncer 5432 and metrics 9127.
 * - `spec.inheritedMetadata.labels` of a Cluster go on its instances and Jobs.
 */
import { CapturedResource } from "../../harness/mockProgram";
import { ContainerPort } from "./reachability";

/** A pod the operator will run: two make a role, so that it can be tried against itself. */
export interface OperatorPod {
    labels: Record<string, string>;
    ports: ContainerPort[];
    /** What distinguishes it from the other pod of its role (`primary`, `join Job`). */
    variant: string;
}

/** A group of the operator's pods with one role in the matrix. */
export interface OperatorWorkload {
    role: string;
    /** `<Kind>/<name>` of the custom resource it runs for. */
    owner: string;
    namespace?: string;
    description: string;
    /** Exactly two pods, the role's `a` and `b`. */
    pods: [OperatorPod, OperatorPod];
}

/** The roles the operator's pods play in the matrix (the program's own, though it renders no template for them). */
export const operatorRoles = { instances: "postgres", pooler: "pg-pooler", jobs: "pg-jobs" } as const;

const cnpg = "postgresql.cnpg.io/v1";
/** The resource types whose pods the operator runs, and whose (partial) pod templates the universe must not read as the program's. */
export const operatorManagedTypes = [`kubernetes:${cnpg}:Cluster`, `kubernetes:${cnpg}:Pooler`];

const tcp = (name: string, containerPort: number): ContainerPort => ({ name, containerPort, protocol: "TCP" });
const label = {
    cluster: "cnpg.io/cluster",
    instanceName: "cnpg.io/instanceName",
    podRole: "cnpg.io/podRole",
    instanceRole: "cnpg.io/instanceRole",
    legacyRole: "role",
    jobRole: "cnpg.io/jobRole",
    pooler: "cnpg.io/poolerName",
};

/** The major version the operator reads from the image tag (`17.6-standard-trixie` -> 17), as its `app.kubernetes.io/version` label. */
function majorVersion(imageName: unknown): string | undefined {
    const tag = typeof imageName === "string" ? /:(\d+)(?:\.\d+)?[^:/]*$/.exec(imageName)?.[1] : undefined;
    return tag;
}

/** The labels every pod of a Cluster carries (pkg/specs/pods.go, jobs.go). */
function clusterPodLabels(cluster: CapturedResource, instanceName: string): Record<string, string> {
    const name: string = cluster.inputs.metadata.name;
    const version = majorVersion(cluster.inputs.spec?.imageName);
    return {
        ...(cluster.inputs.spec?.inheritedMetadata?.labels ?? {}),
        [label.cluster]: name,
        [label.instanceName]: instanceName,
        "app.kubernetes.io/name": "postgresql",
        "app.kubernetes.io/instance": name,
        ...(version ? { "app.kubernetes.io/version": version } : {}),
        "app.kubernetes.io/component": "database",
        "app.kubernetes.io/managed-by": "cloudnative-pg",
    };
}

function clusterWorkloads(cluster: CapturedResource): OperatorWorkload[] {
    const name: string = cluster.inputs.metadata.name;
    const owner = `Cluster/${name}`;
    const namespace: string | undefined = cluster.inputs.metadata.namespace;
    const instances: number = cluster.inputs.spec?.instances ?? 1;
    const ports = [tcp("postgresql", 5432), tcp("metrics", 9187), tcp("status", 8000)];
    const instance = (serial: number, role: "primary" | "replica"): OperatorPod => ({
        labels: { ...clusterPodLabels(cluster, `${name}-${serial}`), [label.podRole]: "instance", [label.instanceRole]: role, [label.legacyRole]: role },
        ports,
        variant: role,
    });
    // The first instance is bootstrapped by a Job (initdb, or import with initdb.import); each further one joins by a Job.
    const bootstrapRole = cluster.inputs.spec?.bootstrap?.initdb?.import ? "import" : cluster.inputs.spec?.bootstrap?.recovery ? "full-recovery" : "initdb";
    const job = (serial: number, jobRole: string): OperatorPod => ({
        labels: { ...clusterPodLabels(cluster, `${name}-${serial}`), [label.jobRole]: jobRole },
        ports: [],
        variant: `${jobRole} Job`,
    });
    const bootstrap = job(1, bootstrapRole);
    return [
        {
            role: operatorRoles.instances,
            owner,
            namespace,
            description: `${owner}'s ${instances} instance${instances === 1 ? "" : "s"} (CloudNativePG runs them: a primary and a replica tried)`,
            pods: [instance(1, "primary"), instance(2, "replica")],
        },
        {
            role: operatorRoles.jobs,
            owner,
            namespace,
            description: `${owner}'s Jobs (CloudNativePG runs them: ${bootstrapRole}${instances > 1 ? ", join for each standby" : ""})`,
            pods: [bootstrap, instances > 1 ? job(2, "join") : { ...bootstrap, variant: `another ${bootstrapRole} Job` }],
        },
    ];
}

function poolerWorkload(pooler: CapturedResource): OperatorWorkload {
    const name: string = pooler.inputs.metadata.name;
    const cluster: string = pooler.inputs.spec?.cluster?.name;
    const labels = {
        ...(pooler.inputs.spec?.template?.metadata?.labels ?? {}),
        [label.pooler]: name,
        [label.cluster]: cluster,
        [label.podRole]: "pooler",
        "app.kubernetes.io/name": "postgresql",
        "app.kubernetes.io/instance": cluster,
        "app.kubernetes.io/component": "pooler",
        "app.kubernetes.io/managed-by": "cloudnative-pg",
    };
    const pod = (variant: string): OperatorPod => ({ labels, ports: [tcp("pgbouncer", 5432), tcp("metrics", 9127)], variant });
    return {
        role: operatorRoles.pooler,
        owner: `Pooler/${name}`,
        namespace: pooler.inputs.metadata.namespace,
        description: `Pooler/${name}'s PgBouncer pods (CloudNativePG runs them)`,
        pods: [pod("one"), pod("another")],
    };
}

/** Every pod group the operators will run for the program's custom resources. */
export function operatorWorkloads(resources: readonly CapturedResource[]): OperatorWorkload[] {
    return resources
        .filter((r) => r.custom && !r.read)
        .flatMap((r) => {
            switch (r.type) {
                case operatorManagedTypes[0]:
                    return clusterWorkloads(r);
                case operatorManagedTypes[1]:
                    return [poolerWorkload(r)];
                default:
                    return [];
            }
        });
}

/** Whether the program registers a CloudNativePG Cluster: the operator (outside the program) then reaches into the namespace. */
export function runsCloudNativePg(resources: readonly CapturedResource[]): boolean {
    return resources.some((r) => r.custom && r.type === operatorManagedTypes[0]);
}
