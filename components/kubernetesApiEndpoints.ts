import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ExternalDestination } from "../config";
import { checkArgs } from "../lib/args";

/** Args of the read of the API server's addresses. */
export interface KubernetesApiEndpointsArgs {
    /** The `kubernetes` Service's EndpointSlice (`default/kubernetes`), which the API server keeps current. */
    endpointSlice: string;
}

/**
 * The API server's addresses and port, read from the cluster at deploy time (preview included): the
 * pods that run an operator's instance manager (CloudNativePG's) must reach the API server, and a
 * NetworkPolicy can only name addresses for it, not the `kubernetes` Service (policies see the
 * connection after the Service's address is translated). Reading them keeps the egress to exactly
 * these instead of opening all egress.
 */
export class KubernetesApiEndpoints extends pulumi.ComponentResource {
    /** One /32 (or /128) per API server address, on the port the API server listens on. */
    readonly destinations: pulumi.Output<ExternalDestination[]>;

    constructor(name: string, args: KubernetesApiEndpointsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("healthcare:platform:KubernetesApiEndpoints", name, {}, opts);
        checkArgs("KubernetesApiEndpoints", name, [!/^[a-z0-9-]+\/[a-z0-9.-]+$/.test(args.endpointSlice) && `endpointSlice "${args.endpointSlice}" is not <namespace>/<name>`]);
        const slice = k8s.discovery.v1.EndpointSlice.get("kubernetes-api-endpoints", args.endpointSlice, { parent: this });
        this.destinations = pulumi.all([slice.endpoints, slice.ports, slice.addressType]).apply(([endpoints, ports, addressType]) => apiServerDestinations(args.endpointSlice, addressType, endpoints ?? [], ports ?? []));
        this.registerOutputs({ destinations: this.destinations });
    }
}

/** The (address, port) pairs of an EndpointSlice; none is an error: a policy without them would cut the instances off. */
export function apiServerDestinations(
    slice: string,
    addressType: string,
    endpoints: readonly { addresses?: readonly string[] }[],
    ports: readonly { port?: number }[],
): ExternalDestination[] {
    const bits = addressType === "IPv6" ? 128 : 32;
    const addresses = [...new Set(endpoints.flatMap((e) => e.addresses ?? []))].sort();
    const numbers = [...new Set(ports.map((p) => p.port).filter((p): p is number => p !== undefined))].sort((a, b) => a - b);
    if (addresses.length === 0 || numbers.length === 0) {
        throw new pulumi.RunError(
            `EndpointSlice ${slice} lists no API server address and port (addresses: ${addresses.join(", ") || "none"}; ports: ${numbers.join(", ") || "none"}): ` +
                "the database pods' NetworkPolicy needs them to let the operator's instance manager reach the API server",
        );
    }
    return addresses.flatMap((address) => numbers.map((port) => ({ cidr: `${address}/${bits}`, port })));
}
