import { spawn, spawnSync } from "child_process";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "fs";
import { get } from "http";
import { createServer } from "net";
import * as path from "path";
import { stringify } from "yaml";
import { kubernetesBinary, Toolchain } from "./toolchain";

/**
 * A Kubernetes control plane on loopback, from the toolchain's binaries: etcd, kube-apiserver (its
 * default admission plugins, Pod Security among them, and RBAC), kube-controller-manager (garbage
 * collection, Deployments, StatefulSets, Jobs, namespaces, endpoints), kube-scheduler, and kwok
 * for nodes and kubelets (pods become Running and Ready, Jobs' pods complete, claims get volumes,
 * Ingresses get an address). No container runs. Certificates are generated afresh for each one.
 */

/** The address the API server publishes in the `kubernetes` Service's endpoints (never dialled). */
export const advertisedApiServerAddress = "198.51.100.7";

export interface ControlPlaneOptions {
    /** Folder for certificates, etcd's data, logs and the process list; emptied first. */
    readonly dir: string;
    readonly toolchain: Toolchain;
    /** Kubernetes version of the API server (and of the controllers with `full`). */
    readonly version: string;
    /** `full`: everything a deployment needs; `apiserver`: etcd and the API server only (dry runs). */
    readonly mode: "full" | "apiserver";
    /** Context names in the kubeconfig (the stacks' kubeContext values), all pointing at this cluster. */
    readonly contexts: readonly string[];
    /** Extra contexts that point at a closed port (for tests of an unreachable cluster). */
    readonly unreachableContexts?: readonly string[];
    /** Progress messages. */
    readonly say?: (line: string) => void;
}

export interface ControlPlane {
    readonly dir: string;
    /** Admin kubeconfig with one context per name asked for; its current context is the first. */
    readonly kubeconfig: string;
    /** https://127.0.0.1:<port> */
    readonly server: string;
    readonly version: string;
    /** The toolchain's kubectl against this cluster as admin; throws with kubectl's message on failure. */
    kubectl(args: readonly string[], input?: string): string;
    /** Stops exactly the processes this control plane started. */
    stop(): string[];
}

/** Zones of the fake nodes: the program spreads pods over `topology.kubernetes.io/zone`. */
export const nodeZones = ["zone-a", "zone-b", "zone-c"] as const;

/** The address kwok gives every Ingress (`status.loadBalancer`), so Pulumi's await completes. */
export const ingressAddress = "192.0.2.10";

interface ProcessRecord {
    name: string;
    pid: number;
}

const processesFile = (dir: string) => path.join(dir, "processes.json");

async function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const server = createServer();
        server.unref();
        server.on("error", reject);
        server.listen(0, "127.0.0.1", () => {
            const address = server.address();
            server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
        });
    });
}

function run(command: string, args: readonly string[], options: { input?: string; cwd?: string } = {}): string {
    const result = spawnSync(command, args, { input: options.input, cwd: options.cwd, encoding: "utf8" });
    if (result.status !== 0) {
        throw new Error(`${path.basename(command)} ${args.join(" ")} failed (exit ${result.status ?? result.signal}): ${(result.stderr || result.stdout || String(result.error ?? "")).trim()}`);
    }
    return result.stdout;
}

