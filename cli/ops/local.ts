import * as path from "path";
import { Runner, UsageError } from "./exec";
import {
    chooseBackend,
    configFileArgs,
    configSet,
    deployStack,
    kindCluster,
    kubeContext,
    OpsContext,
    selectOrCreateStack,
    standinDir,
    standinImageTag,
} from "./workspace";

/** Where each tool comes from, for the "missing" message. */
export const toolHints: Record<string, string> = {
    docker: "Docker Desktop or Docker Engine: https://docs.docker.com/get-docker/",
    kind: "kind 0.33 or later (its release publishes the pinned node image): https://kind.sigs.k8s.io/docs/user/quick-start/#installation (or `go install sigs.k8s.io/kind@v0.33.0`)",
    pulumi: "the Pulumi CLI 3.160 or later: https://www.pulumi.com/docs/iac/download-install/",
    kubectl: "kubectl: https://kubernetes.io/docs/tasks/tools/",
    minikube: "minikube: https://minikube.sigs.k8s.io/docs/start/",
};

/** The kind cluster config committed with the project (host port 8088 to the local Gateway's node port). */
export const kindConfigFile = "cli/ops/kind-config.yaml";

/** The tools a local set-up on `context` needs. */
export function localTools(context: string): string[] {
    const cluster = kindCluster(context) ? ["kind"] : context === "minikube" ? ["minikube"] : [];
    return ["docker", ...cluster, "pulumi", "kubectl"];
}

/** Fails with one message naming every missing tool and how to install it, before anything runs. */
export function requireTools(runner: Runner, tools: readonly string[]): void {
    const missing = tools.filter((t) => !runner.which(t));
    if (missing.length > 0) {
        throw new UsageError(
            `missing ${missing.length === 1 ? "tool" : "tools"}: ${missing.join(", ")}. Install ${missing.length === 1 ? "it" : "them"} and run again:\n` +
                missing.map((t) => `  - ${t}: ${toolHints[t]}`).join("\n"),
        );
    }
}

/** The local cluster exists: kind creates it from kind-config.yaml; other clusters must already run. */
export function ensureCluster(ctx: OpsContext): void {
    const context = kubeContext(ctx);
    const kind = kindCluster(context);
    if (kind) {
        const clusters = ctx.runner.capture("kind", ["get", "clusters"]).stdout.split("\n").map((l) => l.trim());
        if (clusters.includes(kind)) {
            ctx.say(`kind cluster ${kind}: exists`);
            return;
        }
        ctx.say(`kind cluster ${kind}: creating from ${kindConfigFile}`);
        ctx.runner.run("kind", ["create", "cluster", "--name", kind, "--config", path.join(ctx.root, kindConfigFile), "--wait", "120s"]);
        return;
    }
    const contexts = ctx.runner.capture("kubectl", ["config", "get-contexts", "-o", "name"]).stdout.split("\n").map((l) => l.trim());
    if (!contexts.includes(context)) {
        throw new UsageError(
            `kube context ${context} does not exist. Start the cluster first (Docker Desktop: Settings > Kubernetes > Enable; minikube: \`minikube start\`), ` +
                `or point the stack at another one: pulumi config set kubeContext <context> --stack ${ctx.stack}`,
        );
    }
    ctx.say(`kube context ${context}: exists`);
}

/** Docker answers (the daemon runs), not only the client. */
export function requireDockerDaemon(runner: Runner): void {
    const info = runner.capture("docker", ["info", "--format", "{{.ServerVersion}}"]);
    if (info.status !== 0) {
        throw new UsageError(`docker is installed but its daemon does not answer (start Docker Desktop or the docker service):\n${info.stderr.trim()}`);
    }
}

/** Builds the stand-in API image and makes it available to the cluster's nodes; returns its tag. */
export function buildStandin(ctx: OpsContext): string {
    const tag = standinImageTag(ctx.root);
    const image = `${ctx.settings.api.image.repository}:${tag}`;
    requireDockerDaemon(ctx.runner);
    ctx.runner.run("docker", ["build", "--tag", image, standinDir(ctx.root)]);
    const context = kubeContext(ctx);
    const kind = kindCluster(context);
    if (kind) {
        ctx.runner.run("kind", ["load", "docker-image", image, "--name", kind]);
    } else if (context === "minikube") {
        ctx.runner.run("minikube", ["image", "load", image]);
    } else {
        // Docker Desktop's Kubernetes runs on the same Docker engine: the image is already there.
        ctx.say(`image ${image}: built into the Docker engine that ${context} uses`);
    }
    return tag;
}

