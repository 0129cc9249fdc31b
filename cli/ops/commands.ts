import { apiServicePort } from "../../components/api";
import { selectorLabels } from "../../lib/labels";
import { names } from "../../lib/names";
import { UsageError } from "./exec";
import { requireLocalStack } from "./local";
import { addonUrns, changeAndDeploy, chooseBackend, requireConfirmation, configFileArgs, kindCluster, kubeContext, kubectlTarget, OpsContext, validated } from "./workspace";

/**
 * The seed's everyday commands on top of the stack: kubectl reads (status, logs, shell, restart)
 * pinned to the stack's context and namespace; changes (scale, image, rollback, stop) as config
 * changes plus `pulumi up`/`destroy`, so the stack's state stays the truth.
 */

const deployment = `deployment/${names.api.deployment}`;

function apiSelector(ctx: OpsContext): string {
    return Object.entries(selectorLabels({ name: names.api.deployment, component: "api", instance: ctx.stack }))
        .map(([k, v]) => `${k}=${v}`)
        .join(",");
}

/** Pods, HPA, PDB, and VPA when its CRD exists. */
export function status(ctx: OpsContext): void {
    const target = kubectlTarget(ctx);
    ctx.runner.run("kubectl", [...target, "get", "pods,hpa,pdb", "-o", "wide"]);
    const vpa = ctx.runner.capture("kubectl", [...target, "get", "vpa"]);
    ctx.say(vpa.status === 0 ? vpa.stdout.trimEnd() : "VerticalPodAutoscalers: none (the VPA CRD is not installed; set installVpa, or see docs/autoscaling.md)");
}

/** Follows the API container's logs of every API pod. */
export function logs(ctx: OpsContext): void {
    ctx.runner.run("kubectl", [...kubectlTarget(ctx), "logs", "--follow", "--prefix", "--tail", "100", "--max-log-requests", "20", "-l", apiSelector(ctx), "-c", names.api.container]);
}

/** A shell in one API pod's container. */
export function shell(ctx: OpsContext): void {
    ctx.runner.run("kubectl", [...kubectlTarget(ctx), "exec", "-it", deployment, "-c", names.api.container, "--", "sh"]);
}

/**
 * Rolling restart. The restart annotation kubectl writes is owned by kubectl's field manager, not
 * Pulumi's (server-side apply), so it is no drift to the stack.
 */
export function restart(ctx: OpsContext): void {
    const target = kubectlTarget(ctx);
    ctx.runner.run("kubectl", [...target, "rollout", "restart", deployment]);
    ctx.runner.run("kubectl", [...target, "rollout", "status", deployment, "--timeout", "5m"]);
}

/**
 * Keeps at least `replicas` API pods: the HPA's floor (apiMinReplicas), checked against its ceiling
 * (apiMaxReplicas) and every other rule of the program before anything changes.
 */
export function scale(ctx: OpsContext, replicasText: string | undefined): void {
    const replicas = Number(replicasText);
    const max = ctx.settings.api.replicas.max;
    if (!/^\d+$/.test(replicasText ?? "") || replicas < 1 || replicas > max) {
        throw new UsageError(`scale ${replicasText ?? ""}: expected a whole number from 1 to ${max} (apiMaxReplicas of stack ${ctx.stack}; raise it first to go higher)`);
    }
    validated(ctx.stack, { apiMinReplicas: replicas });
    const previous = ctx.settings.api.replicas.min;
    useBackend(ctx);
    changeAndDeploy(ctx, "scale", { apiMinReplicas: String(replicas) });
    ctx.say(`the HPA keeps ${replicas} to ${max} API pods (floor was ${previous}; \`scale ${previous}\` restores it)`);
}

/** The image settings of a stack. */
export interface ImageRef {
    repository: string;
    tag: string;
    digest: string;
}

export const imageKeys = { repository: "apiImageRepository", tag: "apiImageTag", digest: "apiImageDigest" } as const;

const showImage = (i: ImageRef) => `${i.repository}${i.tag ? `:${i.tag}` : ""}${i.digest ? `@${i.digest}` : ""}`;

function imageConfig(image: ImageRef): Record<string, string> {
    return { [imageKeys.repository]: image.repository, [imageKeys.tag]: image.tag, [imageKeys.digest]: image.digest };
}