/** A CA and the certificates the cluster's parts present, with EC P-256 keys (fast to make). */
function generatePki(pki: string): void {
    mkdirSync(pki, { recursive: true });
    const ssl = (...args: string[]) => run("openssl", args, { cwd: pki });
    const key = (name: string) => ssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", `${name}.key`);
    key("ca");
    ssl("req", "-x509", "-new", "-key", "ca.key", "-days", "30", "-subj", "/CN=healthcare-e2e-ca", "-out", "ca.crt");
    const sign = (name: string, subject: string, extensions: string) => {
        key(name);
        ssl("req", "-new", "-key", `${name}.key`, "-subj", subject, "-out", `${name}.csr`);
        writeFileSync(path.join(pki, `${name}.ext`), extensions);
        ssl("x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "30", "-extfile", `${name}.ext`, "-out", `${name}.crt`);
    };
    const serverNames = ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"];
    sign(
        "apiserver",
        "/CN=kube-apiserver",
        `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${["IP:127.0.0.1", "IP:10.96.0.1", ...serverNames.map((n) => `DNS:${n}`)].join(",")}\n`,
    );
    const client = "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n";
    sign("admin", "/O=system:masters/CN=healthcare-e2e-admin", client);
    sign("controller-manager", "/CN=system:kube-controller-manager", client);
    sign("scheduler", "/CN=system:kube-scheduler", client);
    // Service-account token signing keys.
    key("service-accounts");
    ssl("ec", "-in", "service-accounts.key", "-pubout", "-out", "service-accounts.pub");
}

function writeKubeconfig(file: string, server: string, pki: string, user: string, contexts: readonly string[], unreachable: readonly string[] = []): void {
    const cluster = "healthcare-e2e";
    const ca = path.join(pki, "ca.crt");
    writeFileSync(
        file,
        stringify({
            apiVersion: "v1",
            kind: "Config",
            clusters: [
                { name: cluster, cluster: { server, "certificate-authority": ca } },
                // Port 1 on loopback: nothing listens there.
                { name: "unreachable", cluster: { server: "https://127.0.0.1:1", "certificate-authority": ca } },
            ],
            users: [{ name: user, user: { "client-certificate": path.join(pki, `${user}.crt`), "client-key": path.join(pki, `${user}.key`) } }],
            contexts: [...contexts.map((name) => ({ name, context: { cluster, user } })), ...unreachable.map((name) => ({ name, context: { cluster: "unreachable", user } }))],
            "current-context": contexts[0],
        }),
        { mode: 0o600 },
    );
}

function startProcess(dir: string, name: string, command: string, args: readonly string[]): ProcessRecord {
    const logs = path.join(dir, "logs");
    mkdirSync(logs, { recursive: true });
    const log = openSync(path.join(logs, `${name}.log`), "a");
    // Its own process group, detached: a sandbox outlives the command that started it.
    const child = spawn(command, args, { detached: true, stdio: ["ignore", log, log] });
    closeSync(log);
    child.unref();
    if (child.pid === undefined) {
        throw new Error(`could not start ${name} (${command})`);
    }
    const record = { name, pid: child.pid };
    const file = processesFile(dir);
    const records: ProcessRecord[] = existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : [];
    writeFileSync(file, JSON.stringify([...records, record], null, 2));
    return record;
}

/** The last lines of a component's log, for error messages. */
function logTail(dir: string, name: string, lines = 15): string {
    const file = path.join(dir, "logs", `${name}.log`);
    return existsSync(file) ? readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n") : "(no log)";
}

function alive(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch {
        return false;
    }
}

/** Our process is the one whose command line names our folder (a pid may have been reused since). */
function ours(pid: number, dir: string): boolean {
    try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(dir);
    } catch {
        return false;
    }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, failure: () => string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
        if (await check()) {
            return;
        }
        await sleep(250);
    }
    throw new Error(`${what} not ready after ${timeoutMs / 1000} s:\n${failure()}`);
}

/** Stops the processes recorded in `dir` (newest first), only those that are still ours; returns their names. */
export function stopControlPlane(dir: string): string[] {
    const file = processesFile(dir);
    if (!existsSync(file)) {
        return [];
    }
    const records: ProcessRecord[] = JSON.parse(readFileSync(file, "utf8"));
    const stopped: string[] = [];
    for (const record of [...records].reverse()) {
        if (!alive(record.pid) || !ours(record.pid, dir)) {
            continue;
        }
        process.kill(-record.pid, "SIGTERM");
        const deadline = Date.now() + 10_000;
        while (alive(record.pid) && Date.now() < deadline) {
            spawnSync("sleep", ["0.1"]);
        }
        if (alive(record.pid)) {
            process.kill(-record.pid, "SIGKILL");
        }
        stopped.push(record.name);
    }
    rmSync(file);
    return stopped;
}

/** Whether a control plane recorded in `dir` still runs. */
export function controlPlaneRunning(dir: string): boolean {
    const file = processesFile(dir);
    return existsSync(file) && (JSON.parse(readFileSync(file, "utf8")) as ProcessRecord[]).some((r) => alive(r.pid) && ours(r.pid, dir));
}

/** The kwok configuration: its own node, pod and volume stages, and one that gives Ingresses an address. */
function kwokConfig(toolchain: Toolchain): string {
    const stages = readdirSync(toolchain.kwokStages)
        .filter((f) => f.endsWith(".yaml") && !/storage-class|rbac|role/.test(f))
        .sort()
        .map((f) => readFileSync(path.join(toolchain.kwokStages, f), "utf8").trim());
    const ingress = stringify({
        apiVersion: "kwok.x-k8s.io/v1alpha1",
        kind: "Stage",
        metadata: { name: "ingress-address" },
        spec: {
            resourceRef: { apiGroup: "networking.k8s.io/v1", kind: "Ingress" },
            selector: {
                matchExpressions: [
                    { key: ".metadata.deletionTimestamp", operator: "DoesNotExist" },
                    { key: ".status.loadBalancer.ingress", operator: "DoesNotExist" },
                ],
            },
            next: { statusTemplate: `loadBalancer:\n  ingress:\n  - ip: ${ingressAddress}\n` },
        },
    });
    return [...stages, ingress.trim()].join("\n---\n") + "\n";
}

