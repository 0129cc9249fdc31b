import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ApiSettings, IngressSettings } from "../config";
import { builtInOptions, checkArgs, customResourceOptions, NamespacedArgs } from "../lib/args";
import { tcp, WorkloadEndpoints } from "../lib/endpoints";
import { selectorLabels, standardLabels, WorkloadIdentity } from "../lib/labels";
import { contentNamedConfigMap } from "../lib/configMap";
import { names } from "../lib/names";
import { withEphemeralStorage } from "../lib/resources";
import { appsController, ScaleTarget } from "../lib/scaleTarget";
import { caCertificateMount, restrictedContainerSecurityContext, restrictedPodSecurityContext, tokenlessServiceAccount } from "../lib/security";
import { DatabaseConnection } from "./postgres";
import { CacheConnection } from "./redisCluster";

/** The uid the API runs as; the image must not need root (the stand-in image uses it too). */
export const apiUid = 10001;

/** The port the API's Service exposes for HTTP inside the cluster. */
export const apiServicePort = 80;

/** Where the API finds the database's CA certificate (DATABASE_SSL_ROOT_CERT). */
export const databaseCaPath = "/run/secrets/database-ca";
const databaseCaFile = "ca.crt";
/** Where the API finds the Redis nodes' CA certificate (REDIS_TLS_CA_FILE), with redisTls. */
export const redisCaPath = "/run/secrets/redis-ca";
const redisCaFile = "ca.crt";

/** Args of the API Deployment, its Service and Ingress. */
export interface ApiArgs extends NamespacedArgs {
    /** Image, ports, probe paths, replicas and resources from the stack config. */
    settings: ApiSettings;
    /** Fixed replica count; leave undefined when a HorizontalPodAutoscaler owns the scale. */
    replicas?: number;
    /** Where PostgreSQL is and which Secret holds its credentials. */
    database: DatabaseConnection;
    /** Where the Redis Cluster is, the API's user, the Secret with its password, and TLS. */
    cache: CacheConnection;
    /** Host, class and TLS of the public entry point, and whether it is an HTTPRoute or an Ingress. */
    ingress: IngressSettings;
    /** The Gateway listener the HTTPRoute attaches to (`ingress.exposure: gateway`): the platform's, or the one a `Gateway` component created. */
    gateway?: { readonly name: string; readonly namespace?: string; readonly sectionName?: string };
    /** What the HTTPRoute waits for: the add-ons that bring the Gateway API CRDs, the stack's own Gateway. */
    crdInstallers?: pulumi.Resource[];
}

/** The API: ServiceAccount, content-named ConfigMap, Deployment `healthcare-api`, Service, and an HTTPRoute or an Ingress. */
export class Api extends pulumi.ComponentResource {
    /** The API pods and their http, metrics and health ports. */
    readonly endpoints: WorkloadEndpoints;
    /** Name of the Deployment (the HPA's target). */
    readonly deploymentName: pulumi.Output<string>;
    /** The Deployment, for the autoscalers and the disruption budget. */
    readonly scaleTarget: ScaleTarget;
    /** Name of the Service. */
    readonly serviceName: pulumi.Output<string>;
    /** Public URL, when the Ingress is enabled. */
    readonly url?: string;

