import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { dnsSubdomain } from "../config/reader";
import { checkArgs, customResourceOptions, NamespacedArgs } from "../lib/args";
import { standardLabels } from "../lib/labels";
import { names } from "../lib/names";

/** Args of a Gateway the stack creates for its API (gatewayClassName set; the local stack's). */
export interface GatewayArgs extends NamespacedArgs {
    /** The Gateway's metadata.name (gatewayName). */
    name: string;
    /** The GatewayClass whose implementation runs it (gatewayClassName). */
    className: string;
    /** The host its listeners serve (ingressHost). */
    host: string;
    /** Listener ports: http always, https when `tls` is set. */
    ports: { readonly http: number; readonly https: number };
    /** The https listener's certificate: the Secret, and the ClusterIssuer cert-manager fills it from (none: the Secret is provided); undefined: plain HTTP only. */
    tls?: { readonly secretName: string; readonly clusterIssuer?: string };
    /** What must exist first: the add-ons that bring the Gateway API CRDs and the GatewayClass. */
    crdInstallers?: pulumi.Resource[];
}

/**
 * A Gateway (gateway.networking.k8s.io/v1) in the stack's namespace: an `http` listener and, with TLS,
 * an `https` one that terminates TLS with the Secret `tls.secretName`. With a ClusterIssuer, the Gateway
 * carries cert-manager's `cert-manager.io/cluster-issuer` annotation: cert-manager's gateway-shim then
 * issues a Certificate for each HTTPS listener's hostname into the Secret its `certificateRefs` names
 * (cert-manager's Gateway API support must be on). The http listener stays for ACME HTTP-01 challenges
 * (cert-manager's solver HTTPRoute attaches to it) and, with TLS, answers everything else with a
 * redirect to HTTPS.
 */
export class Gateway extends pulumi.ComponentResource {
    /** The Gateway's metadata.name. */
    readonly gatewayName: string;
    /** The listener the API's route attaches to: https with TLS, else http. */
    readonly apiListener: string;

    constructor(name: string, args: GatewayArgs, opts?: pulumi.ComponentResourceOptions) {
        super("healthcare:traffic:Gateway", name, {}, opts);
        const port = (p: number) => Number.isInteger(p) && p >= 1 && p <= 65535;
        checkArgs("Gateway", name, [
            !dnsSubdomain.test(args.name) && `name "${args.name}" is not a Gateway name (DNS subdomain)`,
            !dnsSubdomain.test(args.className) && `className "${args.className}" is not a GatewayClass name (DNS subdomain)`,
            !dnsSubdomain.test(args.host) && `host "${args.host}" is not a host name`,
            !port(args.ports.http) && `ports.http ${args.ports.http} is not a port number`,
            args.tls !== undefined && !port(args.ports.https) && `ports.https ${args.ports.https} is not a port number`,
            args.tls !== undefined && args.ports.http === args.ports.https && `ports.http and ports.https are both ${args.ports.http}`,
            args.tls !== undefined && !dnsSubdomain.test(args.tls.secretName) && `tls.secretName "${args.tls.secretName}" is not a Secret name`,
        ]);
        const n = names.gateway;
        const labels = standardLabels({ name: args.name, component: "gateway", instance: args.instance });
        const childOptions = { ...customResourceOptions(this, args.deletion), dependsOn: args.crdInstallers ?? [] };
        // Routes of the stack's namespace only: nothing else may publish itself on this Gateway.
        const allowedRoutes = { namespaces: { from: "Same" } };
        const tls = args.tls;
        const gateway = new k8s.apiextensions.CustomResource(
            "gateway",
            {
                apiVersion: "gateway.networking.k8s.io/v1",
                kind: "Gateway",
                metadata: {
                    name: args.name,
                    namespace: args.namespace,
                    labels,
                    annotations: tls?.clusterIssuer ? { "cert-manager.io/cluster-issuer": tls.clusterIssuer } : undefined,
                },
                spec: {
                    gatewayClassName: args.className,
                    listeners: [
                        { name: n.httpListener, protocol: "HTTP", port: args.ports.http, hostname: args.host, allowedRoutes },
                        ...(tls
                            ? [
                                  {
                                      name: n.httpsListener,
                                      protocol: "HTTPS",
                                      port: args.ports.https,
                                      hostname: args.host,
                                      tls: { mode: "Terminate", certificateRefs: [{ kind: "Secret", name: tls.secretName }] },
                                      allowedRoutes,
                                  },
                              ]
                            : []),
                    ],
                },
            },
            childOptions,
        );
        if (tls) {
            // Plain HTTP gets a redirect; an ACME challenge's exact path is a longer match and still reaches its solver.
            new k8s.apiextensions.CustomResource(
                n.httpsRedirect,
                {
                    apiVersion: "gateway.networking.k8s.io/v1",
                    kind: "HTTPRoute",
                    metadata: { name: n.httpsRedirect, namespace: args.namespace, labels },
                    spec: {
                        parentRefs: [{ name: args.name, sectionName: n.httpListener }],
                        hostnames: [args.host],
                        rules: [{ filters: [{ type: "RequestRedirect", requestRedirect: { scheme: "https", port: args.ports.https, statusCode: 301 } }] }],
                    },
                },
                { ...customResourceOptions(this, args.deletion), dependsOn: [gateway] },
            );
        }
        this.gatewayName = args.name;
        this.apiListener = tls ? n.httpsListener : n.httpListener;
        this.registerOutputs({ gatewayName: this.gatewayName, apiListener: this.apiListener });
    }
}