/** Three fake nodes, one per zone, large enough for the production stack. */
function nodeManifests(): string {
    return nodeZones
        .map((zone) => {
            const name = `e2e-node-${zone.slice(-1)}`;
            return stringify({
                apiVersion: "v1",
                kind: "Node",
                metadata: {
                    name,
                    annotations: { "kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0" },
                    labels: {
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "topology.kubernetes.io/zone": zone,
                        type: "kwok",
                    },
                },
                status: {
                    allocatable: { cpu: "64", memory: "256Gi", pods: "110", "ephemeral-storage": "500Gi" },
                    capacity: { cpu: "64", memory: "256Gi", pods: "110", "ephemeral-storage": "500Gi" },
                },
            });
        })
        .join("---\n");
}

/** The default StorageClass, provisioned by kwok's volume stages. */
const storageClass = stringify({
    apiVersion: "storage.k8s.io/v1",
    kind: "StorageClass",
    metadata: { name: "kwok-volume", annotations: { "storageclass.kubernetes.io/is-default-class": "true" } },
    provisioner: "kwok.x-k8s.io/volume",
    reclaimPolicy: "Delete",
    volumeBindingMode: "Immediate",
    allowVolumeExpansion: true,
});

/** Starts a control plane in `options.dir`; stops what it started if any part fails to come up. */
export async function startControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
    const { dir, toolchain, version } = options;
    const say = options.say ?? (() => undefined);
    if (controlPlaneRunning(dir)) {
        throw new Error(`a control plane already runs from ${dir}: stop it first`);
    }
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const pki = path.join(dir, "pki");
    const started = Date.now();
    try {
        generatePki(pki);
        const [etcdClient, etcdPeer, apiPort, kwokPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
        const server = `https://127.0.0.1:${apiPort}`;
        const kubeconfig = path.join(dir, "kubeconfig");
        writeKubeconfig(kubeconfig, server, pki, "admin", options.contexts, options.unreachableContexts);
        const kubectlBin = kubernetesBinary(toolchain, toolchain.e2eKubernetes, "kubectl");
        const kubectl = (args: readonly string[], input?: string) => run(kubectlBin, ["--kubeconfig", kubeconfig, "--context", options.contexts[0], ...args], { input });
        const healthy = (probe: string) => spawnSync(kubectlBin, ["--kubeconfig", kubeconfig, "--context", options.contexts[0], "get", "--raw", probe], { encoding: "utf8" }).status === 0;

        const etcd = startProcess(dir, "etcd", toolchain.etcd, [
            `--name=e2e`,
            `--data-dir=${path.join(dir, "etcd")}`,
            `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
            `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
            `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
            `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
            `--initial-cluster=e2e=http://127.0.0.1:${etcdPeer}`,
            // Throwaway data: no fsync keeps a 2-core machine's disk out of the way.
            "--unsafe-no-fsync",
            "--log-level=warn",
        ]);
        await waitFor("etcd", () => healthyHttp(`http://127.0.0.1:${etcdClient}/health`), 30_000, () => (alive(etcd.pid) ? logTail(dir, "etcd") : `etcd exited:\n${logTail(dir, "etcd")}`));

        const apiserverBin = kubernetesBinary(toolchain, version, "kube-apiserver");
        const apiserver = startProcess(dir, "kube-apiserver", apiserverBin, [
            `--etcd-servers=http://127.0.0.1:${etcdClient}`,
            "--bind-address=127.0.0.1",
            // The `kubernetes` Service's endpoints may not be a loopback address, and the program reads
            // them (the CloudNativePG pods' egress to the API server). A documentation address
            // (TEST-NET-2) that nothing dials: no pod runs, every client here uses the loopback URL.
            `--advertise-address=${advertisedApiServerAddress}`,
            `--secure-port=${apiPort}`,
            `--cert-dir=${path.join(dir, "apiserver")}`,
            `--tls-cert-file=${path.join(pki, "apiserver.crt")}`,
            `--tls-private-key-file=${path.join(pki, "apiserver.key")}`,
            `--client-ca-file=${path.join(pki, "ca.crt")}`,
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            `--service-account-key-file=${path.join(pki, "service-accounts.pub")}`,
            `--service-account-signing-key-file=${path.join(pki, "service-accounts.key")}`,
            "--service-cluster-ip-range=10.96.0.0/16",
            // As on real clusters: RBAC, and the default admission plugins (PodSecurity, LimitRanger,
            // DefaultStorageClass, ServiceAccount, ...).
            "--authorization-mode=Node,RBAC",
            "--profiling=false",
        ]);
        await waitFor(
            `kube-apiserver ${version}`,
            () => healthy("/readyz"),
            90_000,
            () => (alive(apiserver.pid) ? logTail(dir, "kube-apiserver") : `kube-apiserver exited:\n${logTail(dir, "kube-apiserver")}`),
        );

        if (options.mode === "full") {
            const componentConfig = (user: string) => {
                const file = path.join(dir, `${user}.kubeconfig`);
                writeKubeconfig(file, server, pki, user, ["default"]);
                return file;
            };
            const controllerManager = componentConfig("controller-manager");
            startProcess(dir, "kube-controller-manager", kubernetesBinary(toolchain, version, "kube-controller-manager"), [
                `--kubeconfig=${controllerManager}`,
                `--authentication-kubeconfig=${controllerManager}`,
                `--authorization-kubeconfig=${controllerManager}`,
                "--leader-elect=false",
                "--secure-port=0",
                "--use-service-account-credentials=true",
                `--service-account-private-key-file=${path.join(pki, "service-accounts.key")}`,
                `--root-ca-file=${path.join(pki, "ca.crt")}`,
                "--allocate-node-cidrs=false",
                // Jobs finish in under a second here; clean up at the controllers' normal pace otherwise.
                "--concurrent-gc-syncs=10",
            ]);
            const scheduler = componentConfig("scheduler");
            startProcess(dir, "kube-scheduler", kubernetesBinary(toolchain, version, "kube-scheduler"), [
                `--kubeconfig=${scheduler}`,
                `--authentication-kubeconfig=${scheduler}`,
                `--authorization-kubeconfig=${scheduler}`,
                "--leader-elect=false",
                "--secure-port=0",
            ]);
            const kwokConfigFile = path.join(dir, "kwok.yaml");
            writeFileSync(kwokConfigFile, kwokConfig(toolchain));
            startProcess(dir, "kwok", toolchain.kwok, [
                `--config=${kwokConfigFile}`,
                `--kubeconfig=${kubeconfig}`,
                "--manage-all-nodes=false",
                "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                "--cidr=10.244.0.1/16",
                "--node-ip=10.250.0.1",
                `--server-address=127.0.0.1:${kwokPort}`,
                // Node leases keep the nodes Ready between kwok's (10-minute) status heartbeats; without
                // them the node lifecycle controller marks nodes NotReady and their pods unready.
                "--node-lease-duration-seconds=40",
            ]);
            kubectl(["apply", "-f", "-"], `${nodeManifests()}---\n${storageClass}`);
            await waitFor(
                "kwok's nodes",
                () => {
                    const ready = spawnSync(kubectlBin, ["--kubeconfig", kubeconfig, "--context", options.contexts[0], "get", "nodes", "-o", "jsonpath={range .items[*]}{.status.conditions[?(@.type=='Ready')].status}{'\\n'}{end}"], { encoding: "utf8" });
                    return ready.status === 0 && ready.stdout.trim().split("\n").filter((s) => s === "True").length === nodeZones.length;
                },
                60_000,
                () => `${logTail(dir, "kwok")}\n${logTail(dir, "kube-controller-manager")}`,
            );
            // The controllers' own service accounts and the namespace controller must be up before a
            // stack deploys: wait for the default ServiceAccount a new namespace gets.
            await waitFor("kube-controller-manager", () => healthy("/api/v1/namespaces/default/serviceaccounts/default"), 60_000, () => logTail(dir, "kube-controller-manager"));
        }
        say(`control plane ${version} (${options.mode}) up in ${((Date.now() - started) / 1000).toFixed(1)} s at ${server}; kubeconfig ${kubeconfig}`);
        return { dir, kubeconfig, server, version, kubectl, stop: () => stopControlPlane(dir) };
    } catch (error) {
        stopControlPlane(dir);
        throw error;
    }
}