/**
 * Stops a command made for a laptop's stack before it touches staging or production: the stand-in's
 * tag would replace the release image and drop its digest, `down` and `stop` would destroy it.
 */
export function requireLocalStack(ctx: OpsContext, command: string): void {
    if (ctx.settings.environment !== "local") {
        throw new UsageError(
            `${command} is for local stacks only, and stack ${ctx.stack} is ${ctx.settings.environment}. ` +
                `Change its image with \`npm run ops -- image --tag <version> --digest sha256:<digest> --stack ${ctx.stack}\` (it shows the preview and asks), ` +
                `or let its workflow deploy it (docs/delivery.md). Nothing was changed`,
        );
    }
}

/** Points the local stack at the stand-in image (a config change only when the sources changed) and deploys. */
export function deployStandin(ctx: OpsContext, tag: string): void {
    requireLocalStack(ctx, "deploy");
    const changed = configSet(ctx, { apiImageTag: tag, apiImageDigest: "" });
    if (changed.length > 0) {
        ctx.say(`apiImageTag = ${tag} (the stand-in's sources changed)`);
    }
    deployStack(ctx);
}

/** The URL the local stack answers on. */
export function localUrl(ctx: OpsContext): string {
    const scheme = ctx.settings.ingress.tls.enabled ? "https" : "http";
    const context = kubeContext(ctx);
    // kind-config.yaml maps the host's 8088 (and 8443) to the local Gateway's node ports; Docker Desktop
    // publishes its LoadBalancer Service's ports (8088, 8443) on localhost.
    const direct = kindCluster(context) || (context === "docker-desktop" && ctx.settings.addons.envoyGateway && ctx.settings.ingress.exposure === "gateway");
    return direct ? `${scheme}://localhost:${scheme === "https" ? 8443 : 8088}` : "http://localhost:8088 (after `make k8s-local-access`)";
}

/** The whole local set-up: tools, Docker's daemon, cluster, backend, stack, image, deploy. Running it again changes nothing. */
export function localUp(ctx: OpsContext): void {
    requireLocalStack(ctx, "up");
    requireTools(ctx.runner, localTools(kubeContext(ctx)));
    // kind runs its node in Docker and the image is built with it: a daemon that does not answer
    // stops the set-up here, before a cluster, a backend or a stack is created.
    requireDockerDaemon(ctx.runner);
    ensureCluster(ctx);
    const backend = chooseBackend(ctx.runner, ctx.root, ctx.project, ctx.stack);
    Object.assign(ctx.runner.env, backend.env);
    ctx.say(backend.description);
    if (backend.env.PULUMI_CONFIG_PASSPHRASE) {
        ctx.say(`secrets of stack ${ctx.stack} are encrypted with the passphrase "${backend.env.PULUMI_CONFIG_PASSPHRASE}" (PULUMI_CONFIG_PASSPHRASE; local data only)`);
    }
    selectOrCreateStack(ctx, backend);
    const tag = buildStandin(ctx);
    deployStandin(ctx, tag);
    ctx.say(`\nThe local stack is up: ${localUrl(ctx)}`);
}

/** Removes everything `localUp` created: the stack's resources, then the kind cluster. */
export function localDown(ctx: OpsContext, keepCluster: boolean): void {
    requireLocalStack(ctx, "down");
    const context = kubeContext(ctx);
    requireTools(ctx.runner, ["pulumi", ...(kindCluster(context) && !keepCluster ? ["kind"] : [])]);
    const backend = chooseBackend(ctx.runner, ctx.root, ctx.project, ctx.stack);
    Object.assign(ctx.runner.env, backend.env);
    if (ctx.runner.capture("pulumi", ["stack", "select", ctx.stack, "--non-interactive"]).status === 0) {
        ctx.runner.run("pulumi", ["destroy", "--stack", ctx.stack, "--yes", ...configFileArgs(ctx)]);
    } else {
        ctx.say(`stack ${ctx.stack}: does not exist, nothing to destroy`);
    }
    const kind = kindCluster(context);
    if (kind && !keepCluster) {
        if (ctx.runner.capture("kind", ["get", "clusters"]).stdout.split("\n").map((l) => l.trim()).includes(kind)) {
            ctx.runner.run("kind", ["delete", "cluster", "--name", kind]);
        } else {
            ctx.say(`kind cluster ${kind}: does not exist`);
        }
    }
}
