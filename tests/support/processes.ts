import { ChildProcess } from "child_process";
import * as net from "net";

/** Sends `signal` to a test's child process (unless it has already exited) and resolves once it has exited. */
export function stopProcess(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
    return new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) {
            return resolve();
        }
        child.once("exit", () => resolve());
        child.kill(signal);
    });
}

/** A TCP port on loopback that nothing listens on now (the OS picks it). */
export function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => {
            const port = (server.address() as net.AddressInfo).port;
            server.close(() => resolve(port));
        });
    });
}