function healthyHttp(url: string): Promise<boolean> {
    return new Promise((resolve) => {
        const request = get(url, { timeout: 2000 }, (response) => {
            response.resume();
            resolve(response.statusCode === 200);
        });
        request.on("error", () => resolve(false));
        request.on("timeout", () => request.destroy());
    });
}

/**
 * What staging's and production's platform provides besides the CRDs, as stand-ins for a control plane
 * where no add-on runs (harness/engine/platform-standins.yaml: the custom-metrics API as discovery
 * shows it, the ClusterIssuer the stacks name). Apply after the CRDs (cert-manager's among them).
 */
export async function applyPlatformStandins(cluster: ControlPlane): Promise<void> {
    const [customMetrics, ...rest] = readFileSync(path.join(__dirname, "platform-standins.yaml"), "utf8").split(/^---$/m);
    cluster.kubectl(["apply", "--server-side", "-f", "-"], customMetrics);
    const established = () => cluster.kubectl(["get", "crd", "standins.custom.metrics.k8s.io", "-o", "jsonpath={.status.conditions[?(@.type=='Established')].status}"]);
    await waitFor("the custom-metrics stand-in's CRD", () => established() === "True", 60_000, () => established());
    cluster.kubectl(["apply", "--server-side", "-f", "-"], rest.join("---\n"));
}
