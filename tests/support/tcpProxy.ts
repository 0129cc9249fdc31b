import * as net from "net";

/**
 * A TCP proxy on loopback in front of a test's server, to take the server away and bring it back
 * without restarting it: while down, nothing listens on the proxy's port (connections are refused)
 * and the connections it had are cut.
 */
export interface TcpProxy {
    /** http://127.0.0.1:<port>: the address clients are given instead of the server's. */
    endpoint: string;
    /** Refuses connections and cuts the open ones. */
    down(): Promise<void>;
    /** Listens again on the same port and forwards to the server. */
    up(): Promise<void>;
    close(): Promise<void>;
}

export async function startTcpProxy(targetUrl: string): Promise<TcpProxy> {
    const target = new URL(targetUrl);
    const sockets = new Set<net.Socket>();
    let server: net.Server | undefined;
    let port = 0;
    const listen = () =>
        new Promise<void>((resolve, reject) => {
            const s = net.createServer((client) => {
                const upstream = net.connect(Number(target.port), target.hostname);
                for (const socket of [client, upstream]) {
                    sockets.add(socket);
                    socket.on("close", () => sockets.delete(socket));
                    socket.on("error", () => {
                        client.destroy();
                        upstream.destroy();
                    });
                }
                client.pipe(upstream).pipe(client);
            });
            s.once("error", reject);
            s.listen(port, "127.0.0.1", () => {
                port = (s.address() as net.AddressInfo).port;
                server = s;
                resolve();
            });
        });
    const down = () =>
        new Promise<void>((resolve) => {
            sockets.forEach((s) => s.destroy());
            if (!server) {
                return resolve();
            }
            server.close(() => resolve());
            server = undefined;
        });
    await listen();
    return { endpoint: `http://127.0.0.1:${port}`, down, up: () => (server ? Promise.resolve() : listen()), close: down };
}
