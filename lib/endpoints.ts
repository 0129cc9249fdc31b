/** What other components (network policies, monitoring) need to know about a workload's pods. */

/** A named container port. */
export interface NamedPort {
    /** The container port's name (Services and probes refer to it). */
    readonly name: string;
    /** The container port's number. */
    readonly port: number;
    /** Transport protocol. */
    readonly protocol: "TCP" | "UDP";
}

/** A workload's pods and the ports they open, by who may use them. */
export interface WorkloadEndpoints {
    /** Labels that select the workload's pods. */
    readonly podSelector: Readonly<Record<string, string>>;
    /** Ports clients connect to. */
    readonly serving: readonly NamedPort[];
    /** Ports the workload's own pods use among themselves (the Redis cluster bus). */
    readonly peer: readonly NamedPort[];
    /** Ports Prometheus scrapes. */
    readonly metrics: readonly NamedPort[];
    /** Ports open to any source for health checks. */
    readonly health: readonly NamedPort[];
}

/** A TCP port. */
export function tcp(name: string, port: number): NamedPort {
    return { name, port, protocol: "TCP" };
}