/** Deploys another API image: a config change validated by the program's rules, then `pulumi up`. */
export function setImage(ctx: OpsContext, change: Partial<ImageRef>): void {
    if (change.tag === undefined && change.digest === undefined) {
        throw new UsageError("image: give --tag <tag> and/or --digest sha256:<64 hex> (and --repository to change registry)");
    }
    const current = ctx.settings.api.image;
    const next: ImageRef = {
        repository: change.repository ?? current.repository,
        tag: change.tag ?? current.tag ?? "",
        // A new tag without a digest drops the old digest: it would otherwise win over the tag.
        digest: change.digest ?? (change.tag !== undefined ? "" : (current.digest ?? "")),
    };
    validated(ctx.stack, imageConfig(next));
    useBackend(ctx);
    changeAndDeploy(ctx, "image", imageConfig(next));
    ctx.say(`API image: ${showImage(next)} (was ${current.ref})`);
}

/** One entry of `pulumi stack history --json` (newest first). */
export interface HistoryEntry {
    kind: string;
    result?: string;
    startTime?: string;
    version?: number;
    config?: Record<string, { value?: string; secret?: boolean }>;
}

/** The image of the newest succeeded update that ran another image than `current`, or undefined. */
export function previousImage(history: readonly HistoryEntry[], project: string, current: ImageRef): ImageRef | undefined {
    const same = (a: ImageRef, b: ImageRef) => a.repository === b.repository && a.tag === b.tag && a.digest === b.digest;
    for (const entry of history) {
        if (entry.kind !== "update" || entry.result !== "succeeded" || !entry.config) {
            continue;
        }
        const value = (key: string) => entry.config![`${project}:${key}`]?.value ?? "";
        const image = { repository: value(imageKeys.repository), tag: value(imageKeys.tag), digest: value(imageKeys.digest) };
        if (image.repository && !same(image, current)) {
            return image;
        }
    }
    return undefined;
}

/** Back to the image of the last successful update that ran a different one (from the stack's history). */
export function rollback(ctx: OpsContext): void {
    requireConfirmation(ctx, "rollback");
    useBackend(ctx);
    const result = ctx.runner.capture("pulumi", ["stack", "history", "--json", "--stack", ctx.stack]);
    if (result.status !== 0) {
        throw new UsageError(`cannot read the history of stack ${ctx.stack}:\n${result.stderr.trim()}`);
    }
    const current = ctx.settings.api.image;
    const currentRef = { repository: current.repository, tag: current.tag ?? "", digest: current.digest ?? "" };
    const previous = previousImage(JSON.parse(result.stdout || "[]") as HistoryEntry[], ctx.project, currentRef);
    if (!previous) {
        throw new UsageError(`stack ${ctx.stack} has no successful update with another API image than ${current.ref}: nothing to roll back to`);
    }
    validated(ctx.stack, imageConfig(previous));
    changeAndDeploy(ctx, "rollback", imageConfig(previous));
    ctx.say(`rolled back the API image to ${showImage(previous)} (was ${current.ref})`);
}

/** Removes the application (the seed's "delete namespace"); cluster add-ons stay for the next deploy. */
export function stop(ctx: OpsContext): void {
    requireLocalStack(ctx, "stop");
    useBackend(ctx);
    const { component, releases, issuer, gatewayObjects } = addonUrns(ctx);
    const keep = releases.length > 0 ? [component, ...releases, ...(issuer ? [issuer] : []), ...gatewayObjects] : [];
    ctx.runner.run("pulumi", ["destroy", "--stack", ctx.stack, "--yes", ...configFileArgs(ctx), ...keep.flatMap((urn) => ["--exclude", urn])]);
}

/**
 * kind and Docker Desktop with the local Gateway: it answers on the host's port 8088 already; elsewhere a
 * port-forward to the API Service.
 */
export function access(ctx: OpsContext): void {
    const context = kubeContext(ctx);
    const localGateway = ctx.settings.ingress.enabled && ctx.settings.addons.envoyGateway && ctx.settings.ingress.gateway?.className !== undefined;
    if (localGateway && (kindCluster(context) || context === "docker-desktop")) {
        const how = kindCluster(context) ? "kind maps the host's port 8088 to the Gateway's node port" : "Docker Desktop publishes the Gateway's LoadBalancer Service on localhost";
        ctx.say(`http://localhost:8088 (${how})`);
        return;
    }
    ctx.say("forwarding http://localhost:8088 to the API Service; Ctrl-C stops");
    ctx.runner.run("kubectl", [...kubectlTarget(ctx), "port-forward", `service/${names.api.service}`, `8088:${apiServicePort}`]);
}

/** The Pulumi CLI gets the same backend the local command chose. */
export function useBackend(ctx: OpsContext): void {
    Object.assign(ctx.runner.env, chooseBackend(ctx.runner, ctx.root, ctx.project, ctx.stack).env);
}