    constructor(name: string, args: ApiArgs, opts?: pulumi.ComponentResourceOptions) {
        super("healthcare:app:Api", name, {}, opts);
        const s = args.settings;
        checkArgs("Api", name, [
            args.replicas !== undefined && !(Number.isInteger(args.replicas) && args.replicas >= 1) && `replicas ${args.replicas} is not a positive whole number`,
            new Set([s.port, s.metricsPort, s.healthPort]).size !== 3 && `settings.port, metricsPort and healthPort must differ (${s.port}, ${s.metricsPort}, ${s.healthPort})`,
            args.ingress.enabled && !args.ingress.host && "ingress.host is empty while the API is published (ingress.enabled)",
            args.ingress.enabled && args.ingress.exposure === "gateway" && !args.gateway && "gateway is missing: the API is published through a Gateway (ingress.exposure gateway)",
        ]);

        const identity: WorkloadIdentity = { name: "healthcare-api", component: "api", instance: args.instance, version: s.image.tag ?? s.image.digest };
        const labels = standardLabels(identity);
        const podSelector = selectorLabels(identity);
        this.endpoints = {
            podSelector,
            serving: [tcp("http", s.port)],
            peer: [],
            metrics: [tcp("metrics", s.metricsPort)],
            health: [tcp("health", s.healthPort)],
        };
        const { serving, metrics, health } = this.endpoints;
        const n = names.api;
        const meta = (metadataName: string) => ({ name: metadataName, namespace: args.namespace, labels });
        const builtIn = builtInOptions(this, args.deletion);

        const serviceAccount = tokenlessServiceAccount(n.serviceAccount, meta(n.serviceAccount), builtIn);

        // The database's CA, where its engine serves TLS: the API verifies the server's name and certificate.
        const tls = args.database.tls;
        // The Redis nodes' CA (redisTls): the API verifies the fixed name in their certificate, since MOVED redirects name pod IPs.
        const cacheTls = args.cache.tls;
        const cas = [
            ...(tls ? [caCertificateMount("database-ca", tls.caSecretName, tls.caKey, databaseCaPath, databaseCaFile)] : []),
            ...(cacheTls ? [caCertificateMount("redis-ca", cacheTls.caSecretName, cacheTls.caKey, redisCaPath, redisCaFile)] : []),
        ];
        // Non-secret settings; credentials come from the Secrets below, never from here.
        const configData = pulumi.all([args.database.host, args.cache.seedNodes]).apply(([databaseHost, seedNodes]) => ({
            PORT: String(s.port),
            METRICS_PORT: String(s.metricsPort),
            HEALTH_PORT: String(s.healthPort),
            HEALTH_PATH: s.healthPath,
            READY_PATH: s.readyPath,
            DATABASE_HOST: databaseHost,
            DATABASE_PORT: String(args.database.port),
            DATABASE_NAME: args.database.database,
            DATABASE_POOL_MAX: String(s.databasePoolSize),
            ...(tls ? { DATABASE_SSL_MODE: "verify-full", DATABASE_SSL_ROOT_CERT: `${databaseCaPath}/${databaseCaFile}` } : {}),
            REDIS_CLUSTER_NODES: seedNodes.join(","),
            REDIS_USERNAME: args.cache.username,
            ...(cacheTls ? { REDIS_TLS_CA_FILE: `${redisCaPath}/${redisCaFile}`, REDIS_TLS_SERVERNAME: cacheTls.serverName } : {}),
        }));
        // Named for its content: a settings change rolls the pods in place (lib/configMap.ts).
        const configMap = contentNamedConfigMap(n.configMap, meta(n.configMap), configData, builtIn);

        const secretEnv = (envName: string, secretName: pulumi.Output<string>, key: string) => ({
            name: envName,
            valueFrom: { secretKeyRef: { name: secretName, key } },
        });
        // Probes use the health port: it answers even while the http port is busy or closed by policy.
        const httpGet = (probePath: string) => ({ httpGet: { path: probePath, port: health[0].name } });
        const spread = (topologyKey: string) => ({
            maxSkew: 1,
            topologyKey,
            // ScheduleAnyway: a single-node kind cluster or a one-zone cluster still runs every replica.
            whenUnsatisfiable: "ScheduleAnyway",
            labelSelector: { matchLabels: podSelector },
        });

        // The API's scratch space under its read-only root.
        const tmpVolume = { name: "tmp", emptyDir: { sizeLimit: "256Mi" } };
        const deployment = new k8s.apps.v1.Deployment(
            n.deployment,
            {
                metadata: meta(n.deployment),
                spec: {
                    // Unset under an HPA: a value here would fight the autoscaler on every update.
                    replicas: args.replicas,
                    selector: { matchLabels: podSelector },
                    // Zero-downtime: a new pod must be ready before an old one goes.
                    strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: "25%" } },
                    template: {
                        metadata: { labels },
                        spec: {
                            serviceAccountName: serviceAccount.metadata.name,
                            automountServiceAccountToken: false,
                            securityContext: restrictedPodSecurityContext(apiUid),
                            topologySpreadConstraints: [spread("kubernetes.io/hostname"), spread("topology.kubernetes.io/zone")],
                            containers: [
                                {
                                    name: n.container,
                                    image: s.image.ref,
                                    imagePullPolicy: s.image.pullPolicy,
                                    ports: [...serving, ...metrics, ...health].map((p) => ({ name: p.name, containerPort: p.port, protocol: p.protocol })),
                                    envFrom: [{ configMapRef: { name: configMap.metadata.name } }],
                                    env: [
                                        secretEnv("DATABASE_USER", args.database.secretName, "username"),
                                        secretEnv("DATABASE_PASSWORD", args.database.secretName, "password"),
                                        secretEnv("REDIS_PASSWORD", args.cache.secretName, args.cache.passwordKey),
                                    ],
                                    resources: withEphemeralStorage(s.resources, [tmpVolume]),
                                    securityContext: restrictedContainerSecurityContext(),
                                    // Up to two minutes to start before liveness applies.
                                    startupProbe: { ...httpGet(s.healthPath), periodSeconds: 5, failureThreshold: 24 },
                                    readinessProbe: { ...httpGet(s.readyPath), periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 3 },
                                    livenessProbe: { ...httpGet(s.healthPath), periodSeconds: 20, timeoutSeconds: 3, failureThreshold: 3 },
                                    volumeMounts: [{ name: "tmp", mountPath: "/tmp" }, ...cas.map((c) => c.mount)],
                                },
                            ],
                            volumes: [tmpVolume, ...cas.map((c) => c.volume)],
                        },
                    },
                },
            },
            builtIn,
        );

        // Not awaited: the provider's Service await (core/v1 Endpoints with no not-ready address, 10 s
        // after their last change; zero addresses pass) proves nothing the Deployment's await does not:
        // that one ends only when every replica of the new ReplicaSet is ready and the Deployment is
        // Available. What hangs on "the API answers" (the HTTPRoute, the Ingress) depends on the
        // Deployment instead (docs/capacity-and-benchmarks.md, "What each await proves").
        const service = new k8s.core.v1.Service(
            n.service,
            {
                metadata: { ...meta(n.service), annotations: { "pulumi.com/skipAwait": "true" } },
                spec: {
                    type: "ClusterIP",
                    selector: podSelector,
                    ports: [
                        { name: serving[0].name, port: apiServicePort, targetPort: serving[0].name, protocol: "TCP" },
                        ...[...metrics, ...health].map((p) => ({ name: p.name, port: p.port, targetPort: p.name, protocol: p.protocol })),
                    ],
                },
            },
            builtIn,
        );

        const ingress = args.ingress;
        if (ingress.enabled && ingress.exposure === "gateway") {
            const parent = args.gateway!;
            new k8s.apiextensions.CustomResource(
                n.httpRoute,
                {
                    apiVersion: "gateway.networking.k8s.io/v1",
                    kind: "HTTPRoute",
                    metadata: meta(n.httpRoute),
                    spec: {
                        parentRefs: [{ name: parent.name, namespace: parent.namespace, sectionName: parent.sectionName }],
                        hostnames: [ingress.host],
                        rules: [
                            {
                                matches: [{ path: { type: "PathPrefix", value: "/" } }],
                                backendRefs: [{ name: service.metadata.name, port: apiServicePort }],
                            },
                        ],
                    },
                },
                // Published once the API's pods are ready (the Deployment's await), as it was behind the Service's await.
                { ...customResourceOptions(this, args.deletion), dependsOn: [...(args.crdInstallers ?? []), deployment] },
            );
            this.url = `${ingress.tls.enabled ? "https" : "http"}://${ingress.host}`;
        } else if (ingress.enabled) {
            const annotations: Record<string, string> = {};
            if (ingress.tls.enabled && ingress.tls.clusterIssuer) {
                annotations["cert-manager.io/cluster-issuer"] = ingress.tls.clusterIssuer;
            }
            if (ingress.skipAwait) {
                // Without a controller that publishes an address, Pulumi would wait for one forever.
                annotations["pulumi.com/skipAwait"] = "true";
            }
            new k8s.networking.v1.Ingress(
                n.ingress,
                {
                    metadata: { ...meta(n.ingress), annotations },
                    spec: {
                        ingressClassName: ingress.className,
                        tls: ingress.tls.enabled ? [{ hosts: [ingress.host], secretName: ingress.tls.secretName }] : undefined,
                        rules: [
                            {
                                host: ingress.host,
                                http: {
                                    paths: [
                                        {
                                            path: "/",
                                            pathType: "Prefix",
                                            backend: { service: { name: service.metadata.name, port: { name: serving[0].name } } },
                                        },
                                    ],
                                },
                            },
                        ],
                    },
                },
                // Published once the API's pods are ready (the Deployment's await), as it was behind the Service's await.
                { ...builtIn, dependsOn: [deployment] },
            );
            this.url = `${ingress.tls.enabled ? "https" : "http"}://${ingress.host}`;
        }

        this.deploymentName = deployment.metadata.name;
        this.scaleTarget = { ...appsController("Deployment"), name: this.deploymentName, container: n.container, podSelector, replicas: s.replicas };
        this.serviceName = service.metadata.name;
        this.registerOutputs({ deploymentName: this.deploymentName, serviceName: this.serviceName, url: this.url });
    }
}
