import { ChildProcess } from "child_process";

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
