import { ConfigError, readConfig } from "./config";
import { log } from "./log";
import { startApi } from "./server";

async function main(): Promise<void> {
    let config;
    try {
        config = readConfig(process.env);
    } catch (error) {
        if (error instanceof ConfigError) {
            log("error", error.message);
            process.exit(2);
        }
        throw error;
    }
    const api = await startApi(config);
    // Kubernetes sends SIGTERM; readiness turns false, the pod keeps serving while the endpoints
    // drop it (DRAIN_MS), then the listeners close and the process ends.
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
        process.once(signal, () => {
            log("info", "shutting down", { signal });
            api.drain(config.drainMs).then(
                () => process.exit(0),
                (error: Error) => {
                    log("error", "shutdown failed", { error: error.message });
                    process.exit(1);
                },
            );
        });
    }
}

main().catch((error: Error) => {
    log("error", "start failed", { error: error.message });
    process.exit(1);
});
